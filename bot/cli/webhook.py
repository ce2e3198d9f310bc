"""`python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]  |  webhook list  |  webhook remove URL`."""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.alerts.kinds import ALERT_KINDS, DEFAULT_KINDS, in_order, kinds_for_word
from bot.cli import ArgumentProblem, one_line_errors
from bot.cli.alerts import pair_argument
from bot.config import Settings
from bot.windows import parse_window

if TYPE_CHECKING:
    from bot.app import App



def add_commands(subparsers: Any) -> None:
    webhook = one_line_errors(subparsers.add_parser("webhook", help="alert webhooks: add URL [pair] [kinds] | list "
                                                                    "| remove URL"))
    webhook.add_argument("action", choices=["add", "list", "remove"])
    webhook.add_argument("words", nargs="*", help="add: URL [ASSET:BENCHMARK] [kinds]; remove: URL")
    webhook.set_defaults(handler=webhook_command)


async def webhook_command(app: App, args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[App, list[str]], Awaitable[int]]] = {
        "add": _webhook_add, "list": _webhook_list, "remove": _webhook_remove,
    }
    return await actions[args.action](app, args.words)


def _webhook_words(settings: Settings, words: list[str]) -> tuple[str, tuple[str, str], frozenset[str]]:
    from bot.alerts.webhook import WebhookUrlError, check_webhook_url

    if not words:
        raise ArgumentProblem("webhook add needs a URL: webhook add https://example.com/hook [ETH:RUT] [kinds]")
    try:
        url = check_webhook_url(words[0])
    except WebhookUrlError as bad:
        raise ArgumentProblem(str(bad)) from None
    pair_words = [w for w in words[1:] if any(sep in w for sep in ":-/")]
    kind_words = [w for w in words[1:] if w not in pair_words]
    if len(pair_words) > 1:
        raise ArgumentProblem("give one pair, e.g. ETH:RUT")
    pair = pair_argument(pair_words[0] if pair_words else None, settings.default_pair)
    kinds: set[str] = set()
    for word in (part for w in kind_words for part in w.split(",") if part.strip()):
        named = kinds_for_word(word)
        if named is None:
            raise ArgumentProblem(f"'{word[:20]}' is not an alert kind: {', '.join(ALERT_KINDS)} or all")
        kinds |= named
    return url, pair, frozenset(kinds or DEFAULT_KINDS)


async def _webhook_add(app: App, words: list[str]) -> int:
    settings, store = app.settings, app.store
    url, (asset, benchmark), kinds = _webhook_words(settings, words)
    chat = await store.upsert_chat("webhook", url, "channel", url)
    if not chat.active:
        await store.reactivate("webhook", url)
    window = chat.default_window_days or parse_window(settings.default_window).days
    subscription, created = await store.subscribe(
        chat, asset, benchmark, window_days=window, kinds=kinds)
    if not created and subscription.kinds != kinds:
        subscription = await store.set_kinds(chat, asset, benchmark, kinds)
    shown = ", ".join(in_order(subscription.kinds))
    print(f"webhook {url}: {asset}:{benchmark} alerts ({shown}), {parse_window(f'{window}d').label} window"
          + ("" if created else " (it was already subscribed)"))
    if settings.webhook_secret is None:
        print("note: WEBHOOK_SECRET is not set; webhook deliveries stay pending until it is")
    return 0


async def _webhook_list(app: App, words: list[str]) -> int:
    rows = [row for row in await app.store.active_subscriptions() if row.chat.platform == "webhook"]
    if not rows:
        print("no webhooks; add one with: python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]")
    for chat, subscription in rows:
        kinds = ",".join(in_order(subscription.kinds))
        print(f"{chat.chat_id}  {subscription.pair}  {subscription.window_days}d  {kinds}")
    return 0


async def _webhook_remove(app: App, words: list[str]) -> int:
    if len(words) != 1:
        raise ArgumentProblem("webhook remove takes one URL")
    store = app.store
    chat = await store.get_chat("webhook", words[0].strip())
    if chat is None:
        raise ArgumentProblem(f"no webhook {words[0][:64]}")
    removed = await store.unsubscribe_all(chat)
    await store.mark_inactive("webhook", chat.chat_id, "removed by the operator")
    print(f"webhook {chat.chat_id} removed ({len(removed)} subscriptions)")
    return 0
