"""Settings: the only module that reads the environment and `.env`."""

from __future__ import annotations

import ipaddress
import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.assets import all_assets, find_asset, known_symbols
from bot.windows import parse_window


class MarketDataMode(StrEnum):
    AUTO = "auto"
    LIVE = "live"
    SNAPSHOT = "snapshot"


_PAIR = re.compile(r"^[A-Za-z0-9^._-]{1,15}:[A-Za-z0-9^._-]{1,15}$")
_TELEGRAM_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")  # what Telegram accepts as a webhook secret_token
MIN_WEBHOOK_SECRET = 16
_OPERATOR = re.compile(r"^(telegram|discord):-?[0-9]{1,20}$")
# Crypto exchanges with an explicit quote-currency mapping in bot/market/sources/crypto.py.
SUPPORTED_EXCHANGES = ("binance", "coinbase", "kraken")


def listen_address(value: str) -> str:
    value = value.strip()
    try:
        ipaddress.ip_address(value)
    except ValueError:
        if not re.fullmatch(r"[A-Za-z0-9.-]{1,253}", value):
            raise ValueError("must be an address to listen on, such as 0.0.0.0, 127.0.0.1 or ::") from None
    return value


class Settings(BaseSettings):
    # allow_inf_nan=False: "inf" or "nan" in a number setting is refused like any other bad number
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore", allow_inf_nan=False)

    market_data: MarketDataMode = MarketDataMode.AUTO
    # Live market data: crypto exchanges in fallback order, per-request timeout, the time a command waits
    # for fresh prices before answering from the cache, and how long a failed source is left alone.
    exchanges: Annotated[list[str], NoDecode] = Field(default_factory=lambda: list(SUPPORTED_EXCHANGES))
    market_timeout_seconds: float = Field(default=4.0, gt=0, le=60)
    market_budget_seconds: float = Field(default=8.0, gt=0, le=300)
    source_cooldown_seconds: float = Field(default=300.0, ge=0, le=86400)
    database_url: str = "sqlite:///var/decoupler.sqlite3"
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    telegram_webhook_url: str | None = None  # set: webhook mode (Telegram posts updates here); unset: polling
    telegram_webhook_listen: str = "0.0.0.0"
    telegram_webhook_port: int = Field(default=8443, ge=1, le=65535)
    telegram_webhook_secret: SecretStr | None = None  # checked on every webhook request; random if unset
    telegram_admin_cache_seconds: float = Field(default=60.0, ge=0, le=86400)
    discord_bot_token: SecretStr | None = None
    # Discord's REST API and gateway (change for a proxy, or a local fake in tests); one guild to sync slash
    # commands to (instant, for development), else they are synced globally.
    discord_api_base_url: str = "https://discord.com/api/v10"
    discord_gateway_url: str = "wss://gateway.discord.gg/"
    discord_guild_id: int | None = Field(default=None, gt=0)
    log_level: str = "INFO"
    log_format: str = "text"  # text | json (one JSON object per line)
    # The HTTP server (/healthz, /metrics, the status page): off unless HTTP_PORT is set.
    http_port: int | None = Field(default=None, ge=0, le=65535)
    http_host: str = "127.0.0.1"
    # Several processes on one PostgreSQL share the per-platform send rate through Redis when this is set.
    redis_url: SecretStr | None = None
    # Alerts and deliveries older than this many days are pruned daily (price bars are kept).
    retention_days: int = Field(default=400, ge=7, le=36500)
    default_pair: str = "ETH:RUT"
    default_window: str = "90d"
    regime_windows: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["30d", "90d", "1y"])
    chart_dir: str = "var/charts"
    # Chart render processes of the server (unset: one per core; 0: render in threads of the bot's process).
    # One-off CLI commands always render in a thread.
    chart_workers: int | None = Field(default=None, ge=0, le=64)
    # Alerts: minutes after a session's close before it is evaluated; how long a delivery claim lasts before
    # another process may take it over; the secret that signs webhook requests, and their rate.
    alert_delay_minutes: int = Field(default=20, ge=15, le=360)  # a daily bar is final 15 min after the close
    delivery_lease_seconds: float = Field(default=120.0, ge=1, le=3600)
    webhook_secret: SecretStr | None = None
    webhook_max_per_second: float = Field(default=20.0, gt=0, le=1000)
    # Webhooks to loopback, link-local, private and other non-public addresses: refused unless this is set.
    allow_private_webhooks: bool = False
    # Who may add tickers in a chat (platform:user-id pairs); the command line always may. The list's cap.
    operator_ids: Annotated[frozenset[str], NoDecode] = Field(default_factory=frozenset)
    max_custom_assets: int = Field(default=20, ge=0, le=500)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("log_format")
    @classmethod
    def _log_format(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"text", "json"}:
            raise ValueError("must be text or json")
        return value

    @field_validator("http_port", "chart_workers", mode="before")
    @classmethod
    def _blank_port(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("http_host")
    @classmethod
    def _http_host(cls, value: str) -> str:
        return listen_address(value)

    @field_validator("redis_url", mode="before")
    @classmethod
    def _blank_redis(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("redis_url")
    @classmethod
    def _redis(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and urlsplit(value.get_secret_value()).scheme not in {"redis", "rediss", "unix"}:
            raise ValueError("must be a redis:// (or rediss://) URL, e.g. redis://127.0.0.1:6379/0")
        return value

    @field_validator("exchanges", mode="before")
    @classmethod
    def _split_exchanges(cls, value: object) -> object:
        return [v.strip().lower() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("exchanges")
    @classmethod
    def _exchanges(cls, value: list[str]) -> list[str]:
        unknown = [v for v in value if v not in SUPPORTED_EXCHANGES]
        if unknown:
            raise ValueError(f"unknown exchange {unknown[0]!r}; supported: {', '.join(SUPPORTED_EXCHANGES)}")
        if not value or len(set(value)) != len(value):
            raise ValueError("list each exchange once, in fallback order, e.g. binance,coinbase,kraken")
        return value

    @field_validator("webhook_secret", mode="before")
    @classmethod
    def _blank_secret_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("allow_private_webhooks", mode="before")
    @classmethod
    def _flag(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        word = value.strip().lower()
        if word not in {"", "0", "1", "false", "true", "no", "yes", "off", "on"}:
            raise ValueError("must be 1 (allow) or 0 (refuse, the default)")
        return word in {"1", "true", "yes", "on"}

    @field_validator("operator_ids", mode="before")
    @classmethod
    def _operators(cls, value: object) -> object:
        if not isinstance(value, str):
            return value
        ids = [v.strip().lower() for v in value.split(",") if v.strip()]
        bad = [v for v in ids if not _OPERATOR.match(v)]
        if bad:
            raise ValueError(f"'{bad[0][:30]}' is not platform:user-id; give e.g. telegram:123456789,discord:8035111")
        return frozenset(ids)

    @field_validator("default_pair")
    @classmethod
    def _pair(cls, value: str) -> str:
        if not _PAIR.match(value):
            raise ValueError("must look like ASSET:BENCHMARK, e.g. ETH:RUT")
        value = value.upper()
        assets = [find_asset(s) for s in value.split(":")]
        unknown = [s for s, a in zip(value.split(":"), assets, strict=True) if a is None]
        if unknown:
            raise ValueError(f"unknown ticker {unknown[0]}; known: {', '.join(known_symbols())}")
        if assets[0] is assets[1]:
            raise ValueError("name two different tickers, e.g. ETH:RUT (a ticker against itself is always 1)")
        return ":".join(a.symbol for a in assets if a is not None)

    @field_validator("telegram_api_base_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://api.telegram.org/bot")
        return value.strip()

    @field_validator("discord_api_base_url")
    @classmethod
    def _discord_api(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be an http(s) URL such as https://discord.com/api/v10")
        return value.strip().rstrip("/")

    @field_validator("discord_gateway_url")
    @classmethod
    def _discord_gateway(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in {"ws", "wss"} or not parts.hostname:
            raise ValueError("must be a ws(s) URL such as wss://gateway.discord.gg/")
        return value.strip()

    @field_validator("discord_guild_id", mode="before")
    @classmethod
    def _blank_guild(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("telegram_webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ValueError("must be the public https URL Telegram posts updates to")
        return value.strip()

    @field_validator("telegram_webhook_listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        return listen_address(value)

    @field_validator("telegram_webhook_secret")
    @classmethod
    def _telegram_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not _TELEGRAM_SECRET.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters from A-Z, a-z, 0-9, _ and -")
        return value

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_WEBHOOK_SECRET:
            raise ValueError(f"must be at least {MIN_WEBHOOK_SECRET} characters (receivers check signatures with it)")
        return value

    @model_validator(mode="after")
    def _shared_webhook_secret(self) -> Settings:
        if (self.telegram_webhook_url and self.telegram_webhook_secret is None
                and self.database_url.strip().startswith(("postgres", "postgresql"))):
            raise ValueError("TELEGRAM_WEBHOOK_SECRET: webhook mode on PostgreSQL may run in several processes, "
                             "which must all check the same secret: set one (1-256 of A-Z a-z 0-9 _ -)")
        return self

    @model_validator(mode="after")
    def _default_pair_has_data(self) -> Settings:
        if self.market_data is MarketDataMode.SNAPSHOT:
            missing = [s for s in self.default_pair.split(":") if not (asset := find_asset(s)) or not asset.bundled]
            if missing:
                bundled = ", ".join(a.symbol for a in all_assets() if a.bundled)
                raise ValueError(f"DEFAULT_PAIR: {missing[0]} has no bundled history, and MARKET_DATA=snapshot uses "
                                 f"nothing else; pick from {bundled}")
        return self

    @field_validator("default_window")
    @classmethod
    def _window(cls, value: str) -> str:
        return parse_window(value).label

    @field_validator("regime_windows", mode="before")
    @classmethod
    def _split(cls, value: object) -> object:
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @field_validator("regime_windows")
    @classmethod
    def _windows(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("give at least one window, e.g. 30d,90d,1y")
        return [parse_window(v).label for v in value]

    @field_validator(
        "telegram_bot_token", "discord_bot_token", "telegram_webhook_url", "telegram_webhook_secret", mode="before"
    )
    @classmethod
    def _blank_is_none(cls, value: object) -> object:
        return None if isinstance(value, str) and not value.strip() else value


class ConfigError(Exception):
    """A setting is invalid; the message names the variable and never includes its value."""


def load_settings(**overrides: object) -> Settings:
    try:
        return Settings(**overrides)  # type: ignore[arg-type]  # pydantic validates each value; that is the point
    except ValidationError as exc:
        err = exc.errors()[0]
        message = str(err["msg"]).removeprefix("Value error, ")
        if err["loc"]:
            name = str(err["loc"][0]).upper()
        else:  # a check across settings names its variable first: "DEFAULT_PAIR: …"
            name, _, message = message.partition(": ")
        raise ConfigError(f"Invalid setting {name}: {message}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
