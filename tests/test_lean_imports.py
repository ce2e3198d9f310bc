"""A CLI call imports only what it uses (issue "Performance": an instant CLI). Checked on the modules loaded,
never on time: `python -m bot ask /help --json` draws nothing and opens no database, so it must not import
matplotlib, SQLAlchemy, the live sources or a chat platform's library."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ["matplotlib", "sqlalchemy", "alembic", "ccxt", "yfinance", "telegram", "discord", "aiohttp", "redis",
         "exchange_calendars", "pandas", "numpy"]  # /help reads the command table: no maths, no sessions

PROBE = """
import io, json, sys, contextlib
from bot.cli import main
out = io.StringIO()
with contextlib.redirect_stdout(out):
    code = main(sys.argv[1:])
print(json.dumps({"code": code, "out": out.getvalue(), "modules": sorted({m.split('.')[0] for m in sys.modules})}))
"""


def _loaded(*argv: str, **env: str) -> dict:
    environment = {**os.environ, "MARKET_DATA": "snapshot", "DATABASE_URL": "sqlite://", **env}
    environment.pop("TELEGRAM_BOT_TOKEN", None)
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], cwd=ROOT, env=environment, capture_output=True,
                          text=True, timeout=120, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("market_data", ["snapshot", "auto"])
def test_ask_help_imports_no_heavy_library(market_data):
    result = _loaded("ask", "/help", "--json", MARKET_DATA=market_data)
    assert result["code"] == 0 and json.loads(result["out"])["ok"] is True
    assert [name for name in HEAVY if name in result["modules"]] == []


def test_a_market_command_without_a_chart_imports_no_drawing_or_chat_library():
    result = _loaded("ask", "/corr 90d", "--json")
    assert result["code"] == 0 and json.loads(result["out"])["n_obs"] > 0
    loaded = [name for name in ("matplotlib", "ccxt", "yfinance", "telegram", "discord") if name in result["modules"]]
    assert loaded == []


def test_webhook_list_reads_the_store_without_the_maths(tmp_path):
    result = _loaded("webhook", "list", DATABASE_URL=f"sqlite:///{tmp_path / 'bot.sqlite3'}")
    assert result["code"] == 0 and "no webhooks" in result["out"]
    assert [name for name in ("pandas", "numpy", "matplotlib", "exchange_calendars", "ccxt", "yfinance", "telegram",
                              "discord") if name in result["modules"]] == []

