"""Interaction responses at the fake Discord: the callback (POST /interactions/{id}/{token}/callback) within the
ack deadline and only once, follow-ups and edits of @original through the interaction's webhook (a type-5 defer's
placeholder filled by the first), as Discord rules them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from tests.discord.fake_checks import check_choices, error_response, invalid_form
from tests.discord.fake_constants import (
    APP_ID,
    APPLICATION_COMMAND,
    APPLICATION_COMMAND_AUTOCOMPLETE_RESULT,
    AUTOCOMPLETE,
    CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
    DEFERRED_UPDATE_MESSAGE,
    EPHEMERAL,
    INTERACTION_FLAGS,
    LOADING,
    MESSAGE_COMPONENT,
    MODAL,
    MODAL_SUBMIT,
    PING,
    PONG,
    UPDATE_MESSAGE,
)
from tests.discord.fake_messages import MessagesMixin
from tests.discord.fake_records import Call, Callback, FakeInteraction, FakeMessage


class CallbacksMixin(MessagesMixin):
    """FakeDiscord's interaction callback, follow-up and webhook-message routes."""

    async def _api_callback(self, call: Call, interaction_id: str, token: str) -> Any:
        handle = self._by_id.get(int(interaction_id))
        if handle is None or handle.token != token:
            return error_response(404, 10062, "Unknown interaction")
        if handle.response is not None:
            handle.rejected.append((400, 40060))
            return error_response(400, 40060, "Interaction has already been acknowledged.")
        if call.at - handle.dispatched_at > self.ack_deadline:
            handle.rejected.append((404, 10062))
            return error_response(404, 10062, "Unknown interaction")
        body = call.json if isinstance(call.json, dict) else {}
        rtype = body.get("type")
        data = body.get("data") or {}
        allowed = {
            APPLICATION_COMMAND: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE, MODAL},
            MESSAGE_COMPONENT: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                                DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE, MODAL},
            AUTOCOMPLETE: {APPLICATION_COMMAND_AUTOCOMPLETE_RESULT},
            MODAL_SUBMIT: {CHANNEL_MESSAGE_WITH_SOURCE, DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                           DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE},
            PING: {PONG},
        }.get(handle.type, set())
        if rtype not in allowed:
            return invalid_form({("type",): ("INTERACTION_RESPONSE_TYPE_INVALID",
                                              f"Callback type {rtype} is not valid for interaction type "
                                              f"{handle.type}.")})
        message: FakeMessage | None = None
        if rtype == CHANNEL_MESSAGE_WITH_SOURCE:
            created = self._create(handle.channel_id, data, call.files, source="callback", handle=handle,
                                   flags=int(data.get("flags") or 0) & INTERACTION_FLAGS)
            if isinstance(created, web.Response):
                return created
            message = created
            handle.original_id = message.id
        elif rtype == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            flags = int(data.get("flags") or 0) & EPHEMERAL
            message = self._new_message(handle.channel_id, source="defer", handle=handle, flags=flags | LOADING)
            handle.original_id = message.id
            handle.deferred_flags = flags
        elif rtype in (DEFERRED_UPDATE_MESSAGE, UPDATE_MESSAGE):
            target = self.messages.get(int(handle.payload.get("message", {}).get("id", 0)))
            if target is None:
                return error_response(404, 10008, "Unknown Message")
            if rtype == UPDATE_MESSAGE:
                problem = self._edit(target, data, call.files)
                if problem is not None:
                    return problem
            message = target
            handle.original_id = target.id
        elif rtype == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            choices = data.get("choices")
            problem = check_choices(choices)
            if problem is not None:
                return problem
        handle.response = Callback(rtype, data, call.files, call.at, message)
        await self._notify()
        interaction: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        resource: dict[str, Any] = {"type": rtype}
        if message is not None:
            interaction.update(response_message_id=str(message.id),
                               response_message_loading=rtype == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE,
                               response_message_ephemeral=message.ephemeral)
            resource["message"] = message.data
        return {"interaction": interaction, "resource": resource}

    def _webhook_handle(self, call: Call, app_id: str, token: str) -> FakeInteraction | web.Response:
        handle = self._by_token.get(token)
        if handle is None or int(app_id) != APP_ID:
            return error_response(404, 10015, "Unknown Webhook")
        if call.at - handle.dispatched_at > self.token_ttl:
            return error_response(401, 50027, "Invalid Webhook Token")
        if handle.response is None or handle.response.type == APPLICATION_COMMAND_AUTOCOMPLETE_RESULT:
            return error_response(404, 10015, "Unknown Webhook")
        return handle

    async def _api_followup(self, call: Call, app_id: str, token: str) -> Any:
        handle = self._webhook_handle(call, app_id, token)
        if isinstance(handle, web.Response):
            return handle
        payload = call.json if isinstance(call.json, dict) else {}
        own_flags = int(payload.get("flags") or 0) & INTERACTION_FLAGS
        original = handle.original
        if handle.deferred_flags is not None and original is not None and not original.deleted:
            # The first follow-up after a type-5 defer fills the deferred message and takes its ephemeral flag
            # (once the deferred message is deleted, a follow-up is a new message with its own flags).
            problem = self._validate(payload, call.files, edit=False)
            if problem is not None:
                return problem
            self._apply(original, payload, call.files, edit=False)
            original.data["flags"] = (own_flags & ~EPHEMERAL) | handle.deferred_flags
            handle.deferred_flags = None
            message = original
        else:
            created = self._create(handle.channel_id, payload, call.files, source="followup", handle=handle,
                                   flags=own_flags)
            if isinstance(created, web.Response):
                return created
            message = created
        handle.followups.append(message)
        if call.query.get("wait", "").lower() in ("1", "true"):
            return message.data
        return web.Response(status=204)

    async def _api_webhook_message(self, call: Call, app_id: str, token: str, message_id: str) -> Any:
        handle = self._webhook_handle(call, app_id, token)
        if isinstance(handle, web.Response):
            return handle
        target_id = handle.original_id if message_id == "@original" else int(message_id)
        message = None if target_id is None else self.messages.get(target_id)
        if message is None or message.deleted or message not in handle.messages:
            return error_response(404, 10008, "Unknown Message")
        if call.method == "GET":
            return message.data
        if call.method == "DELETE":
            message.deleted = True
            return web.Response(status=204)
        payload = call.json if isinstance(call.json, dict) else {}
        if handle.deferred_flags is not None and message.id == handle.original_id:
            problem = self._validate(payload, call.files, edit=False)
            if problem is not None:
                return problem
            self._apply(message, payload, call.files, edit=False)
            message.data["flags"] = handle.deferred_flags
            handle.deferred_flags = None
            return message.data
        problem = self._edit(message, payload, call.files)
        return problem if problem is not None else message.data
