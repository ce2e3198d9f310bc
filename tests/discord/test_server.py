"""The bot as a subprocess (`python -m bot run`, `python -m bot alerts --run-once`, `python -m bot discord sync`)
talking only HTTP and websockets to the fake Discord (and the fake Telegram beside it)."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

from bot.store import open_store
from tests.discord.fake_constants import CHANNEL_ID, DEFAULT_MEMBER_PERMISSIONS, GUILD_ID, TOKEN, USER_ID
from tests.discord.fake_discord import FakeDiscord
from tests.telegram import updates
from tests.telegram.fake_bot_api import TOKEN as TELEGRAM_TOKEN
from tests.telegram.fake_bot_api import FakeBotAPI

ROOT = Path(__file__).resolve().parents[2]
MANAGE_CHANNELS = 1 << 4
MODERATOR = USER_ID + 7


def bot_env(fake: FakeDiscord, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_", "WEBHOOK_"))}
    env.update({
        "DISCORD_BOT_TOKEN": TOKEN, "DISCORD_API_BASE_URL": fake.api_base, "DISCORD_GATEWAY_URL": fake.gateway_url,
        "MARKET_DATA": "snapshot", "DATABASE_URL": f"sqlite:///{tmp_path}/bot.sqlite3",
        "CHART_DIR": str(tmp_path / "charts"), "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg", "LOG_LEVEL": "DEBUG",
    })
    env.update(extra)
    return env


async def run(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", *args, cwd=tmp_path, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await process.communicate()
    return process.returncode or 0, out.decode(errors="replace")


async def test_the_discord_bot_as_a_server_beside_telegram(tmp_path: Path) -> None:
    log_path = tmp_path / "bot.log"
    async with FakeDiscord() as fake, FakeBotAPI() as telegram:
        fake.add_guild(members={USER_ID: DEFAULT_MEMBER_PERMISSIONS,
                                MODERATOR: DEFAULT_MEMBER_PERMISSIONS | MANAGE_CHANNELS})
        env = bot_env(fake, tmp_path, TELEGRAM_BOT_TOKEN=TELEGRAM_TOKEN, TELEGRAM_API_BASE_URL=telegram.base_url)
        with log_path.open("wb") as log:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", cwd=tmp_path, env=env,
                stdin=asyncio.subprocess.DEVNULL, stdout=log, stderr=log,
            )
            try:
                await fake.wait_for("sync", timeout=60)
                await fake.wait_connected(timeout=30)
                await telegram.wait_for("getUpdates", timeout=60)  # both clients on one event loop
                corr = await fake.command("corr", {"window": "90d"})
                message = await corr.wait_original(timeout=30)  # the fake refuses an answer later than 3 s
                assert corr.rejected == []
                embed = message.embeds[0]
                assert embed["title"] == "ETH vs RUT · 90d" and "0.57" in embed["description"]
                assert {f["name"]: f["value"] for f in embed["fields"]}["Observations"] == "62 daily returns"
                assert message.embed_image().startswith(b"\x89PNG")
                bad = await (await fake.command("corr", {"window": "90x"}))
                assert bad.ephemeral and "Usage: /corr" in bad.data["content"]
                suggested = await (await fake.autocomplete("corr", {"asset": "et"}, focused="asset"))
                assert suggested.choices[0]["value"] == "ETH"
                refused = await (await fake.command("subscribe", {}, user_id=USER_ID))
                assert refused.ephemeral and "Manage Channels" in refused.data["content"]
                confirmed = await (await fake.command("subscribe", {}, user_id=MODERATOR)).wait_original()
                assert confirmed.embeds[0]["title"].startswith("Subscribed this channel to ETH vs RUT")
                telegram.queue(updates.command("/help"))
                await telegram.wait_for("sendMessage", timeout=30)
            finally:
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
                code = await asyncio.wait_for(process.wait(), 20)
    output = log_path.read_text(errors="replace")
    assert code == 0, output[-3000:]
    assert "discord transport started" in output and "telegram transport started" in output
    assert TOKEN not in output and TELEGRAM_TOKEN not in output


async def test_run_once_delivers_an_alert_to_every_discord_channel_and_dm_once(tmp_path: Path) -> None:
    channels = {CHANNEL_ID: "general", CHANNEL_ID + 1: "markets", CHANNEL_ID + 2: "alerts"}
    async with FakeDiscord() as fake:
        fake.add_guild(channels=channels)
        dm_channel = fake._dm_channel(USER_ID)  # a DM the user opened with the bot
        store = await open_store(f"sqlite:///{tmp_path}/bot.sqlite3")
        try:
            for channel in [*channels, dm_channel]:
                kind = "private" if channel == dm_channel else "group"
                chat = await store.upsert_chat("discord", str(channel), kind, None)
                await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds={"regime", "divergence", "record"})
        finally:
            await store.close()
        env = bot_env(fake, tmp_path)
        code, out = await run(tmp_path, env, "alerts", "--run-once", "--as-of", "2024-04-26")
        assert code == 0, out[-3000:]
        sends = fake.calls_of("send")
        assert sorted(int(c.path.split("/")[2]) for c in sends) == sorted([*channels, dm_channel])
        for channel in [*channels, dm_channel]:
            (message,) = fake.sent_to(channel)
            assert message.embeds[0]["title"] == "🔔 Regime alert · ETH vs RUT"
            assert message.embeds[0]["description"].startswith("ETH and small caps")
            assert message.embed_image().startswith(b"\x89PNG")
        assert "4 delivered" in out and fake.calls_of("gateway") == []  # REST only
        code, again = await run(tmp_path, env, "alerts", "--run-once", "--as-of", "2024-04-26")
        assert code == 0 and len(fake.calls_of("send")) == 4 and "0 delivered" in again
        assert TOKEN not in out + again


async def test_discord_sync_publishes_the_commands_to_one_guild(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        fake.add_guild()
        code, out = await run(tmp_path, bot_env(fake, tmp_path, DISCORD_GUILD_ID=str(GUILD_ID)), "discord", "sync")
        assert code == 0 and f"slash commands synced to guild {GUILD_ID}" in out
        assert list(fake.commands) == [GUILD_ID] and fake.syncs == 1
        bad = bot_env(fake, tmp_path, DISCORD_BOT_TOKEN="not-the-token")
        code, out = await run(tmp_path, bad, "discord", "sync")
        assert code == 2 and out.strip().splitlines()[-1] == (
            "decoupler: Discord rejected DISCORD_BOT_TOKEN (check it in the developer portal)")
        assert "not-the-token" not in out
