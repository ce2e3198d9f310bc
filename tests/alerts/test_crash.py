"""Crash safety: the delivering process is SIGKILLed in the middle of a 500-subscriber webhook fan-out and
started again; every subscriber gets the alert, and the only repeats are messages in flight at the kill."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiohttp import web

from bot.alerts.webhook_bodies import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from bot.store import Store, open_store
from bot.store.alerts_repo import AlertsRepo
from tests.alerts.support import add_chats

# a long run with real processes: `make test-reliability` (tests/reliability/conftest.py explains the marker)
pytestmark = pytest.mark.reliability

ROOT = Path(__file__).resolve().parents[2]
SECRET = "crash-test-secret"
SUBSCRIBERS = 500
KILL_AFTER = 150
AS_OF = "2024-04-26"  # ETH:RUT 90d turns from decoupled to neutral that day: one alert, 500 deliveries


class Receiver:
    """A slow webhook endpoint on 127.0.0.1 that checks signatures and counts what each subscriber got."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.hits: Counter[str] = Counter()
        self.bad_signatures = 0
        self.alerts: set[tuple[str, str]] = set()
        self.open_requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.open_requests += 1
        try:
            return await self._handle(request)
        finally:
            self.open_requests -= 1

    async def settled(self) -> None:
        """Wait until no request is being read or answered and nothing new came in for a moment."""
        seen = -1
        while self.open_requests or seen != self.total:
            seen = self.total
            await asyncio.sleep(0.2)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not verify_signature(SECRET, request.headers[TIMESTAMP_HEADER], body, request.headers[SIGNATURE_HEADER]):
            self.bad_signatures += 1
            return web.Response(status=401)
        alert = json.loads(body.split(b"\r\n\r\n", 1)[1].split(b"\r\n--", 1)[0])
        self.alerts.add((alert["kind"], alert["as_of"]))
        self.hits[request.path] += 1
        await asyncio.sleep(self.delay)
        return web.Response(status=204)

    @property
    def total(self) -> int:
        return sum(self.hits.values())


@asynccontextmanager
async def receiving() -> AsyncIterator[tuple[Receiver, str]]:
    hooks = Receiver(delay=0.02)
    app = web.Application()
    app.router.add_post("/hook/{n}", hooks.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield hooks, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def _environment(database_url: str, tmp_path: Path, lease: str | None = "3", per_second: str = "600"
                 ) -> dict[str, str]:
    """`lease`: DELIVERY_LEASE_SECONDS (None: the default)."""
    env = {k: v for k, v in os.environ.items() if not k.endswith(("_BOT_TOKEN", "_SECRET", "DELIVERY_LEASE_SECONDS"))}
    env.update(
        DATABASE_URL=database_url, MARKET_DATA="snapshot", WEBHOOK_SECRET=SECRET, WEBHOOK_MAX_PER_SECOND=per_second,
        CHART_DIR=str(tmp_path / "charts"), LOG_LEVEL="WARNING", PYTHONPATH=str(ROOT),
    )
    if lease is not None:
        env["DELIVERY_LEASE_SECONDS"] = lease
    return env


async def _start(env: dict[str, str], cwd: Path) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "alerts", "--run-once", "--as-of", AS_OF,
        env=env, cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )


@dataclass
class Outcome:
    backend: str
    received_at_kill: int
    in_flight: int
    reached: int
    duplicates: int
    bad_signatures: int
    alerts: set[tuple[str, str]]
    statuses: Counter[str]
    second_run: tuple[int | None, str, str]


