"""/odds on the bundled snapshot (docs/methods.md §10): the reply's cases (coupled, nothing comparable, fewer
than 5 listed, an estimate with intervals, pooled), its JSON, the CLI, bad input, the chart; and the pure
functions (episode walk, Kaplan–Meier edges, Wilson) on small hand-made cases."""

from __future__ import annotations

import json
import math
import os
import re
import struct
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from bot.analytics import episodes as ep
from bot.ports.reply import Reply
from bot.ports.services import Services
from tests import helpers
from tests.independent import sync_close_prices


async def ask(services: Services, text: str, as_of: str | None = "2026-01-16", **kw) -> Reply:
    """tests.helpers.ask as of the snapshot's last day unless told otherwise (`services`: tests/conftest.py)."""
    return await helpers.ask(services, text, as_of, **kw)


def reference_gap_z(since: str, as_of: str) -> float:
    """g / (σ_ε·√n) for ETH:RUT, plain pandas: the beta's year to t0, residual SD with ddof 2."""
    px = np.log(sync_close_prices("ETH", "RUT"))
    t0 = px.index[px.index <= pd.Timestamp(since)][-1]
    end = px.index[px.index <= pd.Timestamp(as_of)][-1]
    rets = px.diff().dropna()
    year = rets[(rets.index > t0 - pd.Timedelta(days=365)) & (rets.index <= t0)]
    slope, intercept = np.polyfit(year["equity"], year["price"], 1)
    sd = math.sqrt(((year["price"] - intercept - slope * year["equity"]) ** 2).sum() / (len(year) - 2))
    g = (px.at[end, "price"] - px.at[t0, "price"]) - slope * (px.at[end, "equity"] - px.at[t0, "equity"])
    return g / (sd * math.sqrt(((px.index > t0) & (px.index <= end)).sum()))


# ---- the reply's cases ----------------------------------------------------------------------------------------
async def test_a_coupled_pair_without_a_date_says_so_in_one_line(services):
    reply = await ask(services, "/odds ETH RUT")
    assert reply.ok and len(reply.text.splitlines()) == 1
    assert reply.text.startswith("ETH and small caps are coupled since 2025-10-27")
    assert "no gap open" in reply.text and "/odds ETH RUT since 2025-07-18" in reply.text
    assert reply.data["coupled"] is True and reply.data["episodes"] == [] and reply.data["summary"] is None
    assert reply.buttons[0][0].command == "/odds ETH RUT since 2025-07-18"


async def test_a_coupled_pair_after_the_data_says_the_data_is_stale_first(services):
    reply = await ask(services, "/odds ETH RUT", as_of="2026-03-02")
    first, second = reply.text.splitlines()
    assert first == "The bundled data ends on 2026-01-16: numbers below are as of that day, not 2026-03-02."
    assert second.startswith("ETH and small caps are coupled since 2025-10-27") and reply.data["stale"] is True


async def test_no_comparable_episode_is_said_in_one_line(services):
    reply = await ask(services, "/odds ETH RUT since 2025-07-25")
    assert reply.ok and len(reply.text.splitlines()) == 1
    assert reply.text == ("ETH is 31% below its beta line to the Russell 2000 since 2025-07-25, −0.85σ: under the "
                          "1.5σ that starts an episode; no past episode of ETH:RUT reached |gap_z| ≥ 1.50: nothing "
                          "to compare (as of 2026-01-16, data: bundled snapshot).")
    assert reply.data["gap_z"] == pytest.approx(reference_gap_z("2025-07-25", "2026-01-16"), abs=1e-6)
    assert reply.data["episodes"] == [] and reply.data["summary"]["n"] == 0
    assert reply.data["episode_open"] is False and reply.data["episode_age"] is None


