"""Scale-out fan-out: one alert to N Telegram chats through real `python -m bot run` processes on PostgreSQL and
Redis (REDIS_URL: the send rate shared), against the fake Bot API enforcing Telegram's limits — 429 with
retry_after beyond `--limit` messages in any second per token, or one a second per chat.

    .venv/bin/python bench/scale_out.py [--chats 2000] [--limit 30] [--runs 1,2,kill] [--lease 10]
                                        [--database-url postgresql://postgres@127.0.0.1:5432/test]
                                        [--redis redis://127.0.0.1:6379]

Runs, each on a fresh database: `1` one worker; `2` two workers; `kill` two workers with the leader SIGKILLed a
third of the way through; `2-no-redis` (not by default) two workers without REDIS_URL, each pacing itself
alone. Prints for each the fan-out rate as a fraction of the enforced limit, 429s drawn, chats lost and
messages duplicated (in the kill run: next to the messages in flight at the kill), the failover time (the kill
until the other process leads, by its /healthz) and each worker's peak RSS (VmHWM).

The bot paces itself at Telegram's 30 a second (bot/sending/ratelimit.py TELEGRAM_LIMITS, shared through Redis): a
`--limit` above 30 measures the bot's pacing rather than the fake's, one below shows it living with 429s.
The harness is tests/reliability/scale_support.py (with scale_deployment.py and scale_fan_out.py), the one
tests/reliability/test_scale_out.py uses.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.reliability.scale_deployment import deployment  # noqa: E402
from tests.reliability.scale_fan_out import fan_out, firing_pair  # noqa: E402
from tests.reliability.scale_support import DEFAULT_REDIS, postgres_url, service_problem  # noqa: E402

RUNS = {"1": (1, False, True), "2": (2, False, True), "kill": (2, True, True), "2-no-redis": (2, False, False)}


async def main(args: argparse.Namespace) -> int:
    firing = firing_pair()
    print(f"one {firing.kind} alert ({firing.asset}:{firing.benchmark} {firing.window_days}d, session "
          f"{firing.session}) to {args.chats} Telegram chats; fake Bot API enforcing {args.limit} msg/s per token "
          f"and 1/s per chat; PostgreSQL, Redis for the shared rate; delivery lease {args.lease:g} s")
    with tempfile.TemporaryDirectory() as folder:
        for run in args.runs:
            workers, kill, shared = RUNS[run]
            started = time.monotonic()
            async with deployment(Path(folder) / run, per_second=args.limit, lease=args.lease,
                                  database_url=args.database_url, redis=args.redis, shared_rate=shared) as setup:
                result = await fan_out(setup, workers=workers, chats=args.chats,
                                       kill_after=args.chats // 3 if kill else None)
            print(f"[{run:>4}] {result.summary()}  ({time.monotonic() - started:.0f} s with start-up)")
            if result.lost or (kill and result.duplicates > result.in_flight):
                print(f"       PROBLEM: {result.lost} lost, {result.duplicates} duplicates vs {result.in_flight} "
                      "in flight")
    return 0


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chats", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=30, help="the fake's messages a second per token")
    parser.add_argument("--runs", default="1,2,kill", help=f"comma-separated: {', '.join(RUNS)}")
    parser.add_argument("--lease", type=float, default=10.0, help="DELIVERY_LEASE_SECONDS of the workers")
    parser.add_argument("--database-url", default=postgres_url(), help="a PostgreSQL server (a database is made)")
    parser.add_argument("--redis", default=DEFAULT_REDIS, help="a Redis server (a database number is picked)")
    args = parser.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in args.runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown run {unknown[0]!r}: use {', '.join(RUNS)}")
    return args


if __name__ == "__main__":
    arguments = parse(sys.argv[1:])
    problem = service_problem(arguments.database_url, arguments.redis)
    if problem is not None:
        sys.exit(f"PostgreSQL or Redis unreachable: {problem}")
    sys.exit(asyncio.run(main(arguments)))
