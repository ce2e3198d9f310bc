"""Bot API update payloads, shaped as Telegram sends them (only the fields the bot reads, plus required ones)."""

from __future__ import annotations

import itertools
import time
from typing import Any

from tests.telegram.fake_bot_api import chat_member

_ids = itertools.count(10_000)
_message_ids = itertools.count(1)

ADA = {"id": 1001, "is_bot": False, "first_name": "Ada", "username": "ada"}
BOB = {"id": 1002, "is_bot": False, "first_name": "Bob"}
ANONYMOUS_ADMIN = {"id": 1087968824, "is_bot": True, "first_name": "Group", "username": "GroupAnonymousBot"}


def user(user_id: int, name: str = "Trader") -> dict[str, Any]:
    return {"id": user_id, "is_bot": False, "first_name": name}


def private_chat(of: dict[str, Any] = ADA) -> dict[str, Any]:
    return {"id": of["id"], "type": "private", "first_name": of["first_name"]}


def group_chat(chat_id: int = -1001234567890, title: str = "Traders", kind: str = "supergroup") -> dict[str, Any]:
    return {"id": chat_id, "type": kind, "title": title}


def channel_chat(chat_id: int = -1009876543210, title: str = "Signals") -> dict[str, Any]:
    return {"id": chat_id, "type": "channel", "title": title}


def message(text: str, chat: dict[str, Any], sender: dict[str, Any] | None = ADA, *,
            sender_chat: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    payload: dict[str, Any] = {"message_id": next(_message_ids), "date": int(time.time()), "chat": chat, "text": text}
    if sender is not None:
        payload["from"] = sender
    if sender_chat is not None:
        payload["sender_chat"] = sender_chat
    if text.startswith("/"):
        payload["entities"] = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]
    payload.update(extra)
    return payload


def command(text: str, chat: dict[str, Any] | None = None, sender: dict[str, Any] | None = ADA,
            **kw: Any) -> dict[str, Any]:
    chat = chat or private_chat(sender or ADA)
    kind = "channel_post" if chat["type"] == "channel" else "message"
    return {"update_id": next(_ids), kind: message(text, chat, sender, **kw)}


def button_press(data: str, on_message: dict[str, Any], presser: dict[str, Any] = ADA) -> dict[str, Any]:
    return {"update_id": next(_ids), "callback_query": {
        "id": f"cb{next(_ids)}", "from": presser, "chat_instance": "ci-1", "data": data, "message": on_message,
    }}


def my_chat_member(chat: dict[str, Any], old: str, new: str, by: dict[str, Any] = ADA) -> dict[str, Any]:
    me = {"id": 123456, "is_bot": True, "first_name": "Decoupler", "username": "DecouplerTestBot"}

    return {"update_id": next(_ids), "my_chat_member": {
        "chat": chat, "from": by, "date": int(time.time()), "old_chat_member": chat_member(me, old),
        "new_chat_member": chat_member(me, new),
    }}


def migrated_to(old_chat: dict[str, Any], new_chat_id: int) -> dict[str, Any]:
    """The service message Telegram posts in a group that became a supergroup."""
    return {"update_id": next(_ids), "message": {
        "message_id": next(_message_ids), "date": int(time.time()), "chat": old_chat, "from": ADA,
        "migrate_to_chat_id": new_chat_id,
    }}
