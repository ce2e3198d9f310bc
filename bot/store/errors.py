"""What went wrong with the database, in one line for an operator or a user: never a URL, never a password."""

from __future__ import annotations

import sqlite3


class DatabaseUrlError(ValueError):
    """DATABASE_URL cannot be used; the message never repeats the URL (it may hold a password)."""


class StoreUnavailable(RuntimeError):
    """The database cannot be reached or used right now; the message is one line, safe to show."""


class ConnectionLost(StoreUnavailable):
    """The connection broke under a statement (the server restarted, a proxy or an operator cut it): the pool
    drops it, so the same unit of work may succeed at once on a fresh one (`bot.store.database.unit_of_work`)."""

    def __init__(self, message: str = "database unavailable: the connection to it was lost") -> None:
        super().__init__(message)


_LOST_CONNECTION = ("ConnectionDoesNotExistError", "AdminShutdownError", "ConnectionFailureError",
                    "ConnectionResetError", "BrokenPipeError")


def is_connection_lost(exc: BaseException) -> bool:
    """A connection that broke under a statement: SQLAlchemy says it invalidated it, or the driver's error is one
    of a dropped connection (asyncpg's ConnectionDoesNotExistError arrives wrapped in a DBAPIError)."""
    if getattr(exc, "connection_invalidated", False):
        return True
    return any(type(link).__name__ in _LOST_CONNECTION for link in _chain(exc))


def unavailable(exc: BaseException) -> StoreUnavailable | None:
    """The one-line error for a connection lost, refused or failing (an OSError, bare or wrapped by SQLAlchemy);
    None for other errors (a constraint, a bug), which keep their own type."""
    if is_connection_lost(exc):
        return ConnectionLost()
    if any(isinstance(link, OSError) for link in _chain(exc)):
        return StoreUnavailable(describe_database_error(exc))
    return None


_SQLITE_PROBLEMS = (
    ("file is not a database", "the SQLite file is damaged or not a database"),
    ("readonly database", "the SQLite file is read-only for this user"),
    ("unable to open database file", "the SQLite file cannot be opened (check the folder exists and is writable)"),
    ("disk i/o error", "the disk failed while reading the SQLite file"),
    ("database disk image is malformed", "the SQLite file is damaged"),
    ("database is locked", "the SQLite file is locked by another process for too long"),
)
_POSTGRES_PROBLEMS = {
    "InvalidCatalogNameError": "PostgreSQL has no such database",
    "InvalidAuthorizationSpecificationError": "PostgreSQL does not know that role (user)",
    "InvalidPasswordError": "PostgreSQL refused the password",
    "TooManyConnectionsError": "PostgreSQL has no free connections",
    "CannotConnectNowError": "PostgreSQL is starting up or shutting down",
}


def _chain(exc: BaseException) -> list[BaseException]:
    """`exc` and what it wraps: SQLAlchemy keeps the driver's error in `.orig`, adapters in `__cause__`."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:
        seen.append(current)
        current = getattr(current, "orig", None) or current.__cause__ or current.__context__
    return seen


def describe_database_error(exc: BaseException) -> str:
    """A short reason for `exc` (a driver, SQLAlchemy or Alembic error)."""
    chain = _chain(exc)
    for link in chain:
        if type(link).__name__ in _POSTGRES_PROBLEMS:
            return f"database unavailable: {_POSTGRES_PROBLEMS[type(link).__name__]}"
        if isinstance(link, TimeoutError):
            return "database unavailable: it did not answer in time"
    inner = chain[1] if len(chain) > 1 else exc
    name = type(inner).__name__
    if isinstance(inner, TimeoutError):
        return "database unavailable: it did not answer in time"
    if isinstance(inner, ConnectionRefusedError) or "connection refused" in str(inner).lower():
        return "database unavailable: the server refused the connection (is it running?)"
    if isinstance(inner, OSError):
        return f"database unavailable: {(inner.strerror or type(inner).__name__).lower()}"
    if isinstance(inner, sqlite3.Error):
        text = str(inner).lower()
        for needle, reason in _SQLITE_PROBLEMS:
            if needle in text:
                return f"database unavailable: {reason}"
    if type(exc).__name__ == "CommandError" and "revision" in str(exc).lower():  # alembic
        return ("database unavailable: its schema revision is unknown to this version of Decoupler "
                "(was it migrated by a newer one?)")
    return f"database unavailable: {name}"


class ChatNotFound(LookupError):
    pass


class SubscriptionNotFound(LookupError):
    def __init__(self, pair: tuple[str, str]) -> None:
        super().__init__(f"not subscribed to {pair[0]} vs {pair[1]}")
        self.pair = pair
