"""What a webhook request carries: the signed generic body, Slack's and Discord's messages, the headers."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time

import aiohttp

from bot.ports.reply import Reply

SIGNATURE_HEADER = "X-Decoupler-Signature"
TIMESTAMP_HEADER = "X-Decoupler-Timestamp"
DELIVERY_HEADER = "X-Decoupler-Delivery"
FOOTER = "Decoupler"


def sign(secret: str, timestamp: str, body: bytes) -> str:
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


SIGNATURE_TOLERANCE_SECONDS = 300.0


def verify_signature(secret: str, timestamp: str, body: bytes, signature: str, *,
                     tolerance: float = SIGNATURE_TOLERANCE_SECONDS, now: float | None = None) -> bool:
    """What a receiver checks (docs/webhooks.md): the signature matches `<timestamp>.<body>` under the hook's
    secret, and the timestamp is within `tolerance` seconds of now (either way), so a captured request can't be
    replayed later. Not a whole number of seconds: refused."""
    if not re.fullmatch(r"[0-9]{1,12}", timestamp):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def delivery_header(reply: Reply) -> str | None:
    """`X-Decoupler-Delivery`: the message's delivery ids, ascending and comma-joined (None when it has none)."""
    ids = reply.data.get("delivery_ids") or []
    return ",".join(str(i) for i in sorted(int(i) for i in ids)) or None


async def encode(reply: Reply) -> tuple[bytes, str]:
    """The generic multipart body and its Content-Type."""
    writer = aiohttp.MultipartWriter("form-data")
    alert = writer.append_json({**reply.data, "text": reply.text})
    alert.set_content_disposition("form-data", name="alert")
    if reply.chart is not None:
        chart = writer.append(reply.chart, {"Content-Type": "image/png"})
        chart.set_content_disposition("form-data", name="chart", filename=reply.chart_name)
    return await writer.as_bytes(), writer.content_type


def _facts(data: dict) -> list[tuple[str, str]]:
    """The alert's numbers as (name, value): kind, pair, window, as of, value (a bundle has none)."""
    names = (("kind", "Kind"), ("pair", "Pair"), ("window", "Window"), ("as_of", "As of"), ("value", "Value"))
    return [(label, str(data[key])) for key, label in names if data.get(key) not in (None, "")]


def shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def slack_message(reply: Reply) -> dict:
    """An incoming-webhook message: mrkdwn text, no files (Slack incoming webhooks take none)."""
    headline, _, rest = reply.text.partition("\n")
    lines = [f"*{_slack_escape(headline)}*"]
    if rest.strip():
        lines.append(_slack_escape(rest))
    facts = _facts(reply.data)
    if facts:
        lines.append(" · ".join(f"{label}: `{_slack_escape(value)}`" for label, value in facts))
    return {"text": shorten("\n".join(lines), 40_000), "mrkdwn": True, "unfurl_links": False, "unfurl_media": False}


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def discord_message(reply: Reply) -> dict:
    """An execute-webhook payload: one embed, the chart as its image when there is one."""
    headline, _, rest = reply.text.partition("\n")
    embed: dict = {"title": shorten(headline, 256), "footer": {"text": FOOTER}}
    if rest.strip():
        embed["description"] = shorten(rest, 4096)
    fields = [(label, value) for label, value in _facts(reply.data) if label != "Value"]
    if fields:
        embed["fields"] = [{"name": label, "value": shorten(value, 1024), "inline": True} for label, value in fields]
    payload: dict = {"embeds": [embed], "allowed_mentions": {"parse": []}}
    if reply.chart is not None:
        name = _file_name(reply.chart_name)
        embed["image"] = {"url": f"attachment://{name}"}
        payload["attachments"] = [{"id": 0, "filename": name}]
    return payload


def _file_name(name: str) -> str:
    safe = re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "chart"
    return safe if safe.lower().endswith(".png") else f"{safe}.png"


async def encode_discord(reply: Reply) -> tuple[bytes, str]:
    """JSON without a chart; with one, multipart `payload_json` + `files[0]`."""
    payload = discord_message(reply)
    if reply.chart is None:
        return json.dumps(payload).encode(), "application/json"
    writer = aiohttp.MultipartWriter("form-data")
    part = writer.append_json(payload)
    part.set_content_disposition("form-data", name="payload_json")
    chart = writer.append(reply.chart, {"Content-Type": "image/png"})
    chart.set_content_disposition("form-data", name="files[0]", filename=payload["attachments"][0]["filename"])
    return await writer.as_bytes(), writer.content_type
