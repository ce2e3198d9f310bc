"""The gap alert's line of base rate (docs/methods.md §10.4): how past gaps of the alert's size ended, pooled
across the universe, as known on the alert's date (the numbers are put in the alert's detail by
bot/alerts/gap_base_rate.py, so a stored alert reads the same later)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from bot.alerts.rules import AlertEvent, RuleParams
from bot.render.text import num


def _share(estimate: Any, withheld: Any) -> str:
    if not isinstance(estimate, dict) or estimate.get("estimate") is None:
        return f"not estimated ({withheld or 'no interval'})"
    return (f"{100 * estimate['estimate']:.0f}% (95% {100 * estimate['lower']:.0f}–"
            f"{100 * estimate['upper']:.0f}%)")


def base_rate_line(detail: dict[str, Any]) -> str | None:
    """'Base rate (known on 2025-08-20, pooled across the universe's 8 pairs, whose episodes are not independent):
    of 7 past gaps this size (|gap_z| ≥ 1.50), 5 closed within 120 sessions; Kaplan–Meier 71% (95% 39–96%).'
    None when the alert has none (fewer than 5 comparable episodes, or a closing)."""
    rate = detail.get("base_rate")
    if not isinstance(rate, dict):
        return None
    return (f"Base rate (known on {rate.get('as_of')}, pooled across the universe's {rate.get('pairs')} pairs, whose "
            f"episodes are not independent): of {rate.get('n')} past gaps this size (|gap_z| ≥ "
            f"{num(rate.get('level'))}), {rate.get('closed_seen_120')} closed within 120 sessions; Kaplan–Meier "
            f"{_share(rate.get('closed_within_120'), rate.get('withheld_reason'))}.")


def with_base_rate(detail: Callable[[AlertEvent, RuleParams], str]) -> Callable[[AlertEvent, RuleParams], str]:
    """A gap alert's detail, with the base-rate line after it when the alert has one."""

    def worded(event: AlertEvent, params: RuleParams) -> str:
        line = base_rate_line(event.detail)
        return detail(event, params) if line is None else f"{detail(event, params)}\n{line}"

    return worded


def with_base_rate_fields(fields: Callable[[AlertEvent], dict[str, Any]]) -> Callable[[AlertEvent], dict[str, Any]]:
    def with_rate(event: AlertEvent) -> dict[str, Any]:
        return {**fields(event), "base_rate": event.detail.get("base_rate")}

    return with_rate
