"""Start-up failures and settings that cannot work: one line naming the cause, status 2, no traceback and no
password — through the real command line (`bot.cli.main`, what `python -m bot` runs)."""

from __future__ import annotations

import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.cli import main
from tests.store.conftest import postgres_url, require_postgres

PASSWORD = "hunter2-secret"


@pytest.fixture(autouse=True)
def _quiet_logging(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bot.telemetry.logs.setup_logging", lambda settings: None)  # leave pytest's capture alone
    monkeypatch.setenv("MARKET_DATA", "snapshot")
    for name in ("TELEGRAM_BOT_TOKEN", "DISCORD_BOT_TOKEN", "WEBHOOK_SECRET", "TELEGRAM_WEBHOOK_SECRET"):
        monkeypatch.delenv(name, raising=False)


def one_line_failure(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert err.count("\n") == 0 and "Traceback" not in err and PASSWORD not in err, err
    return err


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP port that accepts connections and never says a word (a hung database server)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1]
    stop.set()
    thread.join()
    for connection in accepted:
        connection.close()
    server.close()


def _postgres(**parts: str) -> str:
    return make_url(postgres_url()).set(**parts).render_as_string(hide_password=False)


def test_a_refused_or_hung_postgresql(capsys, monkeypatch, silent_server: int) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://bot:{PASSWORD}@127.0.0.1:1/decoupler")
    assert "refused the connection" in one_line_failure(capsys, ["db", "upgrade"])
    monkeypatch.setenv("DATABASE_URL", f"postgresql://bot:{PASSWORD}@127.0.0.1:{silent_server}/decoupler")
    assert "did not answer in time" in one_line_failure(capsys, ["run"])  # bounded by a connect timeout


def test_an_unknown_postgresql_database_or_role(capsys, monkeypatch) -> None:
    require_postgres()
    monkeypatch.setenv("DATABASE_URL", _postgres(database="no_such_database_here", password=PASSWORD))
    assert "no such database" in one_line_failure(capsys, ["run"])
    monkeypatch.setenv("DATABASE_URL", _postgres(username="no_such_role_here", password=PASSWORD))
    assert "does not know that role" in one_line_failure(capsys, ["db", "upgrade"])


def test_broken_sqlite_files(capsys, monkeypatch, tmp_path: Path) -> None:
    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database " * 200)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{corrupt}")
    assert "damaged or not a database" in one_line_failure(capsys, ["run"])
    read_only = tmp_path / "read-only.sqlite3"
    sqlite3.connect(read_only).execute("CREATE TABLE unrelated (x)").connection.close()
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///file:{read_only}?mode=ro&uri=true")
    assert "read-only" in one_line_failure(capsys, ["db", "upgrade"])
    inside_a_file = corrupt / "bot.sqlite3"  # its folder is a file: it can't be created
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{inside_a_file}")
    assert "cannot create the folder" in one_line_failure(capsys, ["webhook", "list"])


def test_a_schema_from_a_newer_version(capsys, monkeypatch, tmp_path: Path) -> None:
    path = tmp_path / "newer.sqlite3"
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{path}")
    assert main(["db", "upgrade"]) == 0
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE alembic_version SET version_num = '9999'")
    assert "schema revision is unknown" in one_line_failure(capsys, ["run"])


@pytest.mark.parametrize(("variable", "value", "says"), [
    ("DEFAULT_PAIR", "ETH:ETH", "two different tickers"),
    ("DEFAULT_PAIR", "ETH:SPX", "SPX has no bundled history"),  # MARKET_DATA=snapshot
    ("TELEGRAM_ADMIN_CACHE_SECONDS", "inf", "finite"),
    ("MARKET_TIMEOUT_SECONDS", "nan", "finite"),
    ("WEBHOOK_SECRET", "x", "at least 16 characters"),
    ("TELEGRAM_WEBHOOK_SECRET", "has spaces and ümlauts", "A-Z, a-z, 0-9"),
    ("TELEGRAM_API_BASE_URL", "api.telegram.org/bot", "http(s) URL"),
    ("TELEGRAM_WEBHOOK_LISTEN", "every interface", "address to listen on"),
    ("TELEGRAM_WEBHOOK_URL", "telegram-hook", "https URL"),
])
def test_settings_that_cannot_work_are_refused_naming_the_variable(capsys, monkeypatch, variable, value, says):
    monkeypatch.setenv(variable, value)
    err = one_line_failure(capsys, ["ask", "/help"])
    assert err.startswith(f"decoupler: Invalid setting {variable}: ") and says in err, err
    if "SECRET" in variable:
        assert value not in err


def test_webhook_mode_on_postgresql_needs_a_shared_secret(capsys, monkeypatch) -> None:
    monkeypatch.setenv("DATABASE_URL", f"postgresql://bot:{PASSWORD}@127.0.0.1:5432/decoupler")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.com/telegram")
    err = one_line_failure(capsys, ["ask", "/help"])
    assert err.startswith("decoupler: Invalid setting TELEGRAM_WEBHOOK_SECRET: webhook mode on PostgreSQL")


async def test_the_render_workers_boot_while_the_store_opens(tmp_path: Path) -> None:
    """They take a couple of seconds to start, so they start first: here the store then fails to open, and the
    workers are up all the same (a server's first charts don't wait for them)."""
    from bot.app import App
    from bot.config import load_settings

    corrupt = tmp_path / "corrupt.sqlite3"
    corrupt.write_bytes(b"this is not a database " * 200)
    app = App(load_settings(market_data="snapshot", database_url=f"sqlite:///{corrupt}"))
    try:
        with pytest.raises(Exception, match="damaged or not a database"):
            await app.run()
        assert len(app.services.charts.worker_pids()) >= 1
    finally:
        await app.close()
