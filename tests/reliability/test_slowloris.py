"""Slowloris: 200 sockets each send half a request head and nothing more. The server closes every one within
its header timeout (HTTP_TIMEOUT_SECONDS; before, aiohttp's default kept them 3,630 s) and /healthz answers
meanwhile."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiohttp

from tests.web_support import serving

SOCKETS = 200
TIMEOUT = 2.0  # the server's header timeout in this test
BOUND = 60.0  # the scenario's bound, far above the timeout: the test fails rather than hangs


async def test_200_half_open_sockets_are_closed_within_the_header_timeout(tmp_path: Path) -> None:
    async with serving(tmp_path, timeout=TIMEOUT, max_connections=SOCKETS + 20) as (_, _, base):
        host, port = base.removeprefix("http://").split(":")
        opened = time.monotonic()
        slow = [await asyncio.open_connection(host, int(port)) for _ in range(SOCKETS)]
        for _, writer in slow:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: a")
            await writer.drain()
        async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as response:
            healthy_meanwhile = response.status
        async with asyncio.timeout(BOUND):
            answers = await asyncio.gather(*(reader.read() for reader, _ in slow))
        closed_after = time.monotonic() - opened
        for _, writer in slow:
            writer.close()
    print(f"slowloris: {SOCKETS} half-open sockets all closed by the server after {closed_after:.1f} s "
          f"(header timeout {TIMEOUT:g} s); /healthz meanwhile: {healthy_meanwhile}")
    assert healthy_meanwhile == 200
    assert answers == [b""] * SOCKETS  # closed by the server, nothing answered to half a request
