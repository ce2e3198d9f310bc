"""A bot's HTTP server alone in a process of its own, for measuring its memory: `python -m
tests.reliability.page_server FOLDER N` subscribes one chat to the first N pairs of the known assets (those are
watched, with the default pair), prints `PORT <n>` and serves until its standard input closes."""

from __future__ import annotations

import asyncio
import sys
from itertools import permutations
from pathlib import Path

from bot.alerts.kinds import DEFAULT_KINDS
from bot.app import App
from bot.assets import ASSETS
from bot.config import load_settings
from bot.server.runtime import Runtime
from bot.server.web.server import WebServer


async def main(folder: Path, watched: int) -> None:
    app = App(load_settings(market_data="snapshot", database_url=f"sqlite:///{folder}/pages.sqlite3", http_port=0,
                            chart_workers=0))
    chat = await app.store.upsert_chat("telegram", "1", "private")
    for asset, benchmark in list(permutations(ASSETS, 2))[:watched]:
        await app.store.subscribe(chat, asset.symbol, benchmark.symbol, window_days=90, kinds=DEFAULT_KINDS)
    runtime = Runtime(app, [])
    web = WebServer(app.services, app.metrics, runtime.health, host="127.0.0.1", port=0)
    await web.start()
    print(f"PORT {web.port}", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    await web.stop()
    await app.close()


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), int(sys.argv[2])))
