"""Settings: the only module that reads the environment and `.env`."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache
from typing import Annotated

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.assets import find_asset, known_symbols
from bot.windows import parse_window


class MarketDataMode(StrEnum):
    AUTO = "auto"
    LIVE = "live"
    SNAPSHOT = "snapshot"


_PAIR = re.compile(r"^[A-Za-z0-9^._-]{1,15}:[A-Za-z0-9^._-]{1,15}$")
# Crypto exchanges with an explicit quote-currency mapping in bot/market/sources/crypto.py.
SUPPORTED_EXCHANGES = ("binance", "coinbase", "kraken")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

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
    telegram_admin_cache_seconds: float = Field(default=60.0, ge=0)
    discord_bot_token: SecretStr | None = None
    log_level: str = "INFO"
    default_pair: str = "ETH:RUT"
    default_window: str = "90d"
    regime_windows: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["30d", "90d", "1y"])
    chart_dir: str = "var/charts"
    # Alerts: minutes after a session's close before it is evaluated; how long a delivery claim lasts before
    # another process may take it over; the secret that signs webhook requests, and their rate.
    alert_delay_minutes: int = Field(default=20, ge=15, le=360)  # a daily bar is final 15 min after the close
    delivery_lease_seconds: float = Field(default=120.0, ge=1, le=3600)
    webhook_secret: SecretStr | None = None
    webhook_max_per_second: float = Field(default=20.0, gt=0, le=1000)

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
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

    @field_validator("default_pair")
    @classmethod
    def _pair(cls, value: str) -> str:
        if not _PAIR.match(value):
            raise ValueError("must look like ASSET:BENCHMARK, e.g. ETH:RUT")
        value = value.upper()
        unknown = [s for s in value.split(":") if find_asset(s) is None]
        if unknown:
            raise ValueError(f"unknown ticker {unknown[0]}; known: {', '.join(known_symbols())}")
        return value

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
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        name = str(err["loc"][0]).upper() if err["loc"] else "settings"
        raise ConfigError(f"Invalid setting {name}: {err['msg']}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
