"""DATABASE_URL in the forms people paste, turned into what the async engine and sync libraries accept.

The password of a URL never reaches a log or an error message: log `redact_url(url)`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.store.errors import DatabaseUrlError

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

ASYNC_SQLITE = "sqlite+aiosqlite"
SYNC_SQLITE = "sqlite"  # the standard library's sqlite3
ASYNC_POSTGRES = "postgresql+asyncpg"
SYNC_POSTGRES = "postgresql+psycopg2"  # used only when the URL names no sync driver
_SYNC_POSTGRES_DRIVERS = {"psycopg2", "psycopg", "pg8000"}
_MEMORY_ALIASES = {"", ":memory:"}


def normalise_database_url(url: str) -> tuple[str, str]:
    """Return `(async_url, sync_url)` for a SQLite or PostgreSQL URL.

    SQLite: `sqlite:///relative/path`, `sqlite:////absolute/path`, any `sqlite+driver`, and `sqlite://`,
    `sqlite:///:memory:` or a bare `:memory:` for an in-memory database (returned as `sqlite+aiosqlite://`).
    PostgreSQL: `postgresql://`, `postgres://` (Heroku style), `postgresql+asyncpg://`, `+psycopg2://` …
    `sslmode=` (libpq) becomes asyncpg's `ssl=` in the async URL and the reverse in the sync URL.
    """
    parsed = _parse(url)
    backend, _, driver = parsed.drivername.partition("+")
    if backend == "sqlite":
        if driver not in {"", "pysqlite", "aiosqlite"}:
            raise DatabaseUrlError(f"DATABASE_URL uses an unsupported SQLite driver '{driver}'")
        if (parsed.database or "") in _MEMORY_ALIASES:
            parsed = parsed._replace(database=None)  # URL.set() reads None as "leave as is"
        return _render(parsed.set(drivername=ASYNC_SQLITE)), _render(parsed.set(drivername=SYNC_SQLITE))
    if backend in {"postgresql", "postgres"}:
        if not parsed.database:
            raise DatabaseUrlError("DATABASE_URL names no PostgreSQL database (…/dbname at the end)")
        sync_driver = f"postgresql+{driver}" if driver in _SYNC_POSTGRES_DRIVERS else SYNC_POSTGRES
        async_url = _rename_query_key(parsed.set(drivername=ASYNC_POSTGRES), "sslmode", "ssl")
        sync_url = _rename_query_key(parsed.set(drivername=sync_driver), "ssl", "sslmode")
        return _render(async_url), _render(sync_url)
    raise DatabaseUrlError(
        f"DATABASE_URL must be a sqlite:// or postgresql:// URL, not '{_short(backend)}://'"
    )


def is_memory_sqlite(url: str) -> bool:
    parsed = _parse(url)
    return parsed.drivername.partition("+")[0] == "sqlite" and (parsed.database or "") in _MEMORY_ALIASES


def redact_url(url: str | URL) -> str:
    """The URL with its password replaced by ***, safe for logs."""
    try:
        parsed = _parse(url) if isinstance(url, str) else url
    except DatabaseUrlError:
        return "<invalid database URL>"
    return parsed.render_as_string(hide_password=True)


def database_password(url: str) -> str | None:
    """The password in `url`, for log masking (`bot.telemetry.logs.SecretMaskFilter`); None if there is none."""
    if "@" not in url:
        return None  # no credentials at all (sqlite:///…): nothing to parse
    try:
        return _parse(url).password
    except DatabaseUrlError:
        return None


def _parse(url: str) -> URL:
    from sqlalchemy.engine import make_url  # here: logging set-up asks for the password without SQLAlchemy
    from sqlalchemy.exc import ArgumentError

    text = url.strip()
    if text == ":memory:":
        text = "sqlite://"
    if not text:
        raise DatabaseUrlError("DATABASE_URL is empty")
    try:
        return make_url(text)
    except (ArgumentError, ValueError):
        raise DatabaseUrlError("DATABASE_URL is not a valid database URL (scheme://user@host/db)") from None


def _rename_query_key(url: URL, old: str, new: str) -> URL:
    if old not in url.query:
        return url
    query = dict(url.query)
    value = query.pop(old)
    query.setdefault(new, value)
    return url.set(query=query)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _short(text: str, limit: int = 20) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
