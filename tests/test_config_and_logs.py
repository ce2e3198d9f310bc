from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from bot.config import ConfigError, MarketDataMode, Settings, load_settings
from bot.telemetry.logs import SecretMaskFilter

TOKEN = "1234:FAKE-token-for-tests-only"


def test_defaults():
    s = load_settings(_env_file=None, market_data="auto")
    assert s.market_data is MarketDataMode.AUTO
    assert s.default_pair == "ETH:RUT" and s.default_window == "90d"
    assert s.telegram_bot_token is None


def test_private_webhooks_are_refused_and_operators_listed_by_default_none(monkeypatch):
    monkeypatch.delenv("ALLOW_PRIVATE_WEBHOOKS", raising=False)  # the test suite sets it for its local receivers
    s = load_settings(_env_file=None)
    assert s.allow_private_webhooks is False and s.operator_ids == frozenset() and s.max_custom_assets == 20
    s = load_settings(allow_private_webhooks="1", operator_ids=" Telegram:123 ,discord:456,")
    assert s.allow_private_webhooks is True and s.operator_ids == {"telegram:123", "discord:456"}


def test_blank_token_means_none():
    assert load_settings(telegram_bot_token="  ").telegram_bot_token is None


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [("market_data", "sometimes", "MARKET_DATA"), ("default_pair", "ETH", "DEFAULT_PAIR"),
     ("log_level", "LOUD", "LOG_LEVEL"), ("default_window", "90x", "DEFAULT_WINDOW"),
     ("regime_windows", ["5d"], "REGIME_WINDOWS"), ("default_pair", "ETH:FOO", "DEFAULT_PAIR"),
     ("allow_private_webhooks", "maybe", "ALLOW_PRIVATE_WEBHOOKS"), ("operator_ids", "tg:1", "OPERATOR_IDS"),
     ("operator_ids", "telegram:me", "OPERATOR_IDS"), ("max_custom_assets", "-1", "MAX_CUSTOM_ASSETS")],
)
def test_bad_setting_names_the_variable(field, value, name):
    with pytest.raises(ConfigError, match=f"Invalid setting {name}"):
        load_settings(**{field: value})


def test_secret_never_in_repr_or_error():
    s = load_settings(telegram_bot_token=TOKEN)
    assert TOKEN not in repr(s) and TOKEN not in str(s.model_dump())
    with pytest.raises(ConfigError) as info:
        load_settings(telegram_bot_token=TOKEN, market_data="nope")
    assert TOKEN not in str(info.value)


def test_log_filter_masks_tokens_in_messages_and_tracebacks(caplog):
    logger = logging.getLogger("test.secret")
    handler_filter = SecretMaskFilter([TOKEN])
    logger.addFilter(handler_filter)
    try:
        with caplog.at_level(logging.INFO, logger="test.secret"):
            logger.info("POST https://api.telegram.org/bot%s/getMe", TOKEN)
            try:
                raise RuntimeError(f"failed url bot{TOKEN}/sendPhoto")
            except RuntimeError:
                logger.exception("send failed")
    finally:
        logger.removeFilter(handler_filter)
    text = caplog.text
    assert TOKEN not in text
    assert "bot***/getMe" in text and "bot***/sendPhoto" in text


SECRET_SETTINGS = {
    "TELEGRAM_BOT_TOKEN": "123456:AAbbCCddEEffGGhhIIjjKKllMMnnOOppQQr",
    "DISCORD_BOT_TOKEN": "MTIzNDU2Nzg5MDEyMzQ1Njc4.GhIjKl.discord-token-value-xyz",
    "TELEGRAM_WEBHOOK_SECRET": "tg-webhook-secret-value-0042",
    "WEBHOOK_SECRET": "outgoing-webhook-signing-secret-77",
    "REDIS_URL": "redis://:redis-password-9931@127.0.0.1:6379/0",
}
DATABASE_PASSWORD = "pg-Pa55word-never-shown"


@pytest.mark.parametrize("log_format", ["json", "text"])
def test_no_secret_reaches_a_log_line_in_either_format(log_format, monkeypatch):
    """Every token variable and the DATABASE_URL password are masked in messages, arguments and tracebacks,
    whether the line is text or JSON (LOG_FORMAT=json: one JSON object per line)."""
    import io
    import json

    from bot.config import load_settings
    from bot.telemetry.logs import setup_logging

    for name, value in SECRET_SETTINGS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", "https://bot.example.org/telegram")
    monkeypatch.setenv("DATABASE_URL", f"postgresql://decoupler:{DATABASE_PASSWORD}@db.example.org:5432/decoupler")
    monkeypatch.setenv("LOG_FORMAT", log_format)
    settings = load_settings()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(settings)
        stream = io.StringIO()
        root.handlers[0].setStream(stream)
        logger = logging.getLogger("test.secrets")
        secrets = [*SECRET_SETTINGS.values(), DATABASE_PASSWORD, "redis-password-9931"]
        for secret in secrets:
            logger.warning("calling https://api.example.org/bot%s/getMe", secret)
            logger.info(f"inline {secret} in the message")
            try:
                raise ConnectionError(f"refused: {secret}")
            except ConnectionError:
                logger.exception("request failed")
    finally:
        root.handlers[:], level = saved
        root.setLevel(level)
    text = stream.getvalue()
    lines = [line for line in text.splitlines() if line.strip()]
    assert len(lines) >= 3 * len(secrets)
    for secret in secrets:
        assert secret not in text, secret
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line is one JSON object
        assert all({"level", "logger", "message"} <= set(record) for record in records)
        assert sum("exception" in record for record in records) == len(secrets)


def test_every_setting_is_listed_in_env_example():
    listed = (Path(__file__).resolve().parents[1] / ".env.example").read_text(encoding="utf-8")
    missing = [name.upper() for name in Settings.model_fields
               if not re.search(rf"^#? ?{name.upper()}=", listed, re.MULTILINE)]
    assert missing == []
