"""Start-up time of the CLI against its in-run baseline, `python -c "import pandas"`.

    .venv/bin/python bench/cli_startup.py [--runs 5]

Each command runs `--runs` times as a fresh process (wall clock, median and best), interleaved with the
baseline so that load on the machine hits both alike; the ratio is median / baseline median (goal: ≤ 1.5).
Snapshot and auto market data, a throwaway SQLite file, no tokens; nothing reaches the network.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

HELP = [sys.executable, "-m", "bot", "ask", "/help", "--json"]
COMMANDS = {
    "import pandas (baseline)": ([sys.executable, "-c", "import pandas"], {}),
    "ask /help --json (snapshot)": (HELP, {"MARKET_DATA": "snapshot"}),
    "ask /help --json (auto)": (HELP, {"MARKET_DATA": "auto"}),
    "webhook list": ([sys.executable, "-m", "bot", "webhook", "list"], {"MARKET_DATA": "snapshot"}),
    "ask /corr 90d --json (snapshot, no chart)": (
        [sys.executable, "-m", "bot", "ask", "/corr 90d", "--json"], {"MARKET_DATA": "snapshot"}),
}


def run_once(argv: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        base_env = {k: v for k, v in os.environ.items()
                    if not k.startswith(("TELEGRAM_", "DISCORD_", "DATABASE_", "HTTP_", "REDIS_"))}
        base_env.update({"DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3", "MPLBACKEND": "Agg"})
        samples: dict[str, list[float]] = {name: [] for name in COMMANDS}
        for argv, extra in COMMANDS.values():  # one warm-up each (disk cache, .pyc files)
            run_once(argv, {**base_env, **extra})
        for _ in range(args.runs):
            for name, (argv, extra) in COMMANDS.items():
                samples[name].append(run_once(argv, {**base_env, **extra}))
    baseline = statistics.median(samples["import pandas (baseline)"])
    print(f"CLI start-up, {args.runs} runs each, fresh processes (cores: {os.cpu_count()})")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"  {name:44s} median {median:5.2f} s  best {min(values):5.2f} s  = {median / baseline:4.2f}× baseline")


if __name__ == "__main__":
    main()
