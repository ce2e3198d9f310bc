"""Store fixtures: every `store` test runs on SQLite and on PostgreSQL.

SQLite: each test gets its own file, a copy of one migrated once per session. PostgreSQL (TEST_DATABASE_URL,
default postgres@127.0.0.1:5432/test, trust auth): each session — each pytest-xdist worker is a session of its
own — migrates its own schema `store_<worker>_<random>`
(engines point their search_path there, so alembic_version lives there too; dropped at the end) and each
test starts with its tables truncated. Tests about migrations themselves use `fresh_database`: a new empty
file or schema. If PostgreSQL is unreachable its half is skipped — or fails, when REQUIRE_POSTGRES=1 (CI
sets it: those tests must run there).
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from functools import cache
from pathlib import Path
from typing import TypeVar

import asyncpg
import pytest
import pytest_asyncio

from bot.store import Chat, Store, normalise_database_url, open_store
from bot.store.models import Base
from tests.store.support import Database

DEFAULT_TEST_DATABASE_URL = "postgresql://postgres@127.0.0.1:5432/test"
BACKENDS = ("sqlite", "postgresql")
T = TypeVar("T")


def postgres_url() -> str:
    return os.environ.get("TEST_DATABASE_URL") or DEFAULT_TEST_DATABASE_URL


def _asyncpg_dsn() -> str:
    # asyncpg takes a libpq-style postgresql:// DSN; the sync URL has that shape once its +driver is dropped.
    _, sync_url = normalise_database_url(postgres_url())
    return "postgresql://" + sync_url.split("://", 1)[1]


def _run_outside_the_test_loop(make: Callable[[], Awaitable[T]]) -> T:
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(lambda: asyncio.run(make())).result(timeout=60)  # type: ignore[arg-type]


async def _admin_execute(sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@cache
def postgres_problem() -> str | None:
    """None when PostgreSQL answers; else why not. Probed once per session."""
    try:
        _run_outside_the_test_loop(lambda: _admin_execute("SELECT 1"))
    except Exception as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def require_postgres() -> None:
    problem = postgres_problem()
    if problem is None:
        return
    message = f"PostgreSQL at TEST_DATABASE_URL is unreachable ({problem})"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{message}, and REQUIRE_POSTGRES=1 says these tests must run", pytrace=False)
    pytest.skip(message)


def _new_schema_name() -> str:
    """Unique per call; the xdist worker (gw0, gw1 …; `main` without xdist) in it says whose it is."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    return f"store_{worker}_{uuid.uuid4().hex[:12]}"


async def _migrate(database: Database) -> None:
    store = await database.open()
    await store.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "store.sqlite3"
    _run_outside_the_test_loop(lambda: _migrate(Database("sqlite", f"sqlite:///{path}")))
    return path


@pytest.fixture(scope="session")
def postgres_schema() -> Iterator[str]:
    require_postgres()
    schema = _new_schema_name()
    _run_outside_the_test_loop(lambda: _admin_execute(f'CREATE SCHEMA "{schema}"'))
    try:
        _run_outside_the_test_loop(lambda: _migrate(Database("postgresql", postgres_url(), schema)))
        yield schema
    finally:
        _run_outside_the_test_loop(lambda: _admin_execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))


@pytest_asyncio.fixture(params=BACKENDS)
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> Database:
    """A migrated database with no rows in it."""
    if request.param == "sqlite":
        path = tmp_path / "store.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return Database("sqlite", f"sqlite:///{path}")
    require_postgres()
    schema = request.getfixturevalue("postgres_schema")
    tables = ", ".join(f'"{schema}"."{table.name}"' for table in Base.metadata.sorted_tables)
    await _admin_execute(f"TRUNCATE {tables} RESTART IDENTITY CASCADE")
    return Database("postgresql", postgres_url(), schema)


@pytest_asyncio.fixture(params=BACKENDS)
async def fresh_database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database: no tables, no alembic_version."""
    if request.param == "sqlite":
        yield Database("sqlite", f"sqlite:///{tmp_path / 'var' / 'fresh.sqlite3'}")
        return
    async with _empty_postgres_schema() as schema:
        yield Database("postgresql", postgres_url(), schema)


@pytest_asyncio.fixture
async def fresh_postgres() -> AsyncIterator[Database]:
    async with _empty_postgres_schema() as schema:
        yield Database("postgresql", postgres_url(), schema)


@asynccontextmanager
async def _empty_postgres_schema() -> AsyncIterator[str]:
    require_postgres()
    schema = _new_schema_name()
    await _admin_execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        await _admin_execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest_asyncio.fixture
async def store(database: Database) -> AsyncIterator[Store]:
    opened = await database.open(migrate=False)  # already migrated; test_migrations covers start-up
    try:
        yield opened
    finally:
        await opened.close()


@pytest_asyncio.fixture
async def memory_store() -> AsyncIterator[Store]:
    """A SQLite memory store, for tests about input handling rather than the database."""
    opened = await open_store("sqlite://")
    try:
        yield opened
    finally:
        await opened.close()


@pytest_asyncio.fixture
async def chat(store: Store) -> Chat:
    return await store.upsert_chat("telegram", "-1001234567890123", "supergroup", "Traders")
