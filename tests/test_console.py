"""Every store command with good and bad input, through the console transport (in-process)."""

from __future__ import annotations

import io
from pathlib import Path

from bot.app import App
from bot.config import load_settings
from handlers.console import CONSOLE_CHAT, ConsoleSurface, run_console
from handlers.quotas import CommandQuotas
from handlers.runner import CommandRunner, Incoming

SCRIPT = """\
/subscribe
/subscribe
/subscribe BTC SPY regime
/subscribe FOO
/subscriptions
/set threshold decoupled_enter=0.15 dwell=3
/set threshold decoupled_enter=2
/set threshold nonsense=1
/set threshold reset
/set window 1y
/set window 5d
/quiet 22:00-07:00
/quiet 25:00-07:00
/quiet off
/tz Europe/Berlin
/tz Mars/Olympus
/digest on
/digest maybe
/unsubscribe BTC SPY
/unsubscribe BTC SPY
/unsubscribe all
/subscriptions
"""


# What each line of SCRIPT must answer: the first line of the reply, exactly.
EXPECTED = [
    "Subscribed this chat to ETH vs RUT alerts: regime, divergence, record · window 90d. "
    "You'll get them after each US close.",
    "This chat is already subscribed to ETH vs RUT alerts: regime, divergence, record · window 90d. Nothing changed.",
    "Subscribed this chat to BTC vs SPY alerts: regime · window 90d. You'll get them after each US close.",
    "Unknown ticker 'FOO'. Known: ETH, BTC, RUT, IWM, SPY, QQQ, SPX, NDX (see /assets).",
    "This chat gets alerts for 2 pairs:",
    "Thresholds for this chat: decoupled_enter 0.15 (default 0.20), dwell 3 (default 5).",
    "Threshold decoupled_enter must be between -0.95 and 0.95, not 2.",
    "'nonsense' is not a threshold. Known: coupled_enter, coupled_exit, decoupled_enter, decoupled_exit, "
    "inverse_enter, inverse_exit, dwell, z_enter, z_rearm, horizon, min_history_days.",
    "Thresholds for this chat are back to the defaults.",
    "Window for this chat: 1y — regime and record alerts follow the 1-year correlation.",
    "'5d' is too short: at least 30 days, so the correlation means something.",
    "Quiet hours set: 22:00–07:00 (UTC time). Alerts that come in then wait until 07:00. "
    "Not your time zone? Set it with /tz Europe/Berlin (or yours).",
    "'25:00' is not a time of day (00:00 to 23:59).",
    "Quiet hours off: alerts arrive as soon as they're ready.",
    "Time zone set to Europe/Berlin (it's ",
    "'Mars/Olympus' is not a time zone I know. Use a name like Europe/Berlin.",
    "Digest on for this chat: a day's alerts arrive together in one message.",
    "Say on or off, not 'maybe'.",
    "Unsubscribed this chat from BTC vs SPY alerts. It follows ETH vs RUT.",
    "This chat isn't subscribed to BTC vs SPY. It follows ETH vs RUT.",
    "Unsubscribed this chat from all alerts (ETH vs RUT). /subscribe starts them again.",
    "This chat has no subscriptions yet. /subscribe starts ETH vs RUT alerts.",
]
BAD_INPUT = {3, 6, 7, 10, 12, 15, 17, 19}  # line numbers (from 0) whose reply ends with the usage


