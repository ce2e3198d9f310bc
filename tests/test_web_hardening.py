"""The HTTP server on the open internet: security headers, a half-sent request closed after the timeout, a cap on
connections, a malformed request as one WARNING line, only watched pairs, pages with the database down, and
/healthz with Redis down."""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path

import aiohttp
import pytest

from bot.alerts.kinds import DEFAULT_KINDS
from bot.cli.health import healthcheck
from tests.web_support import serving

DOWN_DATABASE = "postgresql://bot:pw@127.0.0.1:1/none"  # nothing listens on port 1: refused at once
DOWN_REDIS = "redis://127.0.0.1:1/0"
CLOSED_WITHIN = 30.0  # a bound on the test, far above the 1 s timeout: the test fails rather than hangs


def _address(base: str) -> tuple[str, int]:
    host, port = base.removeprefix("http://").split(":")
    return host, int(port)


async def test_every_answer_carries_the_security_headers_and_no_library_version(tmp_path: Path) -> None:
    async with serving(tmp_path) as (_, _, base), aiohttp.ClientSession() as http:
        for path in ("/", "/pairs/ETH-RUT", "/healthz", "/style.css", "/pairs/NOPE-RUT"):
            async with http.get(f"{base}{path}") as response:
                headers = response.headers
                await response.read()
            policy = headers.get("Content-Security-Policy", "")
            assert "default-src 'self'" in policy and "frame-ancestors 'none'" in policy, (path, policy)
            assert headers.get("X-Content-Type-Options") == "nosniff", path
            assert headers.get("Referrer-Policy") == "no-referrer", path
            server = headers.get("Server", "")
            assert "aiohttp" not in server.lower() and "python" not in server.lower(), server
            if response.content_type == "text/html":
                assert headers.get("Cache-Control") == "no-cache", path
        async with http.get(f"{base}/") as response:
            page = await response.text()
        # the policy allows no inline style: the page's style comes from /style.css
        assert "<style" not in page and "style=" not in page and 'href="/style.css"' in page


async def test_a_half_sent_request_is_closed_after_the_timeout_while_others_are_served(tmp_path: Path) -> None:
    async with serving(tmp_path, timeout=1.0) as (_, _, base):
        host, port = _address(base)
        slow = [await asyncio.open_connection(host, port) for _ in range(20)]
        for _, writer in slow:
            writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")  # never finished
            await writer.drain()
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
            assert response.status == 200  # served meanwhile
        async with asyncio.timeout(CLOSED_WITHIN):
            answers = [await reader.read() for reader, _ in slow]  # b"" once the server has closed it
        assert answers == [b""] * len(slow)
        for _, writer in slow:
            writer.close()


async def test_connections_over_the_cap_get_a_503_and_are_closed(tmp_path: Path) -> None:
    async with serving(tmp_path, max_connections=3) as (_, _, base):
        host, port = _address(base)
        held = [await asyncio.open_connection(host, port) for _ in range(3)]
        await asyncio.sleep(0.2)  # let the server register them
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        async with asyncio.timeout(CLOSED_WITHIN):
            answer = await reader.read()
        assert answer.startswith(b"HTTP/1.1 503") and b"Too many connections" in answer
        for _, held_writer in (*held, (reader, writer)):
            held_writer.close()


async def test_a_malformed_request_is_one_warning_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="aiohttp.server")
    async with serving(tmp_path) as (_, _, base):
        host, port = _address(base)
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nno colon in this header\r\n\r\n")
        async with asyncio.timeout(CLOSED_WITHIN):
            answer = await reader.read()
        writer.close()
    assert answer.startswith(b"HTTP/1.0 400") and b"no colon" not in answer  # nothing of it echoed
    assert b"aiohttp" not in answer and b"frame-ancestors 'none'" in answer
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelname for r in records] == ["WARNING"], [(r.levelname, r.getMessage()) for r in records]
    assert records[0].exc_info is None and "\n" not in records[0].getMessage()
    assert "bad request from 127.0.0.1" in records[0].getMessage()


async def test_only_watched_pairs_have_pages_and_charts(tmp_path: Path) -> None:
    async with serving(tmp_path) as (app, _, base), aiohttp.ClientSession() as http:
        async with http.get(f"{base}/pairs/BTC-SPY") as response:  # a valid pair nobody watches
            assert response.status == 404
            assert "isn't watched" in await response.text()
        async with http.get(f"{base}/charts/BTC-SPY.png") as response:
            assert response.status == 404
        chat = await app.store.upsert_chat("telegram", "7", "private")
        await app.store.subscribe(chat, "BTC", "SPY", window_days=90, kinds=DEFAULT_KINDS)
        async with http.get(f"{base}/pairs/BTC-SPY") as response:
            assert response.status == 200  # watched once subscribed


async def test_pages_with_the_database_down_show_the_market_data_and_say_what_is_missing(tmp_path: Path) -> None:
    async with serving(tmp_path, database_url=DOWN_DATABASE) as (_, _, base), aiohttp.ClientSession() as http:
        async with http.get(f"{base}/") as response:
            index = await response.text()
            assert response.status == 200, index[-2000:]
        assert "ETH vs RUT" in index and "Only the default pair is shown" in index
        assert "Alerts are unavailable right now: database unavailable" in index and "pw@" not in index
        async with http.get(f"{base}/pairs/ETH-RUT") as response:
            page = await response.text()
            assert response.status == 200, page[-2000:]
        assert "The alert history is unavailable right now" in page and "Traceback" not in page
        async with http.get(f"{base}/pairs/BTC-SPY") as response:  # whether it is watched is unknown
            text = await response.text()
            assert response.status == 503 and "\n" not in text.strip() and "database unavailable" in text


async def test_healthz_is_degraded_when_redis_is_set_but_down(tmp_path: Path, capsys) -> None:
    async with serving(tmp_path, redis_url=DOWN_REDIS) as (app, _, base):
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
            body = await response.json()
            assert response.status == 200  # working (each process on its own rate): not a reason to restart
        args = argparse.Namespace(url=f"{base}/healthz", timeout=10.0)
        # the container's HEALTHCHECK (blocking urllib: on a loop of its own, in a thread)
        code = await asyncio.to_thread(asyncio.run, healthcheck(app, args))
    assert body["status"] == "degraded" and body["reasons"] == ["shared rate unavailable"]
    assert (code, capsys.readouterr().out) == (0, "degraded: shared rate unavailable\n")
