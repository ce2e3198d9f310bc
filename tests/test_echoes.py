"""What a user typed comes back without the characters that rewrite a terminal or a chat line (ANSI escapes,
RTL overrides, zero-width characters), and tickers and windows are read after NFKC normalisation."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.alerts.webhook_urls import WebhookUrlError, check_webhook_url
from bot.cli import main
from bot.ports.reply import command_text, printable
from handlers.commands import dispatch
from handlers.registry import ChatContext
from tests.helpers import make_services

HIDDEN = ("\u202e", "\x1b", "\u200b", "\u2066", "\u200f", "\x07", "\u2028")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("/corr \u202eHTE", "'HTE'"),  # the RTL override would show it as ETH
        ("/corr \x1b[2J", "'[2J'"),  # the escape would clear the console
        ("/corr 90d \u2066FOO\u2069\x07", "'FOO'"),
        ("/crr\u200f", "/crr"),
        ("/subscribe ETH \u200bFOO", "'FOO'"),
    ],
)
async def test_hostile_characters_are_never_echoed(text, shown):
    reply = await dispatch(make_services(), text, ChatContext(platform="telegram", chat_id="1", user_id="1"))
    assert not reply.ok and shown in reply.text  # today: the hidden characters come back verbatim
    assert not any(char in reply.text or char in str(reply.data) for char in HIDDEN)


@pytest.mark.parametrize("text", ["/corr 90d ＥＴＨ RUT", "/corr 90d ETH\u200b RUT", "/corr ９０ｄ ETH RUT",
                                  "/corr 90d E\u00adTH RUT"])
async def test_full_width_and_invisible_characters_read_as_the_plain_ticker_and_window(text):
    services = make_services()
    plain = await dispatch(services, "/corr 90d ETH RUT", want_chart=False)
    reply = await dispatch(services, text, want_chart=False)
    assert reply.ok, reply.text  # today: "Unknown ticker 'ＥＴＨ'", "'ETH\u200b'"
    assert reply.text == plain.text


async def test_the_length_limit_holds_after_normalising():
    reply = await dispatch(make_services(), "/corr " + "\ufdfa" * 100)  # one character, 18 after NFKC
    assert not reply.ok and reply.text.startswith("That message is too long for a command (1,806 characters)")


def test_command_text_and_printable():
    assert command_text("/corr\tＥＴＨ\n９０ｄ") == "/corr ETH 90d"
    assert printable("line one\n\x1b[31mline two\u202e") == "line one\n[31mline two"


def test_the_command_line_echoes_nothing_hidden_and_reads_full_width_tickers(tmp_path: Path, capsys, monkeypatch):
    monkeypatch.setattr("bot.telemetry.logs.setup_logging", lambda settings: None)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'echo.sqlite3'}")
    assert main(["alerts", "--pair", "ETH:\u202eFOO\x1b[2J", "--from", "2024-01-01"]) == 2
    err = capsys.readouterr().err
    assert "unknown ticker 'FOO [2J'" in err and not any(char in err for char in HIDDEN)
    assert main(["webhook", "add", "https://example.com/hook", "\x1b[2Jregime\u202e"]) == 2
    err = capsys.readouterr().err
    assert "is not an alert kind" in err and not any(char in err for char in HIDDEN)
    for argv in (["\x1b[2Jrun"], ["ask", "/help", "--theme", "dark\u202e"]):
        with pytest.raises(SystemExit):
            main(argv)
        err = capsys.readouterr().err
        assert "invalid choice" in err and not any(char in err for char in HIDDEN)
    assert main(["alerts", "--pair", "ＥＴＨ:ＲＵＴ", "--from", "2024-04-01", "--to", "2024-05-01"]) == 0
    assert "ETH:RUT 90d" in capsys.readouterr().out


@pytest.mark.parametrize("url", ["https://example.com/\u202ekooh", "https://example.com/hook\u200b"])
def test_a_webhook_url_with_invisible_characters_is_refused(url):
    with pytest.raises(WebhookUrlError, match="invisible characters"):
        check_webhook_url(url)