async def test_fewer_than_five_are_listed_not_estimated(services):
    reply = await ask(services, "/odds BTC RUT since 2025-07-15")
    lines = reply.text.splitlines()
    assert lines[0] == ("BTC is 33% below its beta line to the Russell 2000 since 2025-07-15, −1.29σ, in an episode "
                        "open since 2025-11-21 (37 sessions).")
    assert lines[1].startswith("Only 2 past episodes of BTC:RUT reached |gap_z| ≥ 1.50 (1 closed, 1 re-coupled with "
                               "the gap open, 0 still open): too few to estimate")
    assert lines[2].startswith("• BTC:RUT 2023-06-22 → 2023-07-18: closed after 17 sessions, mostly by RUT rising")
    assert lines[3].startswith("• BTC:RUT 2024-02-28 → 2024-10-03: re-coupled with the gap open after 151 sessions")
    assert "Kaplan–Meier" not in reply.text and "Median" not in reply.text
    summary = reply.data["summary"]
    assert summary["estimated"] is False and summary["closed_within"] == {} and summary["median_sessions"] is None
    assert summary["closed_by_asset_share"] is None and (summary["n"], summary["closed"]) == (2, 1)
    assert (reply.data["episode_open"], reply.data["episode_start"], reply.data["episode_age"]) == (
        True, "2025-11-21", 37)


async def test_pooled_estimates_carry_counts_and_intervals_and_say_not_independent(services):
    reply = await ask(services, "/odds BTC RUT since 2025-07-15 all")
    text = reply.text
    assert "7 past episodes across the universe's 8 pairs reached |gap_z| ≥ 1.50" in text
    assert ("within 120 sessions 5 seen, Kaplan–Meier 71% (95% 39–96%)" in text
            and "Median time to close: 45 sessions (95% 17 to not reached)." in text)
    assert "3 mostly by the asset's own move, 60% (95% 23–88%)" in text
    assert "not independent" in text
    # never a bare percentage: every one is a count's share with its interval, or inside an interval
    estimates = re.findall(r"(\d+)% \(95% (\d+)–(\d+)%\)", text)
    assert len(estimates) == 5 and all(int(lo) <= int(v) <= int(hi) for v, lo, hi in estimates)
    data = reply.data
    assert data["pooled"] is True and data["independent"] is False and len(data["pairs"]) == 8
    assert len(data["episodes"]) == 7 and data["summary"]["estimated"] is True
    within = data["summary"]["closed_within"]["120"]
    assert within["closed_seen"] == 5 and within["estimate"] == pytest.approx(5 / 7, abs=1e-6)
    assert {e["outcome"] for e in data["episodes"]} == {"closed", "re-coupled"}


async def test_the_pairs_own_open_episode_is_todays_not_a_past_one(services):
    # as of 2024-06-28 BTC:RUT's gap from its 2023-06-09 anchor is in an episode open since 2024-02-28
    reply = await ask(services, "/odds BTC RUT since 2023-06-09", "2024-06-28")
    assert reply.data["episode_open"] is True and reply.data["episode_start"] == "2024-02-28"
    assert [e["start"] for e in reply.data["episodes"]] == ["2023-06-22"]


@pytest.mark.parametrize(("text", "expected"), [
    ("/odds ETH RUT 90d", "/odds takes no window"),
    ("/odds ETH RUT since 2099-01-01", "in the future"),
    ("/odds ETH RUT since 2025-13-01", "is not a date"),
    ("/odds DOGE", "Unknown ticker"),
])
async def test_bad_input_gets_one_line_and_the_usage(services, text, expected):
    reply = await ask(services, text, None)
    assert not reply.ok and expected in reply.text and "Traceback" not in reply.text
    assert "/odds [asset] [benchmark] [since YYYY-MM-DD] [all]" in reply.text


# ---- the chart and the CLI -------------------------------------------------------------------------------------
def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


@pytest.mark.parametrize(("text", "theme"), [("/odds BTC RUT since 2025-07-15 all", "light"),
                                             ("/odds BTC RUT since 2025-07-15", "dark")])
async def test_the_chart_is_a_png(services, text, theme):
    reply = await ask(services, text, want_chart=True, theme=theme)
    assert reply.chart is not None and _png_size(reply.chart) == (1000, 640)
    assert reply.chart_name.startswith("odds-BTC-RUT-")


