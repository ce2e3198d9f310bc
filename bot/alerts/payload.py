"""Alerts as stored: an `AlertEvent` to and from its JSON payload, a rule instance's key to and from params."""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import pandas as pd

from bot.alerts.rules import AlertEvent, FiredAlert, RuleParams
from bot.store.alert_records import InstanceKey, StoredAlert
from bot.store.preferences import dump_thresholds, effective_thresholds, load_thresholds


def _plain(value: Any) -> Any:
    """JSON-safe: NaN -> None, timestamps -> dates, numpy scalars -> Python numbers."""
    if isinstance(value, pd.Timestamp):
        return f"{value:%Y-%m-%d}"
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "item") and not isinstance(value, str):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def event_payload(event: AlertEvent) -> dict[str, Any]:
    return {
        "value": _plain(event.value),
        "from_regime": event.from_regime,
        "to_regime": event.to_regime,
        "since": _plain(event.since) if event.since is not None else None,
        "detail": _plain(event.detail),
    }


def event_from_payload(kind: str, as_of: date, payload: Mapping[str, Any]) -> AlertEvent:
    since = payload.get("since")
    value = payload.get("value")
    return AlertEvent(
        kind=kind,
        as_of=pd.Timestamp(as_of),
        value=math.nan if value is None else float(value),
        from_regime=payload.get("from_regime"),
        to_regime=payload.get("to_regime"),
        since=pd.Timestamp(since) if since else None,
        detail=dict(payload.get("detail") or {}),
    )


def instance_key(asset: str, benchmark: str, window_days: int, overrides: Mapping[str, float | int]) -> InstanceKey:
    return InstanceKey(asset, benchmark, window_days, dump_thresholds(overrides))


def params_of(key: InstanceKey) -> RuleParams:
    return RuleParams(key.asset, key.benchmark, key.window_days, effective_thresholds(load_thresholds(key.thresholds)))


def fired(alert: StoredAlert) -> FiredAlert:
    return FiredAlert(alert.id, event_from_payload(alert.kind, alert.as_of, alert.payload), params_of(alert.key))
