"""A bot's HTTP server on the bundled snapshot and a SQLite file, on a free port of 127.0.0.1."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from bot.app import App
from bot.config import load_settings
from bot.server.runtime import Runtime
from bot.server.web.server import WebServer


@asynccontextmanager
async def serving(tmp_path: Path, *, timeout: float = 10.0, max_connections: int = 256,
                  **settings: object) -> AsyncIterator[tuple[App, Runtime, str]]:
    """`settings` override the defaults (e.g. database_url, redis_url); `timeout` and `max_connections` are
    the server's (HTTP_TIMEOUT_SECONDS, HTTP_MAX_CONNECTIONS)."""
    chosen: dict[str, object] = {"market_data": "snapshot", "database_url": f"sqlite:///{tmp_path}/web.sqlite3",
                                 "http_port": 0, **settings}
    app = App(load_settings(**chosen))
    runtime = Runtime(app, [])
    runtime.loop_watch.start()
    web = WebServer(app.services, app.metrics, runtime.health, host="127.0.0.1", port=0, timeout=timeout,
                    max_connections=max_connections)
    await web.start()
    try:
        yield app, runtime, f"http://127.0.0.1:{web.port}"
    finally:
        await web.stop()
        await runtime.loop_watch.stop()
        await runtime.close_checks()
        await app.close()
