"""The gap alert (docs/methods.md §8.6): the rule on made-up observations (levels, re-arming, closing, the
anchor, coupled again), its state through JSON, agreement with /gap on real data, opt-in delivery by the
engine (SQLite and PostgreSQL), replay, /preview and its wording."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from datetime import date

import pandas as pd
import pytest

from bot.alerts import gap_rule
from bot.alerts.engine import AlertEngine
from bot.alerts.kinds import ALERT_KINDS, DEFAULT_KINDS, kinds_for_word
from bot.alerts.preview import preview
from bot.alerts.replay import fold, observations, replay
from bot.alerts.rules import Observation, RuleParams, RuleState
from bot.analysis.gap import GapService
from bot.analysis.gap_results import GapResult
from bot.analytics.thresholds import DEFAULT_THRESHOLDS
from bot.assets import find_asset
from bot.config import load_settings
from bot.market import calendars
from bot.render.alert_text import alert_fields, alert_line, alert_text, preview_text
from bot.store import Store
from bot.windows import Window
from handlers.commands import dispatch
from handlers.registry import ChatContext
from tests.alerts.support import ETH_RUT_90D, add_chats

ETH_RUT = RuleParams("ETH", "RUT", 90)
GAP = frozenset({"gap"})


def _series(rhos: list[float], moves: list[float | None], beta: float = 1.0, n_year: int = 250,
            start: str = "2024-01-01") -> list[Observation]:
    """Observations with the asset flat (ln PA = 0) and the benchmark making the asset move that closes a gap
    anchored at ln PB = 0 equal to `moves` (beta 1: g = −ln PB, so exp(−g) − 1 = PB − 1)."""
    dates = pd.date_range(start, periods=len(rhos), freq="D")
    return [Observation(d, rho, rho, math.nan, 60, 0.0, math.log1p(m) if m is not None else 0.0, beta, n_year)
            for d, rho, m in zip(dates, rhos, moves, strict=True)]


# coupled from the start (a first regime: no change), then five days at 0.1 end it: the dwell starts on day 10,
# so the anchor is day 9; then the moves, then five days at 0.6 couple the pair again
MOVES = [0.10, 0.26, 0.30, 0.52, 0.44, 0.51, 0.20, 0.03, 0.15, 0.30, -0.10, -0.27, -0.55]
RHOS = [0.6] * 10 + [0.1] * 5 + [0.1] * len(MOVES) + [0.6] * 5 + [0.6] * 3
PATH = [0.0] * 15 + MOVES + [-0.55] * 5 + [0.0] * 3


def _gap_events(obs: list[Observation], params: RuleParams = ETH_RUT) -> list[tuple]:
    _, events = fold(params, obs, kinds=GAP)
    first = obs[0].date
    return [((e.as_of - first).days, e.detail["event"], e.detail.get("level"), round(e.value, 2)) for e in events]


def test_levels_fire_once_rearm_five_points_back_after_twenty_observations_and_a_closed_gap_fires_once(
        monkeypatch):
    obs = _series(RHOS, PATH)
    assert _gap_events(obs) == [
        (16, "crossed", 0.25, 0.26),
        (18, "crossed", 0.5, 0.52),
        # day 20: 0.51, but +50% fired 2 observations ago (0.44 on day 19 was back inside it): spacing
        (22, "closed", None, 0.03),  # a gap of at least 25% back within 5%
        # day 24: 0.30, but +25% fired 8 observations ago: spacing
        (26, "crossed", -0.25, -0.27),
        (27, "crossed", -0.5, -0.55),
    ]  # and nothing once the pair is coupled again (day 32), even when the gap closes (days 33-35)
    _, events = fold(ETH_RUT, obs, kinds=GAP)
    assert {e.detail["anchor"] for e in events} == {"2024-01-10"}  # day 9, the session before the dwell
    closed = next(e for e in events if e.detail["event"] == "closed")
    assert closed.detail["peak"] == pytest.approx(0.52)
    assert all(e.since == pd.Timestamp("2024-01-10") for e in events)
    # without the spacing (GAP_SPACING_OBS = 0) a level re-arms on the move alone, as before §8.6's spacing rule
    monkeypatch.setattr(gap_rule, "GAP_SPACING_OBS", 0)
    assert [e[0] for e in _gap_events(obs)] == [16, 18, 20, 22, 24, 26, 27]


def test_a_level_fires_again_twenty_observations_after_it_fired():
    # the watch starts on day 14 (its 1st observation); +25% fires on day 15 (the 2nd); the move is back inside
    # from day 16 on, but the level re-arms only on day 35 (the 22nd observation, 20 after it fired)
    for back, fires_again in ((20, [36]), (19, [])):
        moves = [0.30] + [0.10] * back + [0.30] * 3
        rhos = [0.6] * 10 + [0.1] * 5 + [0.1] * len(moves)
        events = _gap_events(_series(rhos, [0.0] * 15 + moves))
        assert [day for day, event, _, _ in events] == [15, *fires_again], back


def test_an_anchor_older_than_a_year_ends_the_watch():
    # the gap opens on day 15 and stays open: the +25% alert, then, a year after the anchor (day 9), nothing more
    # even when the move passes +50%
    days = 400
    rhos = [0.6] * 10 + [0.1] * (days - 10)
    moves = [0.0] * 15 + [0.3] * 300 + [0.7] * (days - 315)
    assert _gap_events(_series(rhos, moves)) == [(15, "crossed", 0.25, 0.3), (315, "crossed", 0.5, 0.7)]
    moves = [0.0] * 15 + [0.3] * 360 + [0.7] * (days - 375)  # day 375 is 366 days after the anchor
    assert _gap_events(_series(rhos, moves)) == [(15, "crossed", 0.25, 0.3)]


def test_passing_both_levels_at_once_is_one_alert_and_no_gap_is_watched_while_coupled():
    rhos = [0.6] * 10 + [0.1] * 5 + [0.1] * 3
    assert _gap_events(_series(rhos, [0.0] * 15 + [0.6, 0.5, 0.7])) == [(15, "crossed", 0.5, 0.6)]
    # coupled throughout: the same prices fire nothing
    assert _gap_events(_series([0.6] * 18, [0.0] * 15 + [0.6, 0.5, 0.7])) == []


def test_a_dwell_of_one_anchors_on_the_observation_before_the_change():
    params = RuleParams("ETH", "RUT", 90, DEFAULT_THRESHOLDS.with_values(dwell=1))
    obs = _series([0.6, 0.6, 0.6, 0.1, 0.1], [0.0, 0.0, 0.1, 0.5, 0.5])
    # anchored on day 2 (benchmark +10% there): day 3's benchmark is 1.5/1.1 of it
    assert _gap_events(obs, params) == [(3, "crossed", 0.25, round(1.5 / 1.1 - 1, 2))]
    _, (event,) = fold(params, obs, kinds=GAP)
    assert event.detail["anchor"] == "2024-01-03"


def test_no_gap_without_a_year_of_returns_for_the_beta():
    assert _gap_events(_series(RHOS, PATH, n_year=59)) == []


def test_the_state_survives_json_mid_gap_and_resumes_identically():
    obs = _series(RHOS, PATH)
    whole_state, whole = fold(ETH_RUT, obs, kinds=GAP)
    for cut in (9, 12, 19, 23, 30):
        mid, first = fold(ETH_RUT, obs[:cut], kinds=GAP)
        restored = RuleState.from_json(mid.to_json())
        assert restored == mid
        end, rest = fold(ETH_RUT, obs, restored, kinds=GAP)
        assert first + rest == whole and end == whole_state


def test_gap_is_an_opt_in_kind_and_is_worded():
    assert "gap" in ALERT_KINDS and "gap" not in DEFAULT_KINDS and not ALERT_KINDS["gap"].default
    assert kinds_for_word("gap") == GAP == kinds_for_word("gaps")
    assert kinds_for_word("all") == DEFAULT_KINDS  # "all" stays the default kinds


# ---- on the bundled snapshot ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gap_events(snapshot_analyzer):
    return {pair: replay(snapshot_analyzer, RuleParams(*pair, 90), kinds=GAP)
            for pair in (("ETH", "RUT"), ("ETH", "QQQ"), ("BTC", "SPY"))}


def test_replay_lists_the_gap_only_when_asked(snapshot_analyzer, gap_events):
    default = replay(snapshot_analyzer, ETH_RUT)
    assert default and all(e.kind != "gap" for e in default)
    assert [(f"{e.as_of:%Y-%m-%d}", e.detail["event"], e.detail.get("level")) for e in gap_events[("ETH", "RUT")]] \
        == [("2023-06-15", "crossed", 0.25), ("2023-06-23", "closed", None), ("2023-08-22", "crossed", 0.25),
            ("2023-10-23", "closed", None), ("2024-02-26", "crossed", -0.25)]
    # docs/methods.md §8.6: the anchor of 2023-03-23 expires after 2024-03-22, so −25% on 2024-05-20 and the
    # close on 2024-08-05 are no longer alerts


PAIRS = [(a, b) for a in ("ETH", "BTC") for b in ("RUT", "IWM", "SPY", "QQQ")]


def test_the_replay_counts_of_methods_8_6(snapshot_analyzer, monkeypatch):
    def counts() -> list[int]:
        return [len(replay(snapshot_analyzer, RuleParams(a, b, 90), kinds=GAP)) for a, b in PAIRS]

    assert counts() == [5, 4, 7, 9, 2, 2, 3, 6]  # 38: spacing 20 and expiry 365
    monkeypatch.setattr(gap_rule, "GAP_SPACING_OBS", 0)
    monkeypatch.setattr(gap_rule, "GAP_ANCHOR_DAYS", 10**6)
    assert counts() == [7, 7, 12, 12, 3, 3, 4, 14]  # 62: the rule before both


def test_every_gap_alert_is_what_gap_says_that_day(snapshot_analyzer, gap_events):
    service = GapService(snapshot_analyzer)
    window = Window(90)
    for (a, b), events in gap_events.items():
        assert events, (a, b)
        asset, benchmark = find_asset(a), find_asset(b)
        sessions = snapshot_analyzer.pair(asset, benchmark).returns.index
        for event in events:
            when = event.as_of.date()
            # the anchor is /gap's default anchor that day, and the move to close is /gap's
            default = service.gap(asset, benchmark, window, None, when)
            assert isinstance(default, GapResult) and f"{default.anchor:%Y-%m-%d}" == event.detail["anchor"]
            given = service.gap(asset, benchmark, window, default.anchor.date(), when)
            assert isinstance(given, GapResult)
            assert event.value == pytest.approx(given.asset_move, abs=1e-9)
            assert event.detail["beta"] == pytest.approx(given.beta, abs=1e-9)
            assert event.detail["gap_log"] == pytest.approx(given.gap, abs=1e-9)
            # the benchmark move is offered or withheld as /gap offers or withholds it
            if given.benchmark_move is None:
                assert event.detail["benchmark_move"] is None and given.benchmark_move_withheld_reason is not None
            else:
                assert event.detail["benchmark_move"] == pytest.approx(given.benchmark_move, abs=1e-9)
            before = sessions[sessions.get_loc(event.as_of) - 1].date()
            if event.detail["event"] == "crossed" and before > default.anchor.date():
                level = event.detail["level"]
                then = service.gap(asset, benchmark, window, default.anchor.date(), before)
                assert isinstance(then, GapResult)
                assert math.copysign(1, level) * then.asset_move < abs(level)  # it crossed on the day
            else:
                assert abs(event.value) <= 0.05 or event.detail["event"] == "crossed"


def test_preview_shows_the_gap_to_a_chat_that_wants_it(snapshot_analyzer):
    result = preview(snapshot_analyzer, [(ETH_RUT_90D, frozenset({"gap", "regime"}))], until=pd.Timestamp("2024-12-31"))
    (section,) = result.sections
    kinds = [e.kind for e in section.events]
    assert "gap" in kinds and "regime" in kinds and "divergence" not in kinds
    text = preview_text([(section.params, section.events)], result.start, result.end)
    assert "gap 5" in text and "regime" in text
    without = preview(snapshot_analyzer, [(ETH_RUT_90D, DEFAULT_KINDS)], until=pd.Timestamp("2024-12-31"))
    assert all(e.kind != "gap" for e in without.sections[0].events)


def test_wording(gap_events):
    crossed, closed = gap_events[("ETH", "RUT")][:2]
    text = alert_text(crossed, ETH_RUT).splitlines()
    assert text[0] == ("🔔 ETH is 21% below where its beta of 1.56 to small caps puts it: closing the gap now takes "
                       "ETH +26% (past +25%).")
    assert text[1] == ("Beta fitted on the year to 2023-03-23, the session before the 90-day coupled regime began to "
                       "end. RUT alone would close it at −14%. More: /gap ETH RUT since 2023-03-23")
    assert text[2] == "ETH vs RUT · 90d window · as of 2023-06-15"
    assert alert_text(closed, ETH_RUT).startswith(
        "🔔 ETH is back on its beta line to small caps: the gap that took a +26% move of ETH to close is within 5% "
        "(+4.7% left).")
    assert alert_line(closed, ETH_RUT) == "2023-06-23 · ETH:RUT 90d · gap closed (was +26% to close)"
    fields = alert_fields(crossed, ETH_RUT)
    assert {"kind": "gap", "pair": "ETH:RUT", "event": "crossed", "level": 0.25, "anchor": "2023-03-23"}.items() \
        <= fields.items()
    assert fields["value"] == pytest.approx(0.26284, abs=1e-5)


# ---- the engine ------------------------------------------------------------------------------------------------
async def test_the_engine_writes_gap_alerts_only_for_instances_a_subscription_wants_them_of(
        store: Store, snapshot_analyzer):
    chats = await add_chats(store, 2)
    engine = AlertEngine(store, snapshot_analyzer)
    await engine.run(until=date(2023, 6, 14))
    assert all(a.kind != "gap" for a in await engine.repo.alerts())
    await store.set_kinds(chats[1], "ETH", "RUT", ["regime", "gap"])
    report = await engine.run(until=date(2023, 6, 15))
    assert report.fired == {"gap": 1}
    (alert,) = [a for a in await engine.repo.alerts() if a.kind == "gap"]
    assert alert.as_of == date(2023, 6, 15) and alert.payload["detail"]["anchor"] == "2023-03-23"
    deliveries = [d for d in await engine.repo.deliveries() if d["alert_id"] == alert.id]
    assert [(d["chat_pk"], d["status"]) for d in deliveries] == [(chats[1].id, "pending")]


async def test_the_engine_day_by_day_fires_the_gap_alerts_the_replay_lists(store: Store, snapshot_analyzer):
    (chat,) = await add_chats(store, 1)
    await store.set_kinds(chat, "ETH", "RUT", ["gap"])
    engine = AlertEngine(store, snapshot_analyzer)
    start, end = pd.Timestamp("2023-06-01"), pd.Timestamp("2023-06-30")
    await engine.run(until=date(2023, 5, 31))
    for session in calendars.session_closes("XNYS").loc[start:end].index:
        report = await engine.run(until=session.date())
        assert report.evaluated == 1
    stored = [(a.as_of, a.payload["detail"]["event"]) for a in await engine.repo.alerts(since=start.date())
              if a.kind == "gap"]
    listed = [(e.as_of.date(), e.detail["event"]) for e in replay(snapshot_analyzer, ETH_RUT, start, end, GAP)]
    assert stored == listed == [(date(2023, 6, 15), "crossed"), (date(2023, 6, 23), "closed")]
    (instance,) = await engine.repo.instances()
    state, _ = fold(ETH_RUT, observations(snapshot_analyzer, ETH_RUT, until=end))
    assert RuleState.from_json(instance.state) == state


def test_the_cli_replays_the_gap_alerts_with_kinds(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(MARKET_DATA="snapshot", DATABASE_URL=f"sqlite:///{tmp_path}/d.sqlite3", LOG_LEVEL="WARNING")
    command = [sys.executable, "-m", "bot", "alerts", "--pair", "ETH:RUT", "--kinds", "gap", "--from", "2023-01-01",
               "--to", "2024-12-31", "--json"]
    out = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    rows = [json.loads(line) for line in out.stdout.splitlines()]
    # docs/methods.md §8.6, with the spacing and the anchor's expiry
    assert [(r["as_of"], r["event"], r["level"]) for r in rows] == [
        ("2023-06-15", "crossed", 0.25), ("2023-06-23", "closed", None), ("2023-08-22", "crossed", 0.25),
        ("2023-10-23", "closed", None), ("2024-02-26", "crossed", -0.25)]
    assert {r["kind"] for r in rows} == {"gap"} and {r["anchor"] for r in rows} == {"2023-03-23"}
    both = subprocess.run([*command[:7], "regime,gap", *command[8:]], capture_output=True, text=True, cwd=tmp_path,
                          env=env, timeout=120)
    kinds = {json.loads(line)["kind"] for line in both.stdout.splitlines()}
    assert both.returncode == 0 and kinds == {"regime", "gap"}
    bad = subprocess.run([*command[:7], "gapp"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert bad.returncode != 0 and "unknown kind 'gapp' (did you mean gap?)" in bad.stderr
    assert "Traceback" not in bad.stderr


async def test_subscribe_and_preview_in_a_chat(tmp_path):
    from bot.app import App

    app = App(load_settings(database_url=f"sqlite:///{tmp_path / 'gap.sqlite3'}", market_data="snapshot"))
    chat = ChatContext(platform="telegram", chat_id="5", chat_kind="private")
    try:
        subscribed = await dispatch(app.services, "/subscribe ETH RUT gap", chat)
        assert subscribed.ok and "gap" in subscribed.text
        shown = await dispatch(app.services, "/preview", chat)
        assert shown.ok and "ETH:RUT 90d:" in shown.text and "(gap " in shown.text
        # the JSON lists every event, not only the counts
        events = shown.data["events"]
        assert len(events) == shown.data["pairs"]["ETH:RUT"] >= 1
        assert {e["kind"] for e in events} == {"gap"} and all(e["pair"] == "ETH:RUT" for e in events)
        assert [e["as_of"] for e in events] == sorted(e["as_of"] for e in events)
        # more events than the text's latest three, every one listed
        other = await dispatch(app.services, "/preview BTC SPY", chat)
        assert other.ok and len(other.data["events"]) == other.data["pairs"]["BTC:SPY"] > 3
        assert all(e["text"] and e["as_of"] >= other.data["from"] for e in other.data["events"])
    finally:
        await app.close()
