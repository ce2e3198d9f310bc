"""`python -m bot alerts …` and `webhook …`, /history, /preview, /status lines."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest

from bot.alerts.kinds import DEFAULT_KINDS
from bot.alerts.replay import replay
from bot.alerts.rules import RuleParams
from bot.app import App
from bot.cli import main
from bot.config import load_settings
from bot.render import alert_text
from bot.render.alert_text import evaluation_status_lines
from bot.store import open_store
from bot.store.alerts_repo import AlertsRepo
from handlers.commands import dispatch
from handlers.registry import ChatContext


@pytest.fixture(autouse=True)
def _keep_pytest_logging(monkeypatch):
    """main() sets up logging for a terminal; under pytest, leave the capture handlers alone."""
    monkeypatch.setattr("bot.telemetry.logs.setup_logging", lambda settings: None)


def test_replay_lists_what_the_rules_fire_as_json_lines(capsys, snapshot_analyzer):
    assert main(["alerts", "--pair", "ETH:RUT", "--from", "2024-01-01", "--to", "2024-12-31", "--json"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    params = RuleParams("ETH", "RUT", 90)
    expected = replay(snapshot_analyzer, params, pd.Timestamp("2024-01-01"), pd.Timestamp("2024-12-31"))
    assert lines == [alert_text.alert_fields(e, params) for e in expected]
    assert [(x["kind"], x["as_of"]) for x in lines] == [
        ("divergence", "2024-02-29"), ("regime", "2024-04-26"), ("regime", "2024-10-22"), ("divergence", "2024-12-04")]
    regime = lines[1]
    assert (regime["from_regime"], regime["to_regime"], regime["window"]) == ("decoupled", "neutral", "90d")
    assert "from_regime" not in lines[0] and regime["text"].startswith("🔔 ETH and small caps")


def test_replay_takes_a_window_and_thresholds(capsys):
    assert main(["alerts", "--pair", "btc-spy", "--window", "1y", "--threshold", "z_enter=3", "--threshold",
                 "dwell=3", "--from", "2025-01-01"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out and all(" · BTC:SPY 1y · " in line for line in out)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pair", "ETH:FOO"], "unknown ticker 'FOO'"),
        (["--pair", "ETH"], "must look like ASSET:BENCHMARK"),
        (["--from", "2024-13-01"], "is not a date"),
        (["--from", "2025-01-01", "--to", "2024-01-01"], "is after --to"),
        (["--window", "5d"], "too short"),
        (["--threshold", "dwel=3"], "Did you mean dwell?"),
        (["--threshold", "decoupled_enter=0.6"], "must be below"),
        (["--run-once", "--pair", "ETH:RUT"], "are for a replay"),
        (["--as-of", "2024-01-01"], "goes with --run-once"),
        (["--pair"], "expected one argument"),
    ],
)
def test_bad_arguments_get_one_line_and_status_2(capsys, args, message):
    with pytest.raises(SystemExit) as exited:
        code = main(["alerts", *args])
        raise SystemExit(code)
    assert exited.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err


def test_webhook_add_registers_an_endpoint_and_run_once_delivers_what_it_can(tmp_path: Path, monkeypatch, capsys):
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("CHART_DIR", str(tmp_path / "charts"))
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    assert main(["webhook", "add", "ftp://example.com/x"]) == 2
    assert "http:// or https://" in capsys.readouterr().err

    import asyncio

    async def seed() -> None:
        store = await open_store(url)
        for platform, chat_id in (("console", "console"), ("telegram", "42")):
            chat = await store.upsert_chat(platform, chat_id, "private")
            await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=DEFAULT_KINDS)
        # a generic hook added before per-hook secrets (migration 0007): it signs with WEBHOOK_SECRET, unset here
        hook = await store.upsert_chat("webhook", "https://example.com/hooks/decoupler", "channel")
        await store.subscribe(hook, "ETH", "RUT", window_days=90, kinds=frozenset({"regime", "record"}))
        await store.close()

    asyncio.run(seed())
    assert main(["alerts", "--run-once", "--as-of", "2024-04-26"]) == 0
    out = capsys.readouterr().out
    assert "ETH and small caps are loosely linked" in out  # the console chat got it
    assert "1 delivered" in out
    assert "pending for generic webhooks without their own secret (no WEBHOOK_SECRET), telegram (no token)" in out
    assert main(["webhook", "add", "https://example.com/hooks/decoupler", "BTC:SPY"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == (
        "note: this hook signs with WEBHOOK_SECRET, which is not set; give it its own with: "
        "python -m bot webhook rotate URL")

    async def statuses() -> dict[str, str]:
        store = await open_store(url)
        rows = await AlertsRepo.for_store(store).deliveries()
        chats = {c.chat.id: c.chat.platform for c in await store.active_subscriptions()}
        await store.close()
        return {chats[r["chat_pk"]]: r["status"] for r in rows}

    assert asyncio.run(statuses()) == {"console": "sent", "telegram": "pending", "webhook": "pending"}


SLACK_HOOK = "https://hooks.slack.com/services/T0123ABCD/B0456EFGH/slackSecret123"
DISCORD_HOOK = "https://discord.com/api/webhooks/112233445566778899/discord-Token_secret"
PASSWORD_HOOK = "https://ops:hunter2@example.com/hooks/decoupler"
LONG_HOOK = "https://relay.example.com/hooks/" + "x" * 1500


def test_webhook_add_takes_long_slack_discord_and_local_urls_and_list_masks_their_secrets(
        tmp_path: Path, monkeypatch, capsys):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'hooks.sqlite3'}")
    monkeypatch.delenv("WEBHOOK_SECRET", raising=False)
    assert main(["webhook", "add", LONG_HOOK]) == 0  # today: "at most 64 characters"
    assert main(["webhook", "add", SLACK_HOOK, "ETH:RUT"]) == 0
    slack = capsys.readouterr().out
    assert "slackSecret123" not in slack and "hooks.slack.com/services/T0123ABCD/*** (Slack)" in slack
    assert "signing secret (shown once" in slack.split(SLACK_HOOK[:20])[0]  # the generic hook's, not Slack's
    assert slack.count("signing secret") == 1  # Slack needs no secret of ours: nothing is signed for it
    assert main(["webhook", "add", DISCORD_HOOK, "BTC:SPY", "regime"]) == 0
    assert main(["webhook", "add", PASSWORD_HOOK]) == 0
    assert main(["webhook", "add", "http://169.254.169.254/latest/meta-data"]) == 0
    out = capsys.readouterr().out
    assert ("note: 169.254.169.254 is a link-local address (cloud metadata services live there); make sure that "
            "is what you mean\n") in out
    assert main(["webhook", "add", "http://10.0.0.7:8080/hook"]) == 0
    assert "note: 10.0.0.7 is a private address" in capsys.readouterr().out
    assert main(["webhook", "add", "https://hooks.slack.com/triggers/T1/1/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "hooks.slack.com/services/T…/B…/…" in err

    assert main(["webhook", "list"]) == 0
    listed = capsys.readouterr().out
    for secret in ("slackSecret123", "discord-Token_secret", "hunter2"):
        assert secret not in listed
    assert "https://hooks.slack.com/services/T0123ABCD/***  Slack  ETH:RUT" in listed
    assert "https://discord.com/api/webhooks/112233445566778899/***  Discord  BTC:SPY  90d  regime" in listed
    assert "https://ops:***@example.com/hooks/decoupler  signed JSON" in listed
    assert LONG_HOOK in listed and "OFF" not in listed


@pytest.mark.parametrize("url", ["http://0x7f000001/hook", "http://2130706433/hook", "http://[::ffff:127.0.0.1]/h",
                                 "http://169.254.169.254/latest/meta-data", "http://localhost:8080/hook?token=x"])
def test_webhook_add_refuses_internal_addresses_unless_allowed(tmp_path: Path, monkeypatch, capsys, url):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'hooks.sqlite3'}")
    monkeypatch.delenv("ALLOW_PRIVATE_WEBHOOKS")
    assert main(["webhook", "add", url]) == 2  # today: added, with a note
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "webhooks go to public addresses only; set ALLOW_PRIVATE_WEBHOOKS=1" in err
    monkeypatch.setenv("ALLOW_PRIVATE_WEBHOOKS", "1")
    assert main(["webhook", "add", url]) == 0
    assert "make sure that is what you mean" in capsys.readouterr().out


def test_webhook_list_shows_disabled_hooks_and_why_and_enable_turns_one_back_on(tmp_path: Path, monkeypatch, capsys):
    import asyncio

    url = f"sqlite:///{tmp_path / 'hooks.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("WEBHOOK_SECRET", "cli-test-secret-0123456789")
    assert main(["webhook", "add", DISCORD_HOOK, "ETH:RUT"]) == 0
    assert main(["webhook", "add", "https://example.com/hooks/decoupler", "BTC:SPY"]) == 0
    capsys.readouterr()
    reason = "disabled: gave up after 26 attempts in 25 h 25 min: TransientError: HTTP 404"

    async def disable() -> None:  # what the delivery worker does when a webhook's retries run out
        store = await open_store(url)
        await store.mark_inactive("webhook", DISCORD_HOOK, reason)
        await store.close()

    asyncio.run(disable())
    assert main(["webhook", "list"]) == 0
    listed = capsys.readouterr().out.splitlines()
    (off,) = [line for line in listed if "OFF" in line]  # today: disabled hooks were not listed at all
    assert off.startswith("https://discord.com/api/webhooks/112233445566778899/***") and off.endswith(f"OFF: {reason}")
    assert listed[-1] == "turn one back on with: python -m bot webhook enable URL"

    assert main(["webhook", "enable", DISCORD_HOOK]) == 0
    enabled = capsys.readouterr().out
    assert "is on again (1 subscriptions)" in enabled and reason in enabled and "discord-Token_secret" not in enabled
    assert main(["webhook", "list"]) == 0
    assert "OFF" not in capsys.readouterr().out
    assert main(["webhook", "enable", DISCORD_HOOK]) == 0
    assert "already on" in capsys.readouterr().out
    assert main(["webhook", "enable", "https://discord.com/api/webhooks/1/other-secret"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("decoupler: no webhook https://discord.com/api/webhooks/1/***") and "other-secret" not in err

    async def chat_active() -> bool:
        store = await open_store(url)
        chat = await store.get_chat("webhook", DISCORD_HOOK)
        await store.close()
        return chat is not None and chat.active

    assert asyncio.run(chat_active())


async def test_history_preview_and_status_in_a_chat(tmp_path: Path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'chat.sqlite3'}", market_data="snapshot")
    app = App(settings)
    services = app.services
    chat = ChatContext(platform="telegram", chat_id="77", chat_kind="private")
    try:
        empty = await dispatch(services, "/history", chat)
        assert empty.ok and empty.text.startswith("No alerts in this chat yet")
        await dispatch(services, "/subscribe ETH RUT", chat)
        await dispatch(services, "/set threshold dwell=3", chat)
        await services.alerts.evaluate(until=date(2024, 4, 1))
        await services.alerts.evaluate(until=date(2024, 4, 24))  # with dwell=3 the regime turns on the 24th
        history = await dispatch(services, "/history 5", chat)
        assert history.ok and "• 2024-04-24 · ETH:RUT 90d · regime decoupled → neutral (ρ 0.39) — sending" \
            in history.text

        preview = await dispatch(services, "/preview", chat)
        assert preview.ok and preview.text.startswith("Preview: the alerts this chat's settings would have fired")
        assert "ETH:RUT 90d:" in preview.text and preview.data["pairs"]["ETH:RUT"] > 0
        other = await dispatch(services, "/preview BTC SPY", chat)
        assert other.ok and "BTC:SPY 90d" in other.text
        bad = await dispatch(services, "/history lots", chat)
        assert not bad.ok and "Usage: /history" in bad.text

        status = evaluation_status_lines(await services.alerts.status())
        assert status[0].startswith("Alerts: NYSE session 2024-04-24 evaluated (1 rule instance")
        assert status[-1].startswith("Deliveries pending: 1 (telegram 1)")
    finally:
        await app.close()


async def test_the_app_runs_the_scheduler_and_the_delivery_worker_while_it_runs(tmp_path: Path):
    settings = load_settings(database_url=f"sqlite:///{tmp_path / 'app.sqlite3'}", market_data="snapshot",
                             webhook_secret="app-test-secret-16+")
    app = App(settings)
    alerts = app.alerts
    try:
        from handlers import console

        async with app.alerts_running([console.build_transport(app.services)]):
            assert alerts.scheduler is not None and alerts.scheduler.scheduler.running
            assert sorted(alerts.worker.notifiers) == ["cli", "console", "webhook"]
            assert {"alerts-after-close", "alerts-utc-day"} <= set(alerts.scheduler.next_runs())
        assert alerts.scheduler is None and alerts._worker_task is None
    finally:
        await app.close()
