"""The messages the fake Discord creates and edits (channel sends, interaction responses, follow-ups): Discord's
limits on them, their files and attachments, their mentions."""

from __future__ import annotations

import json
import re
import struct
from typing import Any

from aiohttp import web

from tests.discord.fake_checks import check_components, check_embeds, error_response, invalid_form
from tests.discord.fake_constants import (
    APP_ID,
    APPLICATION_COMMAND,
    BOT_USER,
    EPHEMERAL,
    IS_COMPONENTS_V2,
    SUPPRESS_EMBEDS,
)
from tests.discord.fake_model import FakeModel
from tests.discord.fake_records import FakeInteraction, FakeMessage, StoredFile, Upload, now_iso


class MessagesMixin(FakeModel):
    """Creating, validating and editing FakeDiscord's messages."""

    def _new_message(self, channel_id: int, *, source: str, handle: FakeInteraction | None,
                     flags: int) -> FakeMessage:
        message_id = self._snowflake()
        data: dict[str, Any] = {
            "id": str(message_id), "type": 0, "channel_id": str(channel_id),
            "author": {k: v for k, v in BOT_USER.items() if k not in ("email", "verified", "mfa_enabled", "locale")},
            "content": "", "timestamp": now_iso(), "edited_timestamp": None, "tts": False,
            "mention_everyone": False, "mentions": [], "mention_roles": [], "attachments": [], "embeds": [],
            "components": [], "pinned": False, "flags": flags,
        }
        if handle is not None:
            if handle.type == APPLICATION_COMMAND and source != "followup":
                data["type"] = 20  # CHAT_INPUT_COMMAND
            user = handle.payload.get("user") or handle.payload["member"]["user"]
            metadata: dict[str, Any] = {"id": str(handle.id), "type": handle.type, "user": user,
                                        "authorizing_integration_owners": handle.payload.get(
                                            "authorizing_integration_owners", {})}
            if source == "followup" and handle.original_id is not None:
                metadata["original_response_message_id"] = str(handle.original_id)
            data.update(webhook_id=str(APP_ID), application_id=str(APP_ID), interaction_metadata=metadata)
        message = FakeMessage(data, [], source, None if handle is None else handle.id)
        self.messages[message_id] = message
        return message

    def _create(self, channel_id: int, payload: dict[str, Any], uploads: list[Upload], *, source: str,
                handle: FakeInteraction | None, flags: int) -> FakeMessage | web.Response:
        problem = self._validate(payload, uploads, edit=False)
        if problem is not None:
            return problem
        message = self._new_message(channel_id, source=source, handle=handle, flags=flags)
        self._apply(message, payload, uploads, edit=False)
        return message

    def _edit(self, message: FakeMessage, payload: dict[str, Any], uploads: list[Upload]) -> web.Response | None:
        problem = self._validate(payload, uploads, edit=True)
        if problem is not None:
            return problem
        self._apply(message, payload, uploads, edit=True)
        if "flags" in payload and payload["flags"] is not None:
            keep = message.flags & (EPHEMERAL | IS_COMPONENTS_V2)
            message.data["flags"] = keep | (int(payload["flags"]) & SUPPRESS_EMBEDS)
        return None

    def _validate(self, payload: dict[str, Any], uploads: list[Upload], *, edit: bool) -> web.Response | None:
        errors: dict[tuple[str, ...], tuple[str, str]] = {}
        content = payload.get("content")
        if content is not None and len(str(content)) > 2000:
            errors[("content",)] = ("BASE_TYPE_MAX_LENGTH", "Must be 2000 or fewer in length.")
        embeds = payload.get("embeds") or []
        errors.update(check_embeds(embeds))
        if not int(payload.get("flags") or 0) & IS_COMPONENTS_V2:
            errors.update(check_components(payload.get("components") or []))
        if errors:
            return invalid_form(errors)
        for upload in uploads:
            if len(upload.data) > self.attachment_size_limit:
                return error_response(413, 40005, "Request entity too large")
        has_body = content or embeds or uploads or payload.get("components") or payload.get("sticker_ids") \
            or payload.get("poll")
        if not edit and not has_body:
            return error_response(400, 50006, "Cannot send an empty message")
        return None

    def _apply(self, message: FakeMessage, payload: dict[str, Any], uploads: list[Upload], *, edit: bool) -> None:
        data = message.data
        message.payloads.append(payload)
        for key, empty in (("content", ""), ("embeds", []), ("components", [])):
            if key in payload:
                data[key] = empty if payload[key] is None else json.loads(json.dumps(payload[key]))
        for key in ("tts", "nonce", "poll", "message_reference", "allowed_mentions"):
            if payload.get(key) is not None:
                data[key] = payload[key]
        if "message_reference" in data:
            data["message_reference"] = {"type": 0, "channel_id": data["channel_id"], **data["message_reference"]}
        _mentions(data, payload.get("allowed_mentions"))
        by_index: dict[int, Upload] = {}
        for position, upload in enumerate(uploads):
            index = re.fullmatch(r"files\[(\d+)\]", upload.field)
            by_index[int(index.group(1)) if index else position] = upload
        old = {stored.attachment_id: stored for stored in message.files}
        listed = payload.get("attachments")
        files: list[StoredFile] = []
        if listed is not None:
            for attachment in listed:
                ref = int(attachment["id"])
                if ref in old:
                    files.append(old[ref])
                elif ref in by_index:
                    files.append(self._store(by_index.pop(ref), attachment))
            files.extend(self._store(upload, {}) for upload in by_index.values())
        else:
            files = (list(message.files) if edit else []) + [self._store(u, {}) for u in uploads]
        message.files = files
        data["attachments"] = [self._attachment_payload(message, stored) for stored in files]
        by_name = {a["filename"]: a for a in data["attachments"]}
        for embed in data["embeds"]:
            embed.setdefault("type", "rich")
            for key in ("image", "thumbnail"):
                url = (embed.get(key) or {}).get("url") or ""
                if url.startswith("attachment://") and url[len("attachment://"):] in by_name:
                    attachment = by_name[url[len("attachment://"):]]
                    embed[key] = {"url": attachment["url"], "proxy_url": attachment["proxy_url"],
                                  **{k: attachment[k] for k in ("width", "height") if k in attachment}}
        if edit:
            data["edited_timestamp"] = now_iso()

    def _store(self, upload: Upload, attachment: dict[str, Any]) -> StoredFile:
        return StoredFile(self._snowflake(), attachment.get("filename") or upload.filename,
                          upload.content_type, upload.data, attachment.get("description"))

    def _attachment_payload(self, message: FakeMessage, stored: StoredFile) -> dict[str, Any]:
        url = f"{self.base_url}/attachments/{message.channel_id}/{stored.attachment_id}/{stored.filename}"
        out: dict[str, Any] = {"id": str(stored.attachment_id), "filename": stored.filename, "size": len(stored.data),
                               "url": url, "proxy_url": url, "content_type": stored.content_type}
        if stored.description:
            out["description"] = stored.description
        size = _png_size(stored.data)
        if size is not None:
            out["width"], out["height"] = size
        if message.ephemeral:
            out["ephemeral"] = True
        return out


def _mentions(data: dict[str, Any], allowed: dict[str, Any] | None) -> None:
    """Who the message's content pings, as Discord decides it: the mentions written in the content, limited by
    `allowed_mentions` (absent: everything written pings)."""
    content = str(data.get("content") or "")
    parse = set(allowed.get("parse", [])) if allowed is not None else {"everyone", "roles", "users"}
    roles = re.findall(r"<@&(\d+)>", content)
    users = re.findall(r"<@!?(\d+)>", content)
    data["mention_everyone"] = "everyone" in parse and ("@everyone" in content or "@here" in content)
    allowed_roles = {str(r) for r in (allowed or {}).get("roles", [])}
    data["mention_roles"] = [r for r in roles if "roles" in parse or r in allowed_roles]
    allowed_users = {str(u) for u in (allowed or {}).get("users", [])}
    data["mentions"] = [{"id": u} for u in users if "users" in parse or u in allowed_users]
    data.pop("allowed_mentions", None)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None
