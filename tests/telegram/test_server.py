"""The transport as a server: polling start-up and graceful stop, webhook mode, the error handler, the token
kept out of every log line, and the whole bot as a subprocess (`python -m bot run`) talking only HTTP."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from bot.ports.services import Services
from handlers.commands import COMMANDS
from handlers.telegram.transport import APOLOGY, TelegramStartError, TelegramTransport
from tests.telegram import updates
from tests.telegram.conftest import Harness, make_transport, telegram_settings
from tests.telegram.fake_bot_api import TOKEN, FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
LOUD_LOGGERS = ("", "httpx", "httpcore", "telegram", "telegram.ext", "telegram.ext.ExtBot", "telegram.ext.Updater",
                "telegram.ext.Application", "handlers", "bot")


async def test_polling_start_answer_and_graceful_stop(services: Services, fake: FakeBotAPI) -> None:
    transport = make_transport(services)
    await transport.start()
    try:
        (commands,) = fake.sent("setMyCommands")
        menu = commands.params["commands"]
        assert [c["command"] for c in menu] == list(COMMANDS)
        assert all(c["command"].islower() and 0 < len(c["description"]) <= 256 for c in menu)
        assert fake.sent("deleteWebhook")
        fake.queue(updates.command("/corr 90d", updates.private_chat(updates.user(5001))))
        fake.queue(updates.command("/help", updates.private_chat(updates.user(5002))))
        await fake.wait_for("sendPhoto", chat_id=5001)
        await fake.wait_for("sendMessage", chat_id=5002)
        # A slow command (a chart never rendered before) still in flight when the stop comes:
        update_id = fake.queue(updates.command("/chart 1234d", updates.private_chat(updates.user(5003))))
        while update_id not in fake.served_at:
            await asyncio.sleep(0.01)
    finally:
        await transport.stop()
    assert fake.sent("sendPhoto", 5003), "the in-flight reply was dropped on stop"
    assert not transport.app.running
    last_poll = fake.sent("getUpdates")[-1]
    assert int(last_poll.params["offset"]) == update_id + 1  # everything fetched is confirmed as read


@pytest.mark.skipif(sys.platform == "win32", reason="signals")
async def test_webhook_mode_checks_the_secret(services: Services, fake: FakeBotAPI, tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = telegram_settings(
        fake, tmp_path, telegram_webhook_url=f"http://127.0.0.1:{port}/tg/hook", telegram_webhook_listen="127.0.0.1",
        telegram_webhook_port=port, telegram_webhook_secret="s3cret_for-tests",
    )
    webhook_services = services.replace(settings=settings)
    transport = make_transport(webhook_services)
    await transport.start()
    try:
        assert fake.sent("setWebhook") == []  # receiving is every process's; registering the leader's
        await transport.lead()
        (hook,) = fake.sent("setWebhook")
        assert hook.params["url"] == f"http://127.0.0.1:{port}/tg/hook"
        assert hook.params["secret_token"] == "s3cret_for-tests"
        assert set(hook.params["allowed_updates"]) >= {"message", "callback_query", "my_chat_member"}
        update = updates.command("/assets", updates.private_chat(updates.user(6001)))
        async with aiohttp.ClientSession() as http:
            url = f"http://127.0.0.1:{port}/tg/hook"
            async with http.post(url, json=update) as refused:
                assert refused.status == 403
            headers = {"X-Telegram-Bot-Api-Secret-Token": "wrong"}
            async with http.post(url, json=update, headers=headers) as refused:
                assert refused.status == 403
            headers = {"X-Telegram-Bot-Api-Secret-Token": "s3cret_for-tests"}
            async with http.post(url, json=update, headers=headers) as accepted:
                assert accepted.status == 200
        (reply,) = await fake.wait_for("sendMessage", chat_id=6001)
        assert "Tickers" in reply.params["text"]
    finally:
        await transport.stop()


async def test_the_error_handler_logs_the_update_and_apologises(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    harness.fake.fail("sendMessage", 400, "Bad Request: can't parse entities: unexpected end tag")
    update = updates.command("/assets")
    calls = await harness.process(update)
    assert [(c.method, c.status) for c in calls] == [("sendMessage", 400), ("sendMessage", 200)]
    assert calls[-1].params["text"] == f"<b>{APOLOGY}</b>"
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert f"update {update['update_id']} failed" in record.getMessage() and record.exc_info


async def test_a_failing_button_is_answered_with_the_apology(harness: Harness) -> None:
    (photo,) = [c for c in await harness.command("/corr 90d") if c.method == "sendPhoto"]
    harness.fake.fail_server("editMessageMedia", status=503, times=2)  # the retry fails too
    calls = await harness.process(updates.button_press("c|/corr 1y ETH RUT", harness.message(photo)))
    (answer,) = [c for c in calls if c.method == "answerCallbackQuery"]
    assert answer.params["text"] == APOLOGY


async def test_no_log_line_ever_contains_the_token(
    services: Services, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    for name in LOUD_LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    transport = make_transport(services)
    group = updates.group_chat()
    fake.set_member(group["id"], updates.ADA["id"], "administrator")
    fake.fail_flood("sendMessage", retry_after=1, chat_id=updates.ADA["id"])
    fake.fail_server("sendMessage", status=500, chat_id=group["id"])
    fake.fail_blocked("sendMessage", chat_id=7007)
    await transport.start()
    try:
        for update in (
            updates.command("/start"),
            updates.command("/subscribe", group),
            updates.command("/assets", updates.private_chat(updates.user(7007))),
            updates.my_chat_member(group, "member", "left"),
            updates.button_press("forged", {"chat": updates.private_chat(), "message_id": 1, "date": 1}),
        ):
            fake.queue(update)
        await fake.wait_for("answerCallbackQuery")
        await fake.wait_for("sendMessage", chat_id=group["id"], count=2)  # failure, then the retry
        await fake.wait_for("sendMessage", chat_id=updates.ADA["id"], count=2)  # 429, then the retry
        fake.queue(updates.command("/corr 30d"))
        await fake.wait_for("sendPhoto")
    finally:
        await transport.stop()
    await broken_token_start(services, fake)
    assert len(caplog.records) > 50
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert TOKEN not in logged and TOKEN.split(":")[1] not in logged


async def broken_token_start(services: Services, fake: FakeBotAPI) -> None:
    """A start-up that fails (the server refuses the token) must not leak it either."""
    fake.token = "0:other"
    transport = TelegramTransport(services)
    with pytest.raises(TelegramStartError, match="rejected TELEGRAM_BOT_TOKEN") as failed:
        await transport.start()
    assert TOKEN not in str(failed.value) and failed.value.__cause__ is None and failed.value.__suppress_context__
    fake.token = TOKEN


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def _get(url: str) -> tuple[int, str, bytes]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, response.content_type, await response.read()


async def test_the_bot_as_a_subprocess(fake: FakeBotAPI, tmp_path: Path) -> None:
    """What an operator sees: a token and HTTP_PORT; a /corr answered with a chart; /healthz says ok and leader,
    /metrics counted that /corr, the status page shows the pair and serves its chart; SIGTERM exits 0."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_", "HTTP_"))}
    env.update({
        "HTTP_PORT": str(port),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE_URL": fake.base_url,
        "MARKET_DATA": "snapshot",
        "DATABASE_URL": f"sqlite:///{tmp_path}/x.sqlite3",
        "LOG_LEVEL": "DEBUG",
        "PYTHONPATH": str(ROOT),
        "MPLBACKEND": "Agg",
    })
    stderr_path = tmp_path / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )
        try:
            await fake.wait_for("getUpdates", timeout=45)
            fake.queue(updates.command("/corr 90d"))
            (photo,) = await fake.wait_for("sendPhoto", timeout=45)
            assert photo.files["photo"].startswith(b"\x89PNG") and "correlation" in photo.params["caption"]
            status, _, body = await _get(f"{base}/healthz")
            health = json.loads(body)
            assert status == 200 and health["status"] == "ok" and health["leader"] is True, health
            assert health["transports"] == {"telegram": "running"} and health["database"] == "ok"
            _, _, metrics = await _get(f"{base}/metrics")
            assert b'decoupler_commands_total{command="corr",outcome="ok",platform="telegram"} 1.0' in metrics
            status, kind, page = await _get(f"{base}/")
            assert status == 200 and kind == "text/html"
            assert b"ETH vs RUT" in page and b'<td class="num">0.57</td>' in page
            status, _, pair_page = await _get(f"{base}/pairs/ETH-RUT")
            assert status == 200 and b'src="/charts/ETH-RUT.png"' in pair_page
            status, kind, png = await _get(f"{base}/charts/ETH-RUT.png")
            assert status == 200 and kind == "image/png" and png.startswith(b"\x89PNG")
            process.send_signal(signal.SIGTERM)
            code = await asyncio.wait_for(process.wait(), 30)
        finally:
            if process.returncode is None:
                process.kill()
                await process.wait()
    log_text = stderr_path.read_text(errors="replace")
    assert code == 0, log_text[-3000:]
    assert fake.sent("setMyCommands")
    assert "telegram transport started" in log_text
    assert TOKEN not in log_text and TOKEN.split(":")[1] not in log_text


async def test_a_second_polling_process_is_named_at_start_up(
    services: Services, fake: FakeBotAPI, caplog: pytest.LogCaptureFixture
) -> None:
    fake.fail("getUpdates", 409, "Conflict: terminated by other getUpdates request; make sure that only one bot "
                                 "instance is running", times=None)
    transport = make_transport(services)
    await transport.start()
    try:
        await fake.wait_for("getUpdates")
        for _ in range(100):
            if "another process is polling with this token" in caplog.text:
                break
            await asyncio.sleep(0.05)
    finally:
        await transport.stop()
    assert "409 Conflict" in caplog.text and "one polling process per token" in caplog.text