async def test_store_commands_through_the_console(tmp_path: Path):
    settings = load_settings(
        market_data="snapshot", database_url=f"sqlite:///{tmp_path}/c.sqlite3", chart_dir=str(tmp_path / "charts")
    )
    app = App(settings)
    runner = CommandRunner(app.services, "console", quotas=CommandQuotas.unlimited())
    replies = []
    try:
        for line in SCRIPT.splitlines():
            out = io.StringIO()
            await runner.message(Incoming(line, CONSOLE_CHAT), ConsoleSurface(out, tmp_path / "charts"))
            replies.append(out.getvalue())
        chat = await app.store.get_chat("console", "console")
        subscriptions = await app.store.list_subscriptions(chat)
    finally:
        await app.close()
    assert len(replies) == len(EXPECTED)
    for number, (reply, expected) in enumerate(zip(replies, EXPECTED, strict=True)):
        assert reply.startswith(expected), (number, reply)
        assert ("\nUsage: /" in reply) is (number in BAD_INPUT), (number, reply)
    # what the script leaves behind
    assert subscriptions == []
    assert (chat.timezone, chat.default_digest.value, chat.default_window_days) == ("Europe/Berlin", "daily", 365)
    assert chat.quiet_hours is None and chat.default_thresholds == {}


async def test_a_whole_console_session_reads_until_the_end_of_input(tmp_path: Path):
    settings = load_settings(
        market_data="snapshot", database_url=f"sqlite:///{tmp_path}/c.sqlite3", chart_dir=str(tmp_path / "charts")
    )
    app = App(settings)
    session = io.StringIO()
    try:
        code = await run_console(app.services, io.StringIO("/help\n\n/corr 30d\n"), session)
    finally:
        await app.close()
    text = session.getvalue()
    assert code == 0 and "Traceback" not in text
    assert text.startswith("Decoupler report · ETH vs RUT · as of 2026-01-16")
    assert "Type a command (/help for the list, /corr 90d to start); Ctrl-D quits." in text
    assert "Commands:\n/start — What Decoupler does" in text
    assert "30-day correlation" in text and f"[chart saved to {tmp_path / 'charts'}" in text


async def test_a_chart_that_cannot_be_written_costs_the_chart_not_the_console(tmp_path: Path):
    # tests run as root, whom no permission bit stops: CHART_DIR under a regular file cannot be made by anyone
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the charts' folder should be")
    chart_dir = blocker / "charts"
    settings = load_settings(market_data="snapshot", database_url=f"sqlite:///{tmp_path}/c.sqlite3",
                             chart_dir=str(chart_dir))
    app = App(settings)
    session = io.StringIO()
    try:
        code = await run_console(app.services, io.StringIO("/corr 30d\n/chart 1y BTC SPY\n/help corr\n"), session)
    finally:
        await app.close()
    text = session.getvalue()
    assert code == 0 and "Traceback" not in text
    note = f"[chart not saved: {chart_dir} is not a directory (CHART_DIR)]"
    corr, chart, help_corr = text.split("Ctrl-D quits.\n", 1)[1].rstrip("\n").split("\n\n")
    assert corr.startswith("ETH and small caps are moving together: 30-day correlation 0.23")
    assert corr.splitlines()[-2:] == [note, "Try: /corr 30d ETH RUT · /corr 90d ETH RUT · /corr 1y ETH RUT · "
                                            "/corr 30d RUT ETH"]
    assert chart.startswith("BTC and the S&P 500 (SPY) are loosely linked: 1-year correlation 0.42")
    assert chart.splitlines()[-2] == note
    assert help_corr.startswith("/corr [window] [asset] [benchmark]\nCorrelation of a pair over a window")
    assert not chart_dir.exists() and blocker.read_text() == "a file where the charts' folder should be"


async def test_a_chart_folder_that_is_a_file_is_named(tmp_path: Path):
    chart_dir = tmp_path / "charts"
    chart_dir.write_text("not a folder")
    app = App(load_settings(market_data="snapshot", database_url="sqlite://", chart_dir=str(chart_dir)))
    session = io.StringIO()
    try:
        code = await run_console(app.services, io.StringIO("/corr 90d\n/corr 1y\n"), session)
    finally:
        await app.close()
    text = session.getvalue()
    assert code == 0
    assert text.count(f"[chart not saved: {chart_dir} is not a directory (CHART_DIR)]") == 2
    assert "90-day correlation" in text and "1-year correlation" in text
