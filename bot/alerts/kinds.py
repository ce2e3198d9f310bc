"""The alert kinds: one registry that commands, the CLI, the engine and the wording all read.

A new kind is an entry here, its rule in bot/alerts/rules.py (the state machine that fires it) and its
wording in bot/render/alert_text.py (checked against this registry at import); the store keeps kinds as
names, so no schema change is needed (docs/architecture.md, "A new alert kind").
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass


@dataclass(frozen=True)
class AlertKindSpec:
    name: str  # stored in alerts.kind and in subscriptions.kinds
    summary: str  # what it tells, for /help and /subscribe
    words: tuple[str, ...] = ()  # other words people type for it
    default: bool = True  # part of "all", and of a subscription that names no kinds
    needs_pair: bool = True  # False: universe-wide (a subscription without a pair)


REGIME, DIVERGENCE, RECORD = "regime", "divergence", "record"
SCAN = "scan"  # universe-wide and opt-in: bot/alerts/scan_digest.py
GAP = "gap"  # opt-in: bot/alerts/gap_rule.py

ALERT_KINDS: dict[str, AlertKindSpec] = {
    spec.name: spec
    for spec in (
        AlertKindSpec(REGIME, "the correlation regime changes (coupled ↔ decoupled ↔ inverse)", ("regimes",)),
        AlertKindSpec(DIVERGENCE, "the asset strays from what its beta implies", ("divergences", "div")),
        AlertKindSpec(RECORD, "the correlation is at a record high or low", ("records",)),
        AlertKindSpec(SCAN, "once a week, the top 5 of /scan with the correlation matrix", ("weekly",),
                      default=False, needs_pair=False),
        AlertKindSpec(GAP, "the gap to the pre-decoupling beta line (/gap) passes 25% or 50%, or closes",
                      ("gaps",), default=False),
    )
}
DEFAULT_KINDS: frozenset[str] = frozenset(name for name, spec in ALERT_KINDS.items() if spec.default)
UNIVERSE_KINDS: frozenset[str] = frozenset(name for name, spec in ALERT_KINDS.items() if not spec.needs_pair)
ALL_WORDS = frozenset({"all", "everything"})


def kinds_for_word(word: str) -> frozenset[str] | None:
    """`regime`, `records`, `div`, `all` -> the kinds it names; None for any other word."""
    lowered = word.strip().lower()
    if lowered in ALL_WORDS:
        return DEFAULT_KINDS
    for spec in ALERT_KINDS.values():
        if lowered == spec.name or lowered in spec.words:
            return frozenset({spec.name})
    return None


def closest_kind(word: str) -> str | None:
    """The kind a misspelt word probably meant ('regim' -> 'regime')."""
    close = difflib.get_close_matches(word.lower(), list(ALERT_KINDS), n=1, cutoff=0.75)
    return close[0] if close else None


def universe_wide(kind: str) -> bool:
    """A kind of the whole universe (no pair); an unknown name is a pair's."""
    return kind in UNIVERSE_KINDS


def in_order(kinds: frozenset[str]) -> list[str]:
    """Kind names in registry order (how replies list them)."""
    return [name for name in ALERT_KINDS if name in kinds]
