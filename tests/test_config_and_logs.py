from __future__ import annotations

import logging

import pytest

from bot.config import ConfigError, MarketDataMode, load_settings
from bot.logs import SecretMaskFilter

TOKEN = "1234:FAKE-token-for-tests-only"


def test_defaults():
    s = load_settings(_env_file=None, market_data="auto")
    assert s.market_data is MarketDataMode.AUTO
    assert s.default_pair == "ETH:RUT" and s.default_window == "90d"
    assert s.telegram_bot_token is None


def test_blank_token_means_none():
    assert load_settings(telegram_bot_token="  ").telegram_bot_token is None


@pytest.mark.parametrize(
    ("field", "value", "name"),
    [("market_data", "sometimes", "MARKET_DATA"), ("default_pair", "ETH", "DEFAULT_PAIR"),
     ("log_level", "LOUD", "LOG_LEVEL"), ("default_window", "90x", "DEFAULT_WINDOW"),
     ("regime_windows", ["5d"], "REGIME_WINDOWS"), ("default_pair", "ETH:FOO", "DEFAULT_PAIR")],
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