async def test_no_chart_without_an_episode(services):
    reply = await ask(services, "/odds ETH RUT since 2025-07-25", want_chart=True)
    assert reply.ok and reply.chart is None


def test_the_cli_answers_with_the_episodes_and_the_summary(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(MARKET_DATA="snapshot", DATABASE_URL=f"sqlite:///{tmp_path}/d.sqlite3", LOG_LEVEL="WARNING")
    out = subprocess.run([sys.executable, "-m", "bot", "ask", "/odds ETH RUT since 2025-07-25", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["command"] == "odds" and data["as_of"] == "2026-01-16"
    assert data["episodes"] == [] and data["pooled"] is False
    assert {"n", "closed", "recoupled", "open", "estimated", "closed_within", "median_sessions", "level",
            "closed_by_asset_share"} <= set(data["summary"])
    assert data["gap_z"] == pytest.approx(reference_gap_z("2025-07-25", "2026-01-16"), abs=1e-6)


# ---- the pure functions ----------------------------------------------------------------------------------------
def test_the_episode_walk_opens_closes_and_reopens_on_one_path():
    g = np.array([0.0, -0.30, -0.40, -0.10, -0.03, -0.30, -0.35, -0.36])
    z = np.array([np.nan, -1.6, -1.9, -0.5, -0.1, -1.2, -1.5, -1.4])
    log_a = np.cumsum([0.0, -0.3, -0.1, 0.3, 0.07, -0.27, -0.05, -0.01])
    log_b = np.zeros_like(g)
    spans = ep.find_episodes(g, z, log_a, log_b, beta=1.2)
    assert [(s.start, s.peak, s.end, s.closed) for s in spans] == [(1, 2, 4, True), (6, 7, 7, False)]
    first = spans[0]
    assert first.duration == 3 and first.asset_share == pytest.approx(1.0)  # the benchmark did not move
    assert ep.first_reach(z, 1.8, 1, 4) == 2 and ep.first_reach(z, 2.0, 1, 4) is None


def test_a_gap_closed_on_its_first_session_waits_for_a_later_one():
    # |m| <= 5% on the start session itself does not end the episode: it ends on the first *later* session
    spans = ep.find_episodes(np.array([0.0, 0.04, 0.2, 0.01]), np.array([np.nan, 1.6, 1.7, 0.1]),
                             np.zeros(4), np.zeros(4), 1.0)
    assert [(s.start, s.end, s.closed) for s in spans] == [(1, 3, True)]


def test_kaplan_meier_edges():
    km = ep.kaplan_meier(np.array([3, 5, 5, 8, 10]), np.array([True, True, False, True, False]))
    assert list(km.times) == [3, 5, 8] and list(km.at_risk) == [5, 4, 2]
    assert km.survival == pytest.approx([0.8, 0.6, 0.3])
    assert ep.survival_at(km, 2) == (1.0, 1.0, 1.0)
    assert ep.survival_at(km, 9)[0] == pytest.approx(0.3)
    assert ep.survival_at(km, 11) is None  # beyond the longest follow-up: not known
    everyone = ep.kaplan_meier(np.array([2, 4]), np.array([True, True]))
    assert ep.survival_at(everyone, 50) == (0.0, 0.0, 0.0)  # all closed: known for ever after
    assert ep.median_time(everyone)[0] == 2


def test_wilson_matches_its_formula_and_stays_in_0_1():
    p, lo, hi = ep.wilson(3, 5)
    z = ep.Z95
    centre = (0.6 + z * z / 10) / (1 + z * z / 5)
    half = z / (1 + z * z / 5) * math.sqrt(0.6 * 0.4 / 5 + z * z / 100)
    assert (p, lo, hi) == pytest.approx((0.6, centre - half, centre + half), abs=1e-12)
    assert ep.wilson(0, 4)[1] == 0.0 and ep.wilson(4, 4)[2] == pytest.approx(1.0)
    assert all(math.isnan(v) for v in ep.wilson(0, 0))
