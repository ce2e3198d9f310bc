"""Every store command with good and bad input, through the console transport (in-process)."""

from __future__ import annotations

import io

from bot.app import build_app, close_services
from bot.config import load_settings
from handlers.console import answer, run_console

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


async def test_store_commands_through_the_console(tmp_path):
    settings = load_settings(
        market_data="snapshot", database_url=f"sqlite:///{tmp_path}/c.sqlite3", chart_dir=str(tmp_path / "charts")
    )
    services = await build_app(settings)
    replies = []
    try:
        for line in SCRIPT.splitlines():
            out = io.StringIO()
            await answer(services, line, out, tmp_path / "charts")
            replies.append(out.getvalue())
        session = io.StringIO()
        code = await run_console(services, io.StringIO(SCRIPT), session)
    finally:
        await close_services(services)
    assert code == 0 and "Traceback" not in session.getvalue()
    expected_in_order = [
        "Subscribed this chat to ETH vs RUT",
        "already",
        "BTC vs SPY",
        "Unknown ticker 'FOO'",
        "ETH vs RUT",
        "decoupled_enter",
        "decoupled_enter",
        "nonsense",
        "back to the defaults",
        "1y",
        "too short",
        "22:00",
        "25:00",
        "off",
        "Europe/Berlin",
        "Mars/Olympus",
        "on",
        "maybe",
        "BTC vs SPY",
        "BTC vs SPY",
        "all",
        "no",
    ]
    for reply, needle in zip(replies, expected_in_order, strict=True):
        assert needle.lower() in reply.lower(), (needle, reply)
