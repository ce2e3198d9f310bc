"""What a chat may set: thresholds, quiet hours and time zones, checked without a database."""

from __future__ import annotations

from datetime import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.analytics.thresholds import Thresholds
from bot.store.preferences import (
    THRESHOLD_DEFAULTS,
    QuietHours,
    SettingError,
    check_thresholds,
    dump_thresholds,
    effective_thresholds,
    load_thresholds,
    parse_quiet_hours,
    parse_threshold_value,
    resolve_timezone,
    threshold_name,
)

# ---------------------------------------------------------------- thresholds


def test_defaults_follow_the_analytics_dataclass() -> None:
    assert {name: getattr(Thresholds(), name) for name in Thresholds.names()} == THRESHOLD_DEFAULTS
    assert check_thresholds({}) == {}
    assert check_thresholds(THRESHOLD_DEFAULTS) == {}, "values equal to the defaults are not overrides"


def test_canonical_form_is_sorted_rounded_and_typed() -> None:
    canonical = check_thresholds({"z_enter": 3, "dwell": 3.0, "coupled_enter": 0.60000001})
    assert canonical == {"coupled_enter": 0.6, "dwell": 3, "z_enter": 3.0}
    assert isinstance(canonical["dwell"], int) and isinstance(canonical["z_enter"], float)
    assert dump_thresholds(canonical) == '{"coupled_enter":0.6,"dwell":3,"z_enter":3.0}'
    assert load_thresholds(dump_thresholds(canonical)) == canonical
    assert effective_thresholds(canonical).dwell == 3


@pytest.mark.parametrize(
    ("overrides", "complaint"),
    [
        ({"coupled_exit": 0.6}, "coupled_exit (0.6) must be below coupled_enter (0.5)"),
        ({"coupled_enter": 0.38}, "coupled_exit (0.4) must be below coupled_enter (0.38)"),
        ({"decoupled_exit": 0.45}, "decoupled_exit (0.45) must be below coupled_exit (0.4)"),
        ({"decoupled_enter": 0.36}, "decoupled_enter (0.36) must be below decoupled_exit (0.35)"),
        ({"inverse_exit": 0.25}, "inverse_exit (0.25) must be below decoupled_enter (0.2)"),
        ({"inverse_enter": -0.1}, "inverse_enter (-0.1) must be below inverse_exit (-0.2)"),
        ({"z_rearm": 2.5}, "z_rearm (2.5) must be below z_enter (2.5)"),
        ({"coupled_enter": 1.2}, "between -0.95 and 0.95"),
        ({"dwell": 0}, "dwell must be between 1 and 30"),
        ({"dwell": 31}, "between 1 and 30"),
        ({"dwell": 2.5}, "whole number"),
        ({"horizon": 2}, "between 5 and 60"),
        ({"min_history_days": 10}, "between 180 and 3650"),
        ({"z_enter": 0.5}, "between 1 and 6"),
        ({"z_enter": float("nan")}, "finite"),
        ({"sharpness": 1}, "not a threshold"),
    ],
)
def test_bad_thresholds_are_refused_with_a_reason(overrides: dict, complaint: str) -> None:
    with pytest.raises(SettingError, match=complaint.replace("(", r"\(").replace(")", r"\)")):
        check_thresholds(overrides)


def test_a_consistent_set_of_changes_is_accepted_together() -> None:
    # Raising the whole coupled band is only valid when both levels move.
    assert check_thresholds({"coupled_enter": 0.7, "coupled_exit": 0.6}) == {"coupled_enter": 0.7, "coupled_exit": 0.6}


def test_threshold_names_are_forgiving_and_suggest() -> None:
    assert threshold_name("Z-Enter") == "z_enter"
    with pytest.raises(SettingError, match="Did you mean dwell"):
        threshold_name("dwel")
    with pytest.raises(SettingError, match="Known: coupled_enter"):
        threshold_name("x" * 4000)


