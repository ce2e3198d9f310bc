"""A signing secret per generic webhook: shown once by `webhook add`, replaced by `webhook rotate`; a receiver
can't forge alerts to another receiver. Hooks from before keep WEBHOOK_SECRET until rotated."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from bot.alerts.webhook_bodies import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from bot.app import App
from bot.cli import main
from bot.config import load_settings
from bot.ports.reply import Reply
from bot.store import open_store

SHARED = "the-shared-webhook-secret-0123"


class _Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, str, bytes]]  # path, timestamp, signature, body

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.received.append((self.path, self.headers[TIMESTAMP_HEADER], self.headers[SIGNATURE_HEADER], body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@pytest.fixture
def receiver() -> Iterator[tuple[str, list]]:
    received: list = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


def _secret_from(out: str) -> str:
    (line,) = [line for line in out.splitlines() if "signing secret" in line]
    return line.rsplit(" ", 1)[1]


def _send(database_url: str, url: str) -> None:
    async def send() -> None:
        app = App(load_settings(database_url=database_url, webhook_secret=SHARED, allow_private_webhooks=True))
        notifier = app._webhook_notifier()
        try:
            await notifier.send(url, Reply(text="🔔 test alert", data={"kind": "regime", "delivery_ids": [1]}))
        finally:
            await notifier.close()
            await app.close()

    asyncio.run(send())


def test_each_hook_signs_with_its_own_secret_shown_once_and_rotate_replaces_it(tmp_path: Path, monkeypatch, capsys,
                                                                               receiver):
    base, received = receiver
    database_url = f"sqlite:///{tmp_path / 'hooks.sqlite3'}"
    monkeypatch.setenv("DATABASE_URL", database_url)
    monkeypatch.setenv("WEBHOOK_SECRET", SHARED)
    monkeypatch.setattr("bot.telemetry.logs.setup_logging", lambda settings: None)
    first, second, old = f"{base}/first", f"{base}/second", f"{base}/old"

    assert main(["webhook", "add", first, "ETH:RUT"]) == 0
    first_secret = _secret_from(capsys.readouterr().out)  # today: no secret of its own
    assert main(["webhook", "add", second, "ETH:RUT"]) == 0
    second_secret = _secret_from(capsys.readouterr().out)
    assert first_secret.startswith("whsec_") and len(first_secret) >= 40 and first_secret != second_secret
    assert main(["webhook", "add", first, "BTC:SPY"]) == 0  # the same hook again: its secret is not shown again
    assert "signing secret" not in capsys.readouterr().out
    assert main(["webhook", "list"]) == 0
    listed = capsys.readouterr().out
    assert first_secret not in listed and f"{first}  signed JSON (own secret)  ETH:RUT" in listed

    async def add_old_hook() -> None:  # added before per-hook secrets: no row in webhook_secrets
        store = await open_store(database_url)
        chat = await store.upsert_chat("webhook", old, "channel")
        await store.subscribe(chat, "ETH", "RUT", window_days=90, kinds=frozenset({"regime"}))
        await store.close()

    asyncio.run(add_old_hook())
    for url in (first, second, old):
        _send(database_url, url)
    signed = {path: (stamp, signature, body) for path, stamp, signature, body in received}
    assert verify_signature(first_secret, signed["/first"][0], signed["/first"][2], signed["/first"][1])
    assert not verify_signature(second_secret, signed["/first"][0], signed["/first"][2], signed["/first"][1])
    assert not verify_signature(SHARED, signed["/first"][0], signed["/first"][2], signed["/first"][1])
    assert verify_signature(second_secret, signed["/second"][0], signed["/second"][2], signed["/second"][1])
    assert verify_signature(SHARED, signed["/old"][0], signed["/old"][2], signed["/old"][1])  # until rotated

    assert main(["webhook", "list"]) == 0
    assert f"{old}  signed JSON (WEBHOOK_SECRET)  ETH:RUT" in capsys.readouterr().out
    assert main(["webhook", "rotate", old]) == 0
    rotated = capsys.readouterr().out
    old_secret = _secret_from(rotated)
    assert "the old one no longer signs" in rotated and old_secret not in (first_secret, second_secret, SHARED)
    assert main(["webhook", "rotate", first]) == 0
    new_first = _secret_from(capsys.readouterr().out)
    received.clear()
    for url in (first, old):
        _send(database_url, url)
    signed = {path: (stamp, signature, body) for path, stamp, signature, body in received}
    assert verify_signature(new_first, signed["/first"][0], signed["/first"][2], signed["/first"][1])
    assert not verify_signature(first_secret, signed["/first"][0], signed["/first"][2], signed["/first"][1])
    assert verify_signature(old_secret, signed["/old"][0], signed["/old"][2], signed["/old"][1])


@pytest.mark.parametrize(
    ("url", "message"),
    [("https://hooks.slack.com/services/T1/B2/slackSecret", "is a Slack or Discord hook: its URL is its secret"),
     ("https://example.com/never-added?token=abc", "no webhook https://example.com/never-added?token=***")],
)
def test_rotate_refuses_slack_discord_and_unknown_hooks_in_one_line(tmp_path: Path, monkeypatch, capsys, url,
                                                                    message):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'hooks.sqlite3'}")
    monkeypatch.setattr("bot.telemetry.logs.setup_logging", lambda settings: None)
    assert main(["webhook", "add", "https://hooks.slack.com/services/T1/B2/slackSecret"]) == 0
    capsys.readouterr()
    assert main(["webhook", "rotate", url]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and "\n" not in err and "slackSecret" not in err and "abc" not in err


def test_the_receivers_snippet_in_the_docs_verifies_a_real_request_and_refuses_a_stale_one():
    import re
    import time

    from bot.alerts.webhook_bodies import sign

    guide = (Path(__file__).resolve().parents[2] / "docs" / "webhooks.md").read_text()
    (snippet,) = re.findall(r"```python\n(.*?)```", guide, re.S)
    namespace: dict = {}
    exec(snippet, namespace)
    verify = namespace["verify"]
    body, stamp = b'--x\r\nContent-Disposition: form-data; name="alert"\r\n\r\n{}\r\n--x--\r\n', str(int(time.time()))
    headers = {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: sign("whsec_abc", stamp, body)}
    assert verify("whsec_abc", headers, body)
    assert not verify("whsec_other", headers, body) and not verify("whsec_abc", headers, body + b" ")
    assert not verify("whsec_abc", headers, body, now=int(stamp) + 301)
    assert verify("whsec_abc", headers, body, now=int(stamp) + 300)
