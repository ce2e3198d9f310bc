"""DATABASE_URL forms: normalised to an async and a sync URL; passwords never shown."""

from __future__ import annotations

import pytest

from bot.store import DatabaseUrlError, normalise_database_url, redact_url
from bot.store.urls import database_password, is_memory_sqlite

CASES = [
    ("sqlite:///var/decoupler.sqlite3", "sqlite+aiosqlite:///var/decoupler.sqlite3", "sqlite:///var/decoupler.sqlite3"),
    ("sqlite+aiosqlite:///var/x.db", "sqlite+aiosqlite:///var/x.db", "sqlite:///var/x.db"),
    ("sqlite+pysqlite:////srv/bot/x.db", "sqlite+aiosqlite:////srv/bot/x.db", "sqlite:////srv/bot/x.db"),
    ("sqlite://", "sqlite+aiosqlite://", "sqlite://"),
    ("sqlite:///:memory:", "sqlite+aiosqlite://", "sqlite://"),
    (":memory:", "sqlite+aiosqlite://", "sqlite://"),
    ("  sqlite:///var/x.db \n", "sqlite+aiosqlite:///var/x.db", "sqlite:///var/x.db"),
    (
        "postgresql://bot:s3cret@db.example:5432/decoupler",
        "postgresql+asyncpg://bot:s3cret@db.example:5432/decoupler",
        "postgresql+psycopg2://bot:s3cret@db.example:5432/decoupler",
    ),
    (
        "postgres://bot:s3cret@db.example/decoupler",
        "postgresql+asyncpg://bot:s3cret@db.example/decoupler",
        "postgresql+psycopg2://bot:s3cret@db.example/decoupler",
    ),
    (
        "postgresql+asyncpg://bot@localhost/decoupler",
        "postgresql+asyncpg://bot@localhost/decoupler",
        "postgresql+psycopg2://bot@localhost/decoupler",
    ),
    (
        "postgresql+psycopg2://bot@localhost/decoupler",
        "postgresql+asyncpg://bot@localhost/decoupler",
        "postgresql+psycopg2://bot@localhost/decoupler",
    ),
    (
        "postgresql+psycopg://bot@localhost/decoupler",
        "postgresql+asyncpg://bot@localhost/decoupler",
        "postgresql+psycopg://bot@localhost/decoupler",
    ),
    (
        "postgres://u:p@h/db?sslmode=require",
        "postgresql+asyncpg://u:p@h/db?ssl=require",
        "postgresql+psycopg2://u:p@h/db?sslmode=require",
    ),
    (
        "postgresql+asyncpg://u:p@h/db?ssl=require",
        "postgresql+asyncpg://u:p@h/db?ssl=require",
        "postgresql+psycopg2://u:p@h/db?sslmode=require",
    ),
]


@pytest.mark.parametrize(("given", "async_url", "sync_url"), CASES)
def test_normalise(given: str, async_url: str, sync_url: str) -> None:
    assert normalise_database_url(given) == (async_url, sync_url)


def test_normalising_twice_changes_nothing() -> None:
    for given, async_url, _ in CASES:
        assert normalise_database_url(async_url)[0] == async_url, given


def test_special_characters_in_the_password_survive() -> None:
    async_url, _ = normalise_database_url("postgres://bot:p%40ss%3Aw0rd@h/db")
    assert async_url == "postgresql+asyncpg://bot:p%40ss%3Aw0rd@h/db"


@pytest.mark.parametrize(
    "bad",
    ["", "   ", "not a url", "mysql://root:hunter2@h/db", "sqlite+pysqlcipher:///x.db", "postgresql://u:hunter2@h"],
)
def test_unusable_urls_are_refused_without_echoing_them(bad: str) -> None:
    with pytest.raises(DatabaseUrlError) as raised:
        normalise_database_url(bad)
    assert "hunter2" not in str(raised.value)
    assert "DATABASE_URL" in str(raised.value)


def test_redact_hides_the_password() -> None:
    shown = redact_url("postgres://bot:hunter2@db.example:5432/decoupler")
    assert "hunter2" not in shown
    assert shown == "postgres://bot:***@db.example:5432/decoupler"
    assert redact_url("sqlite:///var/x.db") == "sqlite:///var/x.db"
    assert "hunter2" not in redact_url("::hunter2::")


def test_memory_detection() -> None:
    assert is_memory_sqlite("sqlite://") and is_memory_sqlite(":memory:") and is_memory_sqlite("sqlite:///:memory:")
    assert not is_memory_sqlite("sqlite:///var/x.db")
    assert not is_memory_sqlite("postgresql://u@h/db")


def test_database_password_for_log_masking() -> None:
    assert database_password("postgres://bot:p%40ss@h/db") == "p@ss"
    assert database_password("postgresql://bot@h/db") is None
    assert database_password("sqlite:///var/x.db") is None
    assert database_password("garbage") is None
