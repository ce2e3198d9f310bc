"""What a chat may set, and how its text is read: alert thresholds, quiet hours, time zone.

Every check raises `SettingError` with a one-line reason a chat user can act on. The store runs the same
checks before writing, so no caller can persist a value a command would have refused.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from itertools import pairwise
from zoneinfo import available_timezones

from bot.analytics.thresholds import DEFAULT_THRESHOLDS, Thresholds


class SettingError(ValueError):
    """A value a chat asked for cannot be used; the message is meant for the chat."""


# ---------------------------------------------------------------- thresholds

THRESHOLD_DEFAULTS: dict[str, float | int] = {name: getattr(DEFAULT_THRESHOLDS, name) for name in Thresholds.names()}
INTEGER_THRESHOLDS = frozenset(name for name, value in THRESHOLD_DEFAULTS.items() if isinstance(value, int))

# Correlation levels, lowest first: the regime rule needs them strictly increasing (hysteresis bands
# must not overlap or invert).
CORRELATION_ORDER = (
    "inverse_enter",
    "inverse_exit",
    "decoupled_enter",
    "decoupled_exit",
    "coupled_exit",
    "coupled_enter",
)
THRESHOLD_RANGES: dict[str, tuple[float, float]] = {
    **{name: (-0.95, 0.95) for name in CORRELATION_ORDER},
    "dwell": (1, 30),
    "z_enter": (1.0, 6.0),
    "z_rearm": (0.0, 5.0),
    "horizon": (5, 60),
    "min_history_days": (180, 3650),
}
_DECIMALS = 3


def threshold_name(text: str) -> str:
    """The threshold a user meant by `text` (any case, `-` for `_`), or SettingError with a suggestion."""
    name = text.strip().lower().replace("-", "_")
    if name in THRESHOLD_DEFAULTS:
        return name
    close = difflib.get_close_matches(name, list(THRESHOLD_DEFAULTS), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]}?" if close else f" Known: {', '.join(THRESHOLD_DEFAULTS)}."
    raise SettingError(f"'{short(text)}' is not a threshold.{hint}")


def parse_threshold_value(name: str, text: str) -> float | int:
    """Read one value; `default` means the default. Ranges are checked by `check_thresholds`."""
    raw = text.strip().replace("−", "-")
    if raw.lower() in {"default", "reset"}:
        return THRESHOLD_DEFAULTS[name]
    if name in INTEGER_THRESHOLDS:
        if not re.fullmatch(r"[+-]?\d{1,6}", raw):
            raise SettingError(f"Threshold {name} takes a whole number, not '{short(text)}'")
        return int(raw)
    try:
        value = float(raw)
    except ValueError:
        example = THRESHOLD_DEFAULTS[name]
        raise SettingError(f"Threshold {name} takes a number like {example}, not '{short(text)}'") from None
    if not math.isfinite(value):
        raise SettingError(f"Threshold {name} must be a finite number")
    return value


def check_thresholds(overrides: Mapping[str, float | int]) -> dict[str, float | int]:
    """Validate overrides against the ranges and each other; return them canonical.

    Canonical = known names only, integers as int, floats rounded to 3 decimals, values equal to the
    default dropped, keys sorted — so equal effective thresholds always serialise to the same text.
    """
    values = check_threshold_values(overrides)
    _check_consistency({**THRESHOLD_DEFAULTS, **values})
    return {name: value for name, value in values.items() if value != THRESHOLD_DEFAULTS[name]}


def check_threshold_values(values: Mapping[str, float | int]) -> dict[str, float | int]:
    """Names, types and ranges of a set of changes, one by one (consistency needs the merged result)."""
    checked: dict[str, float | int] = {}
    for name in sorted(values):
        if name not in THRESHOLD_DEFAULTS:
            raise SettingError(f"'{short(name)}' is not a threshold")
        value = values[name]
        if name in INTEGER_THRESHOLDS:
            if isinstance(value, bool) or not float(value).is_integer():
                raise SettingError(f"Threshold {name} takes a whole number")
            value = int(value)
        else:
            value = round(float(value), _DECIMALS)
            if not math.isfinite(value):
                raise SettingError(f"Threshold {name} must be a finite number")
        low, high = THRESHOLD_RANGES[name]
        if not low <= value <= high:
            raise SettingError(f"Threshold {name} must be between {_show(low)} and {_show(high)}, not {_show(value)}")
        checked[name] = value
    return checked


def _check_consistency(values: Mapping[str, float | int]) -> None:
    for lower, upper in pairwise(CORRELATION_ORDER):
        if not values[lower] < values[upper]:
            raise SettingError(
                f"Threshold {lower} ({_show(values[lower])}) must be below {upper} ({_show(values[upper])}): "
                f"the order is {' < '.join(CORRELATION_ORDER)}"
            )
    if not values["z_rearm"] < values["z_enter"]:
        raise SettingError(
            f"Threshold z_rearm ({_show(values['z_rearm'])}) must be below z_enter ({_show(values['z_enter'])})"
        )


def effective_thresholds(overrides: Mapping[str, float | int]) -> Thresholds:
    return Thresholds(**overrides)  # type: ignore[arg-type]  # names and kinds checked by parse_thresholds


def dump_thresholds(overrides: Mapping[str, float | int]) -> str:
    """The stored (and rule-instance key) form of already-canonical overrides."""
    return json.dumps(dict(overrides), sort_keys=True, separators=(",", ":"))


def load_thresholds(text: str | None) -> dict[str, float | int]:
    return dict(json.loads(text)) if text else {}


def _show(value: float | int) -> str:
    return f"{value:g}"


# ---------------------------------------------------------------- quiet hours


@dataclass(frozen=True)
class QuietHours:
    """A daily span in the chat's local time; it may wrap midnight (22:00-07:00)."""

    start: time
    end: time

    def contains(self, moment: time) -> bool:
        if self.start < self.end:
            return self.start <= moment < self.end
        return moment >= self.start or moment < self.end

    @property
    def label(self) -> str:
        return f"{self.start:%H:%M}–{self.end:%H:%M}"