@pytest.mark.parametrize(
    ("name", "text", "value"),
    [("dwell", "3", 3), ("z_enter", "3", 3.0), ("inverse_enter", "−0.4", -0.4), ("dwell", "default", 5),
     ("coupled_enter", " 0.55 ", 0.55)],
)
def test_threshold_values_parse(name: str, text: str, value: float) -> None:
    assert parse_threshold_value(name, text) == value


@pytest.mark.parametrize(("name", "text"), [("dwell", "3.5"), ("dwell", ""), ("z_enter", "high"), ("z_enter", "inf"),
                                            ("coupled_enter", "nan"), ("horizon", "9" * 4000)])
def test_bad_threshold_values(name: str, text: str) -> None:
    with pytest.raises(SettingError) as raised:
        parse_threshold_value(name, text)
    assert len(str(raised.value)) < 200


# ---------------------------------------------------------------- quiet hours


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [("22:00-07:00", time(22), time(7)), ("22-7", time(22), time(7)), ("9:30 – 17:45", time(9, 30), time(17, 45)),
     ("23:59-00:00", time(23, 59), time(0)), ("01:00 to 05:00", time(1), time(5))],
)
def test_quiet_hours_parse(text: str, start: time, end: time) -> None:
    assert parse_quiet_hours(text) == QuietHours(start, end)


@pytest.mark.parametrize("text", ["off", "OFF", " none "])
def test_quiet_hours_off(text: str) -> None:
    assert parse_quiet_hours(text) is None


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("22:00-22:00", "different times"), ("7-7", "different times"), ("24:00-07:00", "not a time of day"),
     ("22:60-07:00", "not a time of day"), ("22:00", "not a time span"), ("late", "not a time span"),
     ("22:00-07:00-08:00", "not a time span"), ("x" * 4000, "not a time span")],
)
def test_bad_quiet_hours(text: str, complaint: str) -> None:
    with pytest.raises(SettingError, match=complaint) as raised:
        parse_quiet_hours(text)
    assert len(str(raised.value)) < 120


def test_quiet_hours_may_wrap_midnight() -> None:
    night = QuietHours(time(22), time(7))
    assert night.contains(time(23, 30)) and night.contains(time(0)) and night.contains(time(6, 59))
    assert not night.contains(time(7)) and not night.contains(time(12)) and not night.contains(time(21, 59))
    lunch = QuietHours(time(12), time(13))
    assert lunch.contains(time(12, 30)) and not lunch.contains(time(13)) and not lunch.contains(time(11))
    assert night.label == "22:00–07:00"


# ---------------------------------------------------------------- time zones


@pytest.mark.parametrize(
    ("text", "zone"),
    [("Europe/Berlin", "Europe/Berlin"), ("europe/berlin", "Europe/Berlin"), ("UTC", "UTC"), ("utc", "UTC"),
     ("Berlin", "Europe/Berlin"), ("new york", "America/New_York"), ("America/New_York", "America/New_York")],
)
def test_time_zones_resolve(text: str, zone: str) -> None:
    assert resolve_timezone(text) == zone


@pytest.mark.parametrize(
    ("text", "complaint"),
    [("Europe/Berln", "Did you mean Europe/Berlin"), ("Amercia/New_York", "Did you mean America/New_York"),
     ("Tokio", "Did you mean Asia/Tokyo"), ("UTC+2", "fixed offset"), ("+05:30", "fixed offset"),
     ("Mars/Olympus", "not a time zone"), ("", "Name a time zone"), ("z" * 4000, "not a time zone")],
)
def test_bad_time_zones_get_a_hint(text: str, complaint: str) -> None:
    with pytest.raises(SettingError, match=complaint) as raised:
        resolve_timezone(text)
    assert len(str(raised.value)) < 200


@given(st.text(max_size=300))
def test_any_text_gives_a_value_or_a_setting_error(text: str) -> None:
    for parse in (parse_quiet_hours, resolve_timezone, threshold_name):
        try:
            parse(text)
        except SettingError as exc:
            assert "\n" not in str(exc)
