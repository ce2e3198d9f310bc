"""Alert tests run their store-backed cases on SQLite and PostgreSQL, with the store tests' fixtures
(per-session PostgreSQL schema, truncated per test; skipped when unreachable unless REQUIRE_POSTGRES=1).

The two slowest scenarios (a rate-limited fan-out, a killed delivery process) run on both backends at
once, in one test, to keep the suite short: `both_databases` gives a SQLite and a PostgreSQL database
(SQLite alone when PostgreSQL is unreachable and not required)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio
from sqlalchemy.engine import make_url

from bot.analysis.analyzer import PairAnalyzer
from bot.market.data import SnapshotMarketData
from bot.store.models import Base
from tests.store.conftest import (  # noqa: F401  (fixtures)
    _admin_execute,
    database,
    postgres_problem,
    postgres_schema,
    postgres_url,
    require_postgres,
    sqlite_template,
    store,
)
from tests.store.support import Database


@pytest.fixture(scope="session")
def snapshot_analyzer() -> PairAnalyzer:
    """One analyzer for the whole session: pairs are aligned once."""
    return PairAnalyzer(SnapshotMarketData())


def _use_postgres() -> bool:
    """PostgreSQL answers; or it does not and REQUIRE_POSTGRES=1 fails the test; or the test runs without it."""
    if postgres_problem() is None:
        return True
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        require_postgres()
    return False


@pytest_asyncio.fixture
async def both_databases(request: pytest.FixtureRequest, tmp_path: Path) -> list[Database]:
    """Migrated, empty databases: SQLite, and PostgreSQL when it answers (or REQUIRE_POSTGRES=1 fails)."""
    path = tmp_path / "both.sqlite3"
    shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
    databases = [Database("sqlite", f"sqlite:///{path}")]
    if _use_postgres():
        schema = request.getfixturevalue("postgres_schema")
        tables = ", ".join(f'"{schema}"."{table.name}"' for table in Base.metadata.sorted_tables)
        await _admin_execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
        databases.append(Database("postgresql", postgres_url(), schema))
    return databases


@pytest_asyncio.fixture
async def both_database_urls(tmp_path: Path) -> AsyncIterator[dict[str, str]]:
    """Database URLs a child process can use alone: a SQLite file, and a new PostgreSQL database."""
    urls = {"sqlite": f"sqlite:///{tmp_path / 'child.sqlite3'}"}
    name = None
    if _use_postgres():
        name = f"alerts_test_{uuid.uuid4().hex[:10]}"
        await _admin_execute(f'CREATE DATABASE "{name}"')
        urls["postgresql"] = make_url(postgres_url()).set(database=name).render_as_string(hide_password=False)
    try:
        yield urls
    finally:
        if name is not None:
            await _admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
