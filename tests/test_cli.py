"""The CLI and the console as a user runs them: real subprocesses, no tokens, no network."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.endswith("_TOKEN")}
    env.update(
        MARKET_DATA="snapshot",
        DATABASE_URL=f"sqlite:///{tmp_path}/decoupler.sqlite3",
        CHART_DIR=str(tmp_path / "charts"),
        LOG_LEVEL="WARNING",
    )
    env.update(extra)
    return env


def run_bot(tmp_path: Path, *args: str, stdin: str = "", **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=_env(tmp_path, **env),
        timeout=120,
    )


def test_ask_json_reference_values(tmp_path):
    out = run_bot(tmp_path, "ask", "/corr 90d ETH RUT", "--as-of", "2025-06-30", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["ok"] is True and data["command"] == "corr"
    assert data["n_obs"] == 61 and data["correlation"] == pytest.approx(0.56, abs=0.005)
    assert data["window"] == "90d" and data["as_of"] == "2025-06-30"
    for key in ("ci95", "spearman", "beta", "divergence_z", "regime", "alignment", "source", "sources",
                "stale", "text"):
        assert key in data


def test_ask_bad_input_exit_code_two(tmp_path):
    out = run_bot(tmp_path, "ask", "/corr 90x", "--json")
    assert out.returncode == 2
    data = json.loads(out.stdout)
    assert data["ok"] is False and "not a window" in data["error"] and "Usage: /corr" in data["error"]
    assert "Traceback" not in out.stderr


def test_ask_bad_date_and_chart_out(tmp_path):
    bad = run_bot(tmp_path, "ask", "/corr", "--as-of", "yesterday")
    assert bad.returncode == 2 and "YYYY-MM-DD" in bad.stderr
    chart = tmp_path / "out" / "c.png"
    ok = run_bot(tmp_path, "ask", "/chart 1y BTC SPY", "--chart-out", str(chart), "--theme", "dark")
    assert ok.returncode == 0, ok.stderr
    assert chart.read_bytes().startswith(b"\x89PNG")


def test_console_reads_commands_until_eof(tmp_path):
    out = run_bot(tmp_path, "run", stdin="/corr 90d\n/corr 90x\n\n/regime\n")
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert text.startswith("Decoupler report · ETH vs RUT")
    assert "90-day correlation" in text and "62 daily returns" in text
    assert "'90x' is not a window" in text
    assert "Correlation regimes of ETH vs RUT" in text
    charts = list((tmp_path / "charts").glob("*.png"))
    assert charts and f"[chart saved to {charts[0]}]" in text
    assert "Traceback" not in out.stderr


def test_bad_setting_stops_with_one_line(tmp_path):
    out = run_bot(tmp_path, "run", MARKET_DATA="sometimes")
    assert out.returncode == 2
    assert out.stderr.strip().splitlines() == [
        "decoupler: Invalid setting MARKET_DATA: Input should be 'auto', 'live' or 'snapshot'"
    ]


def test_a_chart_path_that_cannot_be_written_is_one_line_and_status_2(tmp_path):
    out = run_bot(tmp_path, "ask", "/chart 1y BTC SPY", "--chart-out", "/dev/null/x.png")
    assert out.returncode == 2
    assert out.stderr.strip() == ("decoupler: can't write the chart to /dev/null/x.png: a part of that path is a file, "
                                  "not a folder")
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path):
    """`alerts … --json | head -c 100`: the pipe closes under the replay's output."""
    env = {**os.environ, "MARKET_DATA": "snapshot", "DATABASE_URL": f"sqlite:///{tmp_path / 'bot.sqlite3'}"}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", "alerts", "--pair", "ETH:RUT", "--from", "2021-01-01", "--json"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.read(100)
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=120) == 0
    assert "Traceback" not in errors and "BrokenPipe" not in errors
