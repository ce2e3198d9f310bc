"""Inline buttons: a press edits the message in place; forged or stale data gets a polite answer."""

from __future__ import annotations

import logging

import pytest

from tests.telegram import updates
from tests.telegram.conftest import Harness


def button_data(call, label: str) -> str:
    rows = call.params["reply_markup"]["inline_keyboard"]
    return next(b["callback_data"] for row in rows for b in row if b["text"] == label)


async def test_pressing_a_window_button_edits_the_photo_in_place(harness: Harness) -> None:
    (photo,) = [c for c in await harness.command("/corr 90d") if c.method == "sendPhoto"]
    message = harness.message(photo)
    calls = await harness.process(updates.button_press(button_data(photo, "1y"), message))
    methods = [c.method for c in calls]
    assert "sendPhoto" not in methods and "sendMessage" not in methods
    (edit,) = [c for c in calls if c.method == "editMessageMedia"]
    assert edit.params["message_id"] == str(message["message_id"])
    media = edit.params["media"]
    assert media["type"] == "photo" and media["parse_mode"] == "HTML"
    assert "1-year" in media["caption"] or "365" in media["caption"] or "1y" in media["caption"]
    assert media["caption"] != photo.params["caption"]
    attached = media["media"].removeprefix("attach://")
    assert edit.files[attached].startswith(b"\x89PNG")
    assert "c|/corr 30d ETH RUT" in str(edit.params["reply_markup"])
    (answer,) = [c for c in calls if c.method == "answerCallbackQuery"]
    assert "text" not in answer.params
    assert methods.index("editMessageMedia") < methods.index("answerCallbackQuery")


async def test_pressing_a_text_button_edits_the_text(harness: Harness) -> None:
    (sent,) = await harness.command("/subscribe")
    message = harness.message(sent)
    calls = await harness.process(updates.button_press(button_data(sent, "My subscriptions"), message))
    (edit,) = [c for c in calls if c.method == "editMessageText"]
    assert "gets alerts for 1 pair" in edit.params["text"]
    assert [c.method for c in calls].count("answerCallbackQuery") == 1
    # pressed again: Telegram says "not modified"; the user just sees the spinner stop
    again = await harness.process(updates.button_press(button_data(sent, "My subscriptions"), message))
    assert [c.method for c in again].count("answerCallbackQuery") == 1
    assert [c.status for c in again if c.method == "editMessageText"] in ([], [400])
    assert "sendMessage" not in [c.method for c in again]


async def test_a_chart_button_under_a_text_message_sends_a_photo(harness: Harness) -> None:
    (welcome,) = await harness.command("/start")
    calls = await harness.process(updates.button_press(button_data(welcome, "90d"), harness.message(welcome)))
    assert "sendPhoto" in [c.method for c in calls]
    assert "editMessageText" not in [c.method for c in calls]


@pytest.mark.parametrize("data", [
    "garbage", "c|", "c|/nope 30d", "c|corr 30d", "c|/corr\n/help", "x" * 64, "c|/" + "é" * 30,
])
async def test_forged_or_stale_callback_data_gets_a_polite_answer(
    harness: Harness, data: str, caplog: pytest.LogCaptureFixture
) -> None:
    (photo,) = [c for c in await harness.command("/corr 30d") if c.method == "sendPhoto"]
    caplog.set_level(logging.WARNING)
    calls = await harness.process(updates.button_press(data, harness.message(photo)))
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert "no longer works" in calls[0].params["text"]
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_button_with_bad_arguments_explains_in_a_popup(harness: Harness) -> None:
    (photo,) = [c for c in await harness.command("/corr 30d") if c.method == "sendPhoto"]
    calls = await harness.process(updates.button_press("c|/corr 90x", harness.message(photo)))
    assert [c.method for c in calls] == ["answerCallbackQuery"]
    assert "Usage: /corr" in calls[0].params["text"] and calls[0].params["show_alert"] == "true"
    assert len(calls[0].params["text"]) <= 200


async def test_a_press_on_an_inaccessible_message_answers_with_a_new_message(harness: Harness) -> None:
    old = {"chat": updates.private_chat(), "message_id": 5, "date": 0}
    calls = await harness.process(updates.button_press("c|/beta 1y", old))
    assert [c.method for c in calls] == ["sendMessage", "answerCallbackQuery"]
    assert "beta" in calls[0].params["text"].lower()


async def test_admin_only_buttons_refuse_non_admins_without_touching_the_message(harness: Harness) -> None:
    group = updates.group_chat()
    harness.fake.set_member(group["id"], updates.ADA["id"], "administrator")
    (sent,) = [c for c in await harness.command("/subscribe", group) if c.method == "sendMessage"]
    # a button that runs an admin-only command, pressed by a plain member
    calls = await harness.process(updates.button_press("c|/unsubscribe all", harness.message(sent), updates.BOB))
    assert [c.method for c in calls] == ["getChatMember", "answerCallbackQuery"]
    assert "admins" in calls[-1].params["text"]
