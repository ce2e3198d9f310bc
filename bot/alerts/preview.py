"""/preview: what a chat's own alert settings would have fired over the last two years (a replay)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd

from bot.alerts.payload import params_of
from bot.alerts.replay import AssetResolver, fold, pair_observations, resolve_pair
from bot.alerts.rules import AlertEvent, RuleParams
from bot.assets import find_asset
from bot.store.alert_records import InstanceKey

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer

PREVIEW_DAYS = 730


@dataclass(frozen=True)
class PreviewSection:
    params: RuleParams
    events: list[AlertEvent]  # in date order, only the kinds the subscription wants


@dataclass(frozen=True)
class Preview:
    start: pd.Timestamp
    end: pd.Timestamp
    sections: list[PreviewSection]


def preview(
    analyzer: PairAnalyzer,
    wanted: list[tuple[InstanceKey, frozenset[str]]],
    *,
    until: pd.Timestamp | None = None,
    days: int = PREVIEW_DAYS,
    resolve: AssetResolver = find_asset,
) -> Preview:
    """Replay each (instance, kinds) over the whole data (warm-up) and keep the last `days` of alerts.
    Blocking: call it in a worker thread."""
    ends, sections = [], []
    for key, kinds in wanted:
        params = params_of(key)
        data = analyzer.pair(*resolve_pair(params, resolve))
        obs = pair_observations(data, params, until=until, z=analyzer.divergence(data, params.thresholds.horizon))
        if not obs:
            sections.append(PreviewSection(params, []))
            continue
        end = obs[-1].date
        ends.append(end)
        _, events = fold(params, obs, kinds=kinds)
        start = end - pd.Timedelta(days=days)
        sections.append(PreviewSection(params, [e for e in events if e.as_of > start and e.kind in kinds]))
    end = max(ends) if ends else pd.Timestamp(until or pd.Timestamp.now().normalize())
    return Preview(end - pd.Timedelta(days=days), end, sections)
