"""Migrations: applied at start-up (open_store) and by the alembic command line; they match the models."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import main as alembic_main
from alembic.runtime.migration import MigrationContext
from sqlalchemy import text
from sqlalchemy.engine import Connection, make_url

from bot.store import head_revision, open_store
from bot.store.migrate import HEAD_REVISION, alembic_config
from bot.store.models import Base
from tests.store.support import Database

ALEMBIC_INI = Path(__file__).resolve().parents[2] / "bot" / "store" / "alembic.ini"


def _differences(connection: Connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, Base.metadata)


async def test_models_and_migrations_agree(fresh_database: Database) -> None:
    store = await fresh_database.open()
    try:
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await store.close()


async def test_open_store_brings_the_schema_to_head(fresh_database: Database) -> None:
    assert head_revision() == HEAD_REVISION  # the constant that lets a current schema skip Alembic
    for _ in range(2):  # the second start-up finds nothing to do
        store = await fresh_database.open()
        assert await store.schema_revision() == head_revision()
        await store.close()


async def test_two_processes_starting_at_once_both_get_the_schema(fresh_database: Database) -> None:
    first, second = await asyncio.gather(fresh_database.open(), fresh_database.open())
    try:
        assert await first.schema_revision() == await second.schema_revision() == head_revision()
    finally:
        await first.close()
        await second.close()


async def test_migrate_false_leaves_the_database_alone(fresh_database: Database) -> None:
    untouched = await fresh_database.open(migrate=False)
    try:
        assert await untouched.schema_revision() is None
    finally:
        await untouched.close()


async def test_downgrade_and_upgrade_again(fresh_database: Database) -> None:
    def cycle(connection: Connection) -> list[str]:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.downgrade(config, "base")
        tables = sorted(connection.dialect.get_table_names(connection))
        command.upgrade(config, "head")
        return tables

    store = await fresh_database.open()
    try:
        async with store.engine.begin() as connection:
            assert await connection.run_sync(cycle) == ["alembic_version"]
        async with store.engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await store.close()


async def test_open_store_creates_the_folder_and_migrating_again_is_a_no_op(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'var' / 'bot.sqlite3'}"
    for _ in range(2):
        store = await open_store(url)
        await store.close()
    assert (tmp_path / "nested" / "var" / "bot.sqlite3").is_file()


def test_alembic_command_line_upgrades_and_sees_no_model_drift(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.sqlite3'}"
    alembic_main(["-c", str(ALEMBIC_INI), "-x", f"url={url}", "upgrade", "head"])
    alembic_main(["-c", str(ALEMBIC_INI), "-x", f"url={url}", "check"])  # raises if autogenerate finds changes


async def test_sqlite_runs_in_wal_mode_with_a_busy_timeout(tmp_path: Path) -> None:
    database = Database("sqlite", f"sqlite:///{tmp_path / 'wal.sqlite3'}")
    store = await database.open()
    try:
        async with store.engine.connect() as connection:
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
    finally:
        await store.close()


async def test_logs_never_show_the_password(fresh_postgres: Database, caplog: pytest.LogCaptureFixture) -> None:
    with_password = make_url(fresh_postgres.url).set(password="hunter2")  # trust auth ignores it
    url = with_password.render_as_string(hide_password=False)
    caplog.set_level(logging.DEBUG)
    store = await open_store(url, schema=fresh_postgres.schema)
    try:
        await store.upsert_chat("telegram", "1", "private", None)
        assert "hunter2" not in repr(store)
    finally:
        await store.close()
    assert "store: postgresql+asyncpg://postgres:***@" in caplog.text
    assert "hunter2" not in caplog.text


async def test_subscription_kinds_move_from_flags_to_names_and_nothing_is_lost(fresh_database: Database) -> None:
    """0003 kept one boolean column per kind; 0004 keeps their names, whatever the mix — and SQLite's rebuild of
    `alerts` must not cascade to its deliveries."""
    def to(revision: str):
        def step(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, revision) if revision < HEAD_REVISION else command.upgrade(config, revision)
        return step

    store = await fresh_database.open()
    try:
        async with store.engine.begin() as connection:
            await connection.run_sync(to("0003"))
            await connection.execute(
                text("INSERT INTO chats (id, platform, chat_id, kind) VALUES (1, 't', '1', 'private')"))
            flags = [(True, True, True), (True, False, True), (False, True, False)]
            for number, (regime, divergence, record) in enumerate(flags):
                await connection.execute(text(
                    "INSERT INTO subscriptions (chat_pk, asset, benchmark, alert_regime, alert_divergence, "
                    "alert_record, window_days) VALUES (1, 'ETH', :b, :r, :d, :c, 90)"),
                    {"b": f"B{number}", "r": regime, "d": divergence, "c": record})
            for statement in (  # an alert with a delivery and a media handle: rebuilding `alerts` must keep them
                "INSERT INTO rule_instances (id, asset, benchmark, window_days, calendar) "
                "VALUES (1, 'ETH', 'RUT', 90, 'XNYS')",
                "INSERT INTO alerts (id, rule_instance_id, kind, as_of, payload) VALUES (1, 1, 'regime', '2026-01-16', "
                "'{}')",
                "INSERT INTO deliveries (id, alert_id, chat_pk, platform, status, not_before, attempts) "
                "VALUES (7, 1, 1, 't', 'pending', '2026-01-16 21:20:00', 0)",
                "INSERT INTO alert_media (alert_id, platform, handle) VALUES (1, 't', 'file-1')",
            ):
                await connection.execute(text(statement))
            await connection.run_sync(to(HEAD_REVISION))
            query = text("SELECT benchmark, kinds FROM subscriptions ORDER BY benchmark")
            rows = (await connection.execute(query)).all()
            kept = (await connection.execute(text(
                "SELECT d.id, d.alert_id, m.handle FROM deliveries d JOIN alert_media m ON m.alert_id = d.alert_id"
            ))).all()
        assert rows == [("B0", "divergence,record,regime"), ("B1", "record,regime"), ("B2", "divergence")]
        assert kept == [(7, 1, "file-1")]
    finally:
        await store.close()
