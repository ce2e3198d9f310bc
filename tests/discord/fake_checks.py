"""Discord's checks of a request's payload (embeds, components, commands and their options, autocomplete
choices) with the error bodies it answers (400 50035 "Invalid Form Body" with its tree of errors), and the reading
of a request's body (JSON or multipart)."""

from __future__ import annotations

import json
import re
from typing import Any

from aiohttp import BodyPartReader, web

from tests.discord.fake_records import Upload

_COMMAND_NAME = re.compile(r"^[-_\w]{1,32}$")


def check_embeds(embeds: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(embeds) > 10:
        errors[("embeds",)] = ("BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        return errors
    total = 0
    limits = {"title": 256, "description": 4096}
    for i, embed in enumerate(embeds):
        at = ("embeds", str(i))
        for key, limit in limits.items():
            text = embed.get(key) or ""
            total += len(text)
            if len(text) > limit:
                errors[(*at, key)] = ("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        for key, sub, limit in (("footer", "text", 2048), ("author", "name", 256)):
            text = (embed.get(key) or {}).get(sub) or ""
            total += len(text)
            if len(text) > limit:
                errors[(*at, key, sub)] = ("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")
        fields = embed.get("fields") or []
        if len(fields) > 25:
            errors[(*at, "fields")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        for j, embed_field in enumerate(fields):
            for key, limit in (("name", 256), ("value", 1024)):
                text = str(embed_field.get(key) or "")
                total += len(text)
                if not text:
                    errors[(*at, "fields", str(j), key)] = ("BASE_TYPE_REQUIRED", "This field is required")
                elif len(text) > limit:
                    errors[(*at, "fields", str(j), key)] = ("BASE_TYPE_MAX_LENGTH",
                                                            f"Must be {limit} or fewer in length.")
    if total > 6000:
        errors[("embeds",)] = ("MAX_EMBED_SIZE_EXCEEDED", "Embed size exceeds maximum size of 6000")
    return errors


def check_components(rows: list[dict[str, Any]]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(rows) > 5:
        errors[("components",)] = ("BASE_TYPE_MAX_LENGTH", "Must be 5 or fewer in length.")
        return errors
    seen: set[str] = set()
    for i, row in enumerate(rows):
        at = ("components", str(i))
        if row.get("type") != 1:
            errors[(*at, "type")] = ("UNION_TYPE_CHOICES", "Top-level components must be action rows.")
            continue
        children = row.get("components") or []
        if not children or len(children) > 5:
            errors[(*at, "components")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 5 in length.")
        for j, child in enumerate(children):
            where = (*at, "components", str(j))
            custom_id = child.get("custom_id")
            if child.get("type") == 2 and child.get("style") not in (5, 6) and not custom_id:
                errors[(*where, "custom_id")] = ("BASE_TYPE_REQUIRED", "This field is required")
            if custom_id is not None:
                if len(custom_id) > 100:
                    errors[(*where, "custom_id")] = ("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
                if custom_id in seen:
                    errors[(*where, "custom_id")] = ("COMPONENT_CUSTOM_ID_DUPLICATED",
                                                     "Component custom id cannot be duplicated")
                seen.add(custom_id)
            if len(child.get("label") or "") > 80:
                errors[(*where, "label")] = ("BASE_TYPE_MAX_LENGTH", "Must be 80 or fewer in length.")
            if len(child.get("options") or []) > 25:
                errors[(*where, "options")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    return errors


def check_commands(commands: list[Any]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    seen: set[tuple[str, int]] = set()
    if sum(1 for c in commands if isinstance(c, dict) and c.get("type", 1) == 1) > 100:
        errors[()] = ("BASE_TYPE_MAX_LENGTH", "Must be 100 or fewer in length.")
    for i, command in enumerate(commands):
        if not isinstance(command, dict):
            errors[(str(i),)] = ("DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType")
            continue
        name, ctype = str(command.get("name") or ""), command.get("type", 1)
        if ctype == 1 and (not _COMMAND_NAME.match(name) or name != name.lower()):
            errors[(str(i), "name")] = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        elif not 1 <= len(name) <= 32:
            errors[(str(i), "name")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 32 in length.")
        description = command.get("description") or ""
        if ctype == 1 and not 1 <= len(description) <= 100:
            errors[(str(i), "description")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if (name, ctype) in seen:
            errors[(str(i), "name")] = ("APPLICATION_COMMANDS_DUPLICATE_NAME",
                                        "Application command names must be unique")
        seen.add((name, ctype))
        errors.update(check_options(command.get("options") or [], (str(i), "options")))
    return errors


def check_options(options: list[dict[str, Any]], at: tuple[str, ...]) -> dict[tuple[str, ...], tuple[str, str]]:
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(options) > 25:
        errors[at] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    optional_seen = False
    for j, option in enumerate(options):
        where = (*at, str(j))
        name = str(option.get("name") or "")
        if not _COMMAND_NAME.match(name) or name != name.lower():
            errors[(*where, "name")] = ("APPLICATION_COMMAND_INVALID_NAME", "Command name is invalid")
        if not 1 <= len(option.get("description") or "") <= 100:
            errors[(*where, "description")] = ("BASE_TYPE_BAD_LENGTH", "Must be between 1 and 100 in length.")
        if len(option.get("choices") or []) > 25:
            errors[(*where, "choices")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
        if option.get("type") in (1, 2):
            errors.update(check_options(option.get("options") or [], (*where, "options")))
        elif option.get("required"):
            if optional_seen:
                errors[(*where, "required")] = ("APPLICATION_COMMAND_OPTIONS_REQUIRED_INVALID",
                                                "Required options must be placed before non-required options")
        else:
            optional_seen = True
    return errors


def check_choices(choices: Any) -> web.Response | None:
    if not isinstance(choices, list):
        return invalid_form({("data", "choices"): ("BASE_TYPE_REQUIRED", "This field is required")})
    errors: dict[tuple[str, ...], tuple[str, str]] = {}
    if len(choices) > 25:
        errors[("data", "choices")] = ("BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.")
    for i, choice in enumerate(choices):
        if not 1 <= len(str(choice.get("name") or "")) <= 100:
            errors[("data", "choices", str(i), "name")] = ("BASE_TYPE_BAD_LENGTH",
                                                           "Must be between 1 and 100 in length.")
    return invalid_form(errors) if errors else None


async def read_body(request: web.Request) -> tuple[Any, list[Upload]]:
    """The JSON body (or multipart payload_json) and the uploaded files. Reads multipart as a stream, so
    client_max_size's cap on `request.post()` does not apply."""
    if request.content_type.startswith("multipart/"):
        payload: Any = None
        uploads: list[Upload] = []
        reader = await request.multipart()
        while True:
            part = await reader.next()
            if part is None:
                break
            if not isinstance(part, BodyPartReader):
                continue
            raw = bytes(await part.read(decode=False))
            if part.name == "payload_json":
                payload = json.loads(raw)
            elif part.filename is not None:
                uploads.append(Upload(part.name or "", part.filename, part.headers.get("Content-Type"), raw))
        return payload, uploads
    raw = await request.read()
    if not raw:
        return None, []
    return json.loads(raw), []


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    # Exactly "application/json": discord.py compares the header verbatim (aiohttp would add "; charset=utf-8").
    return web.Response(body=json.dumps(data).encode(), status=status,
                        headers={"Content-Type": "application/json", **(headers or {})})


def error_response(status: int, code: int, message: str, errors: dict[str, Any] | None = None) -> web.Response:
    body: dict[str, Any] = {"message": message, "code": code}
    if errors:
        body["errors"] = errors
    return json_response(body, status)


def invalid_form(errors: dict[tuple[str, ...], tuple[str, str]]) -> web.Response:
    tree: dict[str, Any] = {}
    for path, (code, message) in errors.items():
        node = tree
        for key in path:
            node = node.setdefault(key, {})
        node.setdefault("_errors", []).append({"code": code, "message": message})
    return error_response(400, 50035, "Invalid Form Body", tree)
