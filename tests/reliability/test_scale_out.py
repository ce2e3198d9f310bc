"""Scale-out, end to end: real `python -m bot run` processes (Telegram webhook mode, HTTP_PORT for /healthz and
/metrics) on one PostgreSQL database and one Redis, against one fake Telegram that answers 429 as Telegram does
(30 messages a second per token, one a second per chat). Harness: tests/reliability/scale_support.py,
scale_deployment.py and scale_fan_out.py.

- a worker SIGKILLed in the middle of a 2,000-chat fan-out: every chat gets the alert; the only repeats are
  messages that were accepted but not yet recorded as sent when it died;
- the leader SIGKILLed: the other process leads within 60 s (the issue's bound) and catches up the session
  that was due, once; a second hand-over (graceful) catches up nothing again;
- every PostgreSQL connection of the bot terminated mid-fan-out: the processes recover without a restart.

Correctness is asserted; timing only where the issue states a bound (failover within 60 s). The figures
(throughput as a share of the enforced limit, duplicates, failover seconds, peak RSS) are printed (`-s`).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.reliability.scale_deployment import Deployment, deployment
from tests.reliability.scale_fan_out import fan_out, firing_pair
from tests.reliability.scale_support import Worker, command, eventually, service_problem

CHATS = 2_000
KILL_AFTER = 600  # of CHATS messages accepted: a third of the way
FAILOVER_BOUND = 60.0  # seconds (issue 13)


@pytest.fixture(scope="module", autouse=True)
def services() -> None:
    problem = service_problem()
    if problem is None:
        return
    message = f"PostgreSQL or Redis unreachable ({problem})"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{message}, and REQUIRE_POSTGRES=1 says these tests must run", pytrace=False)
    pytest.skip(message)


@pytest.mark.timeout(300)
async def test_a_worker_killed_mid_fan_out_loses_no_chat(tmp_path: Path) -> None:
    async with deployment(tmp_path) as setup:
        result = await fan_out(setup, workers=2, chats=CHATS, kill_after=KILL_AFTER)
    print(f"\nscale-out fan-out: {result.summary()}")
    assert result.killed is not None and KILL_AFTER <= result.killed_after < CHATS, "killed midway"
    assert result.victim_sent > 0, "the killed process had been delivering too"
    assert result.lost == 0, f"{result.lost} chats never got the alert"
    assert result.duplicates <= result.in_flight, "a repeat that was not in flight at the kill"
    assert result.statuses == Counter(sent=CHATS), "the outbox records one sent delivery per chat"
    assert result.alerts == 1, "the session was evaluated once, into one alert"
    assert result.failover is not None and result.failover <= FAILOVER_BOUND
    assert set(result.exit_codes.values()) == {0}, "the survivor stops gracefully"


@pytest.mark.timeout(240)
async def test_the_leader_killed_another_leads_and_catches_up_once(tmp_path: Path) -> None:
    firing = firing_pair()
    async with deployment(tmp_path) as setup:
        started = list(await asyncio.gather(setup.start_worker(), setup.start_worker()))
        first, _ = await setup.one_leader()
        follower = next(w for w in started if w is not first)
        await eventually(lambda: _logged(first, "alerts: next run after"), 30, "the leader's scheduler starts")
        await asyncio.sleep(1.0)  # and its start-up catch-up has run (on no subscriptions)
        # Due now, and no scheduled run of the leader comes before the kill: the session is the next leader's.
        chats = await setup.subscribe(40, firing)
        await first.kill()
        killed = time.monotonic()
        leader, _ = await setup.one_leader(FAILOVER_BOUND)
        failover = time.monotonic() - killed
        assert leader is follower
        # A second hand-over comes next, graceful this time, to a process started now: it must catch up nothing.
        starting = asyncio.create_task(setup.start_worker())
        await _all_sent(setup, chats)
        fired_by_new_leader = await leader.metric("decoupler_alerts_total", kind=firing.kind)
        third = await starting
        assert await leader.terminate() == 0, leader.tail()
        stopped = time.monotonic()
        assert (await setup.one_leader(FAILOVER_BOUND))[0] is third
        graceful = time.monotonic() - stopped
        await eventually(lambda: _logged(third, "alerts: next run after"), 30, "its scheduler starts")
        await asyncio.sleep(2.0)  # its catch-up run is immediate; a repeat would be out by now
        fired_by_third = await third.metric("decoupler_alerts_total", kind=firing.kind)
        sends = Counter(s.chat_id for s in setup.fake.delivered(chats))
        registrations = [s.worker for s in setup.fake.log if s.method == "setWebhook"]
        alerts = await setup.alerts_recorded(firing)
        third.sample_rss()
        rss = {w.name: w.sample_rss() / 1024 for w in setup.workers}
        assert await setup.stop_all() == {third.name: 0}
    print(f"\nleader failover: SIGKILL -> {leader.name} leads in {failover:.1f} s; SIGTERM -> {third.name} leads in "
          f"{graceful:.1f} s; {len(sends)} of {len(chats)} chats reached, {sum(sends.values()) - len(sends)} "
          f"duplicates; setWebhook by {registrations}; peak RSS "
          + ", ".join(f"{name} {mb:.0f} MB" for name, mb in rss.items()))
    assert failover <= FAILOVER_BOUND
    assert fired_by_new_leader == 1, "the new leader evaluated the missed session, into one alert"
    assert fired_by_third == 0, "the next leader's catch-up found it done"
    assert alerts == 1
    assert set(sends) == chats and set(sends.values()) == {1}, "every chat got the alert exactly once"
    assert registrations == [first.name, follower.name, third.name], "setWebhook by each leader, and only by it"


@pytest.mark.timeout(240)
async def test_postgres_connections_killed_mid_run_the_bot_recovers(tmp_path: Path) -> None:
    firing = firing_pair()
    async with deployment(tmp_path) as setup:
        chats = await setup.subscribe(200, firing)
        workers = list(await asyncio.gather(setup.start_worker(), setup.start_worker()))
        await eventually(lambda: _delivered_at_least(setup, chats, 70), 120, "the fan-out is under way", every=0.05)
        at_kill = len(setup.fake.delivered(chats))
        terminated = await setup.terminate_backends()
        killed = time.monotonic()

        await _all_sent(setup, chats)  # deliveries still made
        for worker in workers:
            await eventually(lambda w=worker: _healthy(w), 60, f"{worker.name}'s /healthz is ok")
        await setup.one_leader(FAILOVER_BOUND)
        users = {worker.name: 990_001 + i for i, worker in enumerate(workers)}
        for worker in workers:  # a command to each process, through its webhook receiver
            assert await worker.post_update(command(firing.subscribe_command, users[worker.name])) == 200
        for worker in workers:
            await eventually(lambda w=worker: _answered(setup, users[w.name], "Subscribed"), 60,
                             f"{worker.name} answers a command")
        recovered = time.monotonic() - killed
        stored = await setup.admin.fetchval(
            "SELECT count(*) FROM subscriptions s JOIN chats c ON c.id = s.chat_pk WHERE c.chat_id = ANY($1::text[])",
            [str(u) for u in users.values()])
        assert all(w.alive for w in workers), "recovered without a restart"
        sends = Counter(s.chat_id for s in setup.fake.delivered(chats))
        codes = await setup.stop_all()
    print(f"\npostgres connections killed: {terminated} sessions terminated after {at_kill} of {len(chats)} messages; "
          f"recovered (every chat reached, /healthz ok, one leader, commands answered) {recovered:.1f} s later; "
          f"{sum(sends.values()) - len(sends)} duplicates")
    assert terminated >= 2, "at least each process's lock connection"
    assert set(sends) == chats
    assert stored == 2, "the commands' writes reached the database"
    assert set(codes.values()) == {0}


async def _all_sent(setup: Deployment, chats: set[str], timeout: float = 120.0) -> None:
    async def reached() -> bool:
        return {s.chat_id for s in setup.fake.delivered(chats)} == chats

    async def recorded() -> bool:
        statuses = await setup.delivery_statuses(chats)
        return len(statuses) == len(chats) and all(s == ["sent"] for s in statuses.values())

    await eventually(reached, timeout, "every chat reached")
    await eventually(recorded, 60, "the outbox records every send")


async def _delivered_at_least(setup: Deployment, chats: set[str], count: int) -> bool:
    return len(setup.fake.delivered(chats)) >= count


async def _healthy(worker: Worker) -> bool:
    health = await worker.health()
    return bool(health and health["status"] == "ok")


async def _answered(setup: Deployment, user: int, text: str) -> bool:
    return any(text in str(call.params.get("text", "")) for call in setup.fake.sent("sendMessage", user))


async def _logged(worker: Worker, text: str) -> bool:
    return text in worker.tail(1_000_000)
