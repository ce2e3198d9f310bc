"""`python -m bot healthcheck`: ask this bot's /healthz (the container's HEALTHCHECK); exit 0 when it says ok."""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, Any

from bot.alerts.webhook_urls import mask_url

if TYPE_CHECKING:
    from bot.app import App


def add_commands(subparsers: Any) -> None:
    check = subparsers.add_parser("healthcheck", help="exit 0 if this bot's /healthz says ok (for containers)")
    check.add_argument("--url", help="default: http://127.0.0.1:$HTTP_PORT/healthz")
    check.add_argument("--timeout", type=float, default=4.0)
    check.set_defaults(handler=healthcheck)


async def healthcheck(app: App, args: argparse.Namespace) -> int:
    port = app.settings.http_port
    url = args.url or (f"http://127.0.0.1:{port}/healthz" if port else None)
    if url is None:
        print("unhealthy: HTTP_PORT is not set, so there is no /healthz to ask")
        return 1
    try:
        body = _health(url, args.timeout)
    except (OSError, ValueError) as exc:  # refused, timed out, or an answer that is not /healthz's JSON
        print(f"unhealthy: {mask_url(url)} did not answer ({type(exc).__name__})")
        return 1
    ok = body.get("status") == "ok"
    print("ok" if ok else f"unhealthy: {'; '.join(body.get('reasons') or ['status ' + str(body.get('status'))])}")
    return 0 if ok else 1


def _health(url: str, timeout: float) -> dict:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body = json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as failed:  # 503 "degraded" carries the same JSON
        with failed:
            body = json.loads(failed.read() or b"{}")
    if not isinstance(body, dict):
        raise ValueError("not a JSON object")
    return body