async def _kill_and_restart(backend: str, database_url: str, store: Store, tmp_path: Path, *,
                            subscribers: int = SUBSCRIBERS, kill_after: int = KILL_AFTER,
                            env: dict[str, str] | None = None) -> Outcome:
    tmp_path.mkdir(parents=True, exist_ok=True)
    async with receiving() as (hooks, base):
        await add_chats(store, subscribers, platform="webhook", prefix=f"{base}/hook/")
        env = env or _environment(database_url, tmp_path)
        first = await _start(env, tmp_path)
        async with asyncio.timeout(60):
            while hooks.total < kill_after and first.returncode is None:
                await asyncio.sleep(0.002)
            first.kill()  # SIGKILL: no clean-up of any kind
            await first.wait()
            await hooks.settled()  # requests that were on the wire at the kill are counted too
        received_at_kill = set(hooks.hits)
        sent = [d for d in await AlertsRepo.for_store(store).deliveries() if d["status"] == "sent"]

        second = await _start(env, tmp_path)
        async with asyncio.timeout(90):
            out, err = await second.communicate()
        statuses = Counter(d["status"] for d in await AlertsRepo.for_store(store).deliveries())
    return Outcome(backend, len(received_at_kill), len(received_at_kill) - len(sent), len(hooks.hits),
                   hooks.total - len(hooks.hits), hooks.bad_signatures, hooks.alerts, statuses,
                   (second.returncode, out.decode(), err.decode()[-2000:]))


async def test_a_killed_fan_out_resumes_without_losing_anyone(both_database_urls: dict[str, str], tmp_path: Path):
    """One scenario per backend, both at once (each with its own receiver, database and processes)."""
    stores = {backend: await open_store(url) for backend, url in both_database_urls.items()}  # migrated in turn
    try:
        outcomes = await asyncio.gather(*(
            _kill_and_restart(backend, url, stores[backend], tmp_path / backend)
            for backend, url in both_database_urls.items()
        ))
    finally:
        for store in stores.values():
            await store.close()
    for o in outcomes:
        print(f"\ncrash test ({o.backend}): killed after {o.received_at_kill} of {SUBSCRIBERS} received, "
              f"{o.in_flight} in flight (received, not yet recorded as sent); after the restart {o.reached} "
              f"subscribers reached, {o.duplicates} duplicates")
    for o in outcomes:
        returncode, out, err = o.second_run
        assert returncode == 0, err
        assert KILL_AFTER <= o.received_at_kill < SUBSCRIBERS, "killed in the middle of the fan-out"
        assert o.reached == SUBSCRIBERS and o.bad_signatures == 0
        assert o.alerts == {("regime", AS_OF)}
        assert o.duplicates <= o.in_flight
        assert o.statuses == {"sent": SUBSCRIBERS}
        assert "0 rule instances evaluated" in out  # the session was evaluated by the first run, once


async def test_a_rerun_at_once_after_a_kill_delivers_everything_with_the_default_lease(
        both_database_urls: dict[str, str], tmp_path: Path):
    """The review's case: 100 subscribers, the run SIGKILLed after 33, run again at once. With 120 s claims the
    rerun skipped the 67 the dead process had claimed and exited (49/100). Now the claims are short and were
    renewed only while that process lived: the rerun waits them out (saying so) and delivers the rest."""
    stores = {backend: await open_store(url) for backend, url in both_database_urls.items()}
    try:
        outcomes = await asyncio.gather(*(
            _kill_and_restart(backend, url, stores[backend], tmp_path / backend, subscribers=100, kill_after=33,
                              env=_environment(url, tmp_path / backend, lease=None, per_second="40"))
            for backend, url in both_database_urls.items()
        ))
    finally:
        for store in stores.values():
            await store.close()
    for o in outcomes:
        print(f"\nrerun after a kill ({o.backend}, default lease): killed after {o.received_at_kill} of 100, "
              f"{o.in_flight} in flight; after the rerun {o.reached}/100 reached, {o.duplicates} duplicates")
    for o in outcomes:
        returncode, _, err = o.second_run
        assert returncode == 0, err
        assert o.reached == 100 and o.statuses == {"sent": 100}, (o.reached, o.statuses)
        assert o.duplicates <= o.in_flight
        assert "claimed by another process; waiting up to" in err
