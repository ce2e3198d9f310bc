"""Settings: the only module that reads the environment and `.env`."""

from __future__ import annotations

import re
from enum import StrEnum
from functools import lru_cache

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class MarketDataMode(StrEnum):
    AUTO = "auto"
    LIVE = "live"
    SNAPSHOT = "snapshot"


_PAIR = re.compile(r"^[A-Za-z0-9^._-]{1,15}:[A-Za-z0-9^._-]{1,15}$")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    market_data: MarketDataMode = MarketDataMode.AUTO
    database_url: str = "sqlite:///var/decoupler.sqlite3"
    telegram_bot_token: SecretStr | None = None
    telegram_api_base_url: str = "https://api.telegram.org/bot"
    discord_bot_token: SecretStr | None = None
    log_level: str = "INFO"
    default_pair: str = "ETH:RUT"
    default_window: str = "90d"
    regime_windows: list[str] = Field(default_factory=lambda: ["30d", "90d", "1y"])
    chart_dir: str = "var/charts"

    @field_validator("log_level")
    @classmethod
    def _level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("must be one of DEBUG, INFO, WARNING, ERROR, CRITICAL")
        return value

    @field_validator("default_pair")
    @classmethod
    def _pair(cls, value: str) -> str:
        if not _PAIR.match(value):
            raise ValueError("must look like ASSET:BENCHMARK, e.g. ETH:RUT")
        return value.upper()

    @field_validator("telegram_bot_token", "discord_bot_token", mode="before")
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
