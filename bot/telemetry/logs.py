"""Logging set-up: secrets are masked in every record; chatty loggers are kept at WARNING or above whatever
LOG_LEVEL says: HTTP clients print URLs that contain the Telegram token, database drivers print statements with
their parameters (webhook URLs with their tokens, per-hook secrets), discord.http prints interaction tokens."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from urllib.parse import urlsplit

from bot.config import Settings

QUIET_LOGGERS = ("httpx", "httpcore", "urllib3", "telegram.ext.Updater", "discord.gateway", "discord.http",
                 "matplotlib", "alembic.runtime.plugins", "alembic.runtime.migration", "apscheduler.scheduler",
                 "apscheduler.executors.default", "aiosqlite", "asyncpg", "sqlalchemy.engine", "sqlalchemy.pool",
                 "psycopg2", "redis")


class SecretMaskFilter(logging.Filter):
    def __init__(self, secrets: list[str]):
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        masked = message
        for secret in self.secrets:
            masked = masked.replace(secret, "***")
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            for secret in self.secrets:
                record.exc_text = record.exc_text.replace(secret, "***")
        if masked != message:
            record.msg, record.args = masked, None
        return True


def secrets_of(settings: Settings) -> list[str]:
    from bot.store.urls import database_password

    secrets = (settings.telegram_bot_token, settings.discord_bot_token, settings.telegram_webhook_secret,
               settings.webhook_secret, settings.redis_url)
    tokens = [s.get_secret_value() for s in secrets if s]
    redis_password = urlsplit(settings.redis_url.get_secret_value()).password if settings.redis_url else None
    return [*tokens, database_password(settings.database_url) or "", redis_password or ""]


class JsonFormatter(logging.Formatter):
    """LOG_FORMAT=json: one JSON object per line (time, level, logger, message, exception), for log shippers.
    Secrets are masked before formatting (SecretMaskFilter), in the message and the traceback alike."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def setup_logging(settings: Settings) -> None:
    handler = logging.StreamHandler()
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(SecretMaskFilter(secrets_of(settings)))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
