"""Telegram presentation rules, without a server: escaping, limits, callback data, deep links."""

from __future__ import annotations

import html
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.ports.reply import Button
from handlers.telegram.format import (
    CALLBACK_LIMIT,
    CAPTION_LIMIT,
    TEXT_LIMIT,
    decode_button,
    encode_button,
    keyboard,
    split_html,
    tg_len,
)
from handlers.telegram.transport import deep_link, file_base_url

TAG = re.compile(r"</?b>")


def plain(chunks: list[str]) -> str:
    return html.unescape(TAG.sub("", "\n".join(chunks)))


def squeeze(text: str) -> str:
    return re.sub(r"\s+", "", text)


texts = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6000)


@settings(max_examples=150, deadline=None)
@given(texts)
def test_chunks_fit_the_limits_and_lose_nothing_but_whitespace(text: str) -> None:
    chunks = split_html(text, CAPTION_LIMIT, TEXT_LIMIT)
    assert all(tg_len(chunk) <= TEXT_LIMIT for chunk in chunks)
    if chunks:
        assert tg_len(chunks[0]) <= CAPTION_LIMIT
    assert squeeze(plain(chunks)) == squeeze(text)


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="<>&\"' ab\n😀", max_size=3000))
def test_markup_characters_are_always_escaped(text: str) -> None:
    for chunk in split_html(text):
        assert "<" not in TAG.sub("", chunk) and ">" not in TAG.sub("", chunk)
        assert re.search(r"&(?!lt;|gt;|amp;)", chunk) is None


def test_the_headline_is_bold_and_the_rest_is_not() -> None:
    assert split_html("ETH < RUT & co\nsecond <line>") == ["<b>ETH &lt; RUT &amp; co</b>\nsecond &lt;line&gt;"]


def test_a_long_text_is_cut_at_lines_then_spaces() -> None:
    lines = [f"line {i} " + "word " * 30 for i in range(60)]
    chunks = split_html("\n".join(lines), CAPTION_LIMIT, TEXT_LIMIT)
    assert len(chunks) >= 3
    assert tg_len(chunks[0]) <= CAPTION_LIMIT
    assert all(chunk.split("\n")[-1].startswith("line") or chunk.endswith("word") for chunk in chunks)
    one_line = split_html("word " * 2000)
    assert len(one_line) == 3 and all(tg_len(c) <= TEXT_LIMIT for c in one_line)


def test_blank_text_gives_no_chunks() -> None:
    assert split_html("") == []
    assert split_html("\n\n  \n") == []


def test_callback_data_round_trips_for_what_looks_like_a_command() -> None:
    data = encode_button("/corr 30d ETH RUT")
    assert data == "c|/corr 30d ETH RUT"
    assert decode_button(data) == "/corr 30d ETH RUT"
    for forged in (None, "", "garbage", "c|", "c|corr 30d", "x|/corr", "c|/corr\n/help", "c|/"):
        assert decode_button(forged) is None, forged
    assert decode_button("c|/nope 30d") == "/nope 30d"  # the runner answers an unknown command as a stale button


def test_callback_data_never_exceeds_64_bytes() -> None:
    assert encode_button("/corr " + "é" * 40) is None
    fits = "/corr " + "x" * (CALLBACK_LIMIT - len("c|/corr "))
    assert encode_button(fits) is not None and len(encode_button(fits).encode()) == CALLBACK_LIMIT
    markup = keyboard([[Button("ok", "/corr 30d"), Button("too long", "/corr " + "y" * 80)], [Button("x", "/z" * 40)]])
    assert markup is not None
    assert [[b.text for b in row] for row in markup.inline_keyboard] == [["ok"]]
    assert keyboard([]) is None


def test_deep_link_and_file_url() -> None:
    assert deep_link("/start subscribe") == "/subscribe"
    assert deep_link("/start@DecouplerTestBot subscribe") == "/subscribe"
    assert deep_link("/start") == "/start"
    assert deep_link("/start other") == "/start other"
    assert file_base_url("https://api.telegram.org/bot") == "https://api.telegram.org/file/bot"
    assert file_base_url("http://127.0.0.1:8081/bot") == "http://127.0.0.1:8081/file/bot"
