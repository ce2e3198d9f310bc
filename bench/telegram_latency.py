"""End-to-end latency of /corr through Telegram: the bot as a subprocess (`python -m bot run`) against the local
fake Bot API (tests/telegram/fake_bot_api.py), nothing but 127.0.0.1.

`--users` simulated users (default 10) each send `/corr <window>` in a closed loop (next command when the photo
arrived) for `--duration` seconds (default 30): the first half with windows never asked before (chart cache
misses), the second half with a few windows rendered once beforehand (cache hits). Latency runs from the
getUpdates response that hands the update to the bot to the sendPhoto request arriving at the fake. Every
request comes from a fresh user in a fresh private chat, so the per-user quota (6 charts a minute) and Telegram's
1 message a second per chat don't turn the figures into measurements of deliberate waits; the global limit
(30 calls a second; a chart's "sending a photo…" only when the limit has room) does apply. Prints p50/p95/p99 and
the bot's peak RSS (VmHWM). Before that load, `--users` users at once each ask 3 new windows one after another
(the burst a post in a busy group causes), printed with the floor the 30/s limit alone sets. Before all of it,
`--startup` seconds (default 10) of cache misses from the moment the bot polls: the first answers after a
deploy, while render workers finish starting and prewarm runs (it yields to them: goal p50 <= 2 s).
Run: `.venv/bin/python bench/telegram_latency.py [--duration 30] [--users 10] [--startup 10]`.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import random
import signal
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.telegram import updates  # noqa: E402
from tests.telegram.fake_bot_api import TOKEN, FakeBotAPI  # noqa: E402

HIT_WINDOWS = ("30d", "60d", "90d", "180d", "1y", "2y")


def summary(label: str, samples: list[float]) -> str:
    if not samples:
        return f"{label:34s} n=   0"
    ms = np.array(samples) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    return (f"{label:34s} n={len(ms):4d}  p50 {p50:7.1f} ms  p95 {p95:7.1f} ms  p99 {p99:7.1f} ms"
            f"  max {ms.max():7.1f} ms")


def peak_rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


class Bench:
    def __init__(self, fake: FakeBotAPI):
        self.fake = fake
        self.ids = itertools.count(900_000)
        self.failures = 0
        # windows no one asked before, shared by every phase: a later phase's misses are misses too
        self.fresh = iter(random.Random(0).sample(range(31, 3650), 3600))

    async def ask(self, window: str, timeout: float = 60) -> float | None:
        """One /corr from a new user; seconds from update handed out to photo received, None on failure."""
        chat_id = next(self.ids)
        person = updates.user(chat_id)
        update_id = self.fake.queue(updates.command(f"/corr {window}", updates.private_chat(person), person))
        try:
            (photo,) = await self.fake.wait_for("sendPhoto", chat_id=chat_id, timeout=timeout)
        except TimeoutError:
            self.failures += 1
            return None
        return photo.at - self.fake.served_at[update_id]

    async def burst(self, n: int, each: int) -> list[float]:
        """`n` users at once, each asking `each` new windows one after another."""
        async def user() -> list[float]:
            out = []
            for _ in range(each):
                latency = await self.ask(f"{next(self.fresh)}d")
                if latency is not None:
                    out.append(latency)
            return out

        return [t for times in await asyncio.gather(*(user() for _ in range(n))) for t in times]

    async def users(self, n: int, seconds: float, windows: itertools.cycle | None) -> list[float]:
        samples: list[float] = []
        end = time.monotonic() + seconds

        async def user() -> None:
            while time.monotonic() < end:
                window = next(windows) if windows is not None else f"{next(self.fresh)}d"
                latency = await self.ask(window)
                if latency is not None:
                    samples.append(latency)

        await asyncio.gather(*(user() for _ in range(n)))
        return samples


async def main(duration: float, n_users: int, startup: float) -> int:
    async with FakeBotAPI() as fake:
        workdir = Path(tempfile.mkdtemp(prefix="tg-bench-"))
        env = {k: v for k, v in os.environ.items() if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_"))}
        env.update({
            "TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url, "MARKET_DATA": "snapshot",
            "DATABASE_URL": f"sqlite:///{workdir}/bench.sqlite3", "LOG_LEVEL": "WARNING", "PYTHONPATH": str(ROOT),
            "MPLBACKEND": "Agg",
        })
        stderr = (workdir / "bot.log").open("wb")
        started = time.monotonic()
        bot = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "run", cwd=workdir, env=env,
            stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL, stderr=stderr,
        )
        try:
            await fake.wait_for("getUpdates", timeout=60)
            print(f"bot polling {time.monotonic() - started:.1f} s after launch (pid {bot.pid})")
            bench = Bench(fake)
            if startup > 0:
                first = await bench.users(n_users, startup, None)
                print(summary(f"/corr, cache miss, first {startup:g} s", first))
            cold = await bench.ask("90d")
            if cold is not None:
                print(f"cold first /corr 90d (snapshot load + first render): {cold * 1000:.0f} ms")
            for window in HIT_WINDOWS:  # rendered once, so the hit phase finds them cached
                await bench.ask(window)
            burst = await bench.burst(n_users, 3)
            print(summary(f"{n_users} users x 3 new windows at once", burst)
                  + f"  (Telegram's 30 messages/s alone: p50 >= {len(burst) / 2 / 30 * 1000:.0f} ms)")
            misses = await bench.users(n_users, duration / 2, None)
            hits = await bench.users(n_users, duration / 2, itertools.cycle(HIT_WINDOWS))
            print(f"{n_users} users, {duration:g} s, update handed out -> sendPhoto received:")
            print(summary("/corr, chart cache miss", misses))
            print(summary("/corr, chart cache hit", hits))
            print(f"throughput: {(len(misses) + len(hits)) / duration:.1f} charts/s; failures: {bench.failures}")
            peak = peak_rss_mb(bot.pid)
            print(f"bot peak RSS (VmHWM): {peak:.0f} MB" if peak else "bot peak RSS: unavailable")
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
                try:
                    code = await asyncio.wait_for(bot.wait(), 30)
                except TimeoutError:
                    bot.kill()
                    code = await bot.wait()
                print(f"bot stopped on SIGTERM with exit code {code}")
            stderr.close()
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=30.0, help="seconds of load (half misses, half hits)")
    parser.add_argument("--users", type=int, default=10, help="simulated users sending at once")
    parser.add_argument("--startup", type=float, default=10.0, help="seconds of cache misses right after start")
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.duration, args.users, args.startup)))