_CLOCK = r"(\d{1,2})(?::(\d{2}))?"
_SPAN = re.compile(rf"^{_CLOCK}\s*(?:-|–|—|to)\s*{_CLOCK}$", re.IGNORECASE)
QUIET_OFF_WORDS = frozenset({"off", "none", "no", "disable", "disabled"})


def parse_quiet_hours(text: str) -> QuietHours | None:
    """`22:00-07:00` (or `22-7`) -> QuietHours; `off` -> None."""
    raw = text.strip()
    if raw.lower() in QUIET_OFF_WORDS:
        return None
    match = _SPAN.match(raw)
    if not match:
        raise SettingError(f"'{short(raw)}' is not a time span like 22:00-07:00")
    start = _clock(match.group(1), match.group(2))
    end = _clock(match.group(3), match.group(4))
    return check_quiet_hours(start, end)


def check_quiet_hours(start: time, end: time) -> QuietHours:
    if start == end:
        raise SettingError("Quiet hours must start and end at different times")
    return QuietHours(start, end)


def _clock(hours: str, minutes: str | None) -> time:
    hour, minute = int(hours), int(minutes or 0)
    if hour > 23 or minute > 59:
        raise SettingError(f"'{hours}:{minutes or '00'}' is not a time of day (00:00 to 23:59)")
    return time(hour, minute)


# ---------------------------------------------------------------- time zones

_OFFSET = re.compile(r"^(?:utc|gmt)?\s*[+-]\s*\d{1,2}(?::?\d{2})?$", re.IGNORECASE)


@lru_cache(maxsize=1)
def _zones() -> dict[str, str]:
    """Every IANA key by its lower-case spelling (`utc` -> `UTC`)."""
    return {key.lower(): key for key in available_timezones()}


@lru_cache(maxsize=1)
def _cities() -> dict[str, list[str]]:
    """IANA keys by their last part in lower case (`berlin` -> [`Europe/Berlin`])."""
    cities: dict[str, list[str]] = {}
    for key in sorted(available_timezones()):
        if "/" in key and not key.startswith("Etc/"):
            cities.setdefault(key.rsplit("/", 1)[-1].lower(), []).append(key)
    return cities


def resolve_timezone(text: str) -> str:
    """The IANA name a user meant: exact (any case), or a unique city (`Berlin`); else SettingError."""
    raw = text.strip()
    if not raw:
        raise SettingError("Name a time zone, e.g. Europe/Berlin or UTC")
    wanted = raw.lower().replace(" ", "_")[:64]
    if wanted in _zones():
        return _zones()[wanted]
    if _OFFSET.match(raw):  # before the city lookup: `GMT+2` would find Etc/GMT+2, which is UTC-2
        raise SettingError(
            f"'{short(raw)}' is a fixed offset, which ignores daylight saving: name a city instead, "
            "e.g. Europe/Berlin or America/New_York"
        )
    same_city = _cities().get(wanted, [])
    if len(same_city) == 1:
        return same_city[0]
    suggestions = same_city or _close_zones(wanted)
    hint = f" Did you mean {' or '.join(suggestions)}?" if suggestions else " Use a name like Europe/Berlin."
    raise SettingError(f"'{short(raw)}' is not a time zone I know.{hint}")


def _close_zones(wanted: str) -> list[str]:
    zones = _zones()
    close = difflib.get_close_matches(wanted, list(zones), n=1, cutoff=0.6)
    if close:
        return [zones[name] for name in close]
    cities = _cities()
    close = difflib.get_close_matches(wanted.rsplit("/", 1)[-1], list(cities), n=3, cutoff=0.7)
    return [key for city in close for key in cities[city]][:3]


def check_timezone(name: str) -> str:
    """`name` if it is an IANA key exactly as spelled; the store accepts nothing looser."""
    if _zones().get(name.lower()) != name:
        raise SettingError(f"'{short(name)}' is not an IANA time zone")
    return name


def short(text: str, limit: int = 24) -> str:
    """Echo user input safely: one line, at most `limit` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
