"""`python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]  |  list  |  remove URL  |  enable URL  |  rotate URL`.

`list` shows every hook with subscriptions, disabled ones too (with the reason), and never a secret: passwords
in URLs, Slack's and Discord's secret path parts and secret-looking query values are shown as `***`.

A new generic (signed) hook gets its own signing secret, printed once by `add`; `rotate` replaces it (and gives
one to a hook that still signs with WEBHOOK_SECRET). Neither is shown again, nor logged.
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from bot.alerts.kinds import ALERT_KINDS, DEFAULT_KINDS, UNIVERSE_KINDS, in_order, kinds_for_word
from bot.cli import ArgumentProblem, one_line_errors, pair_argument
from bot.config import Settings
from bot.windows import parse_window

if TYPE_CHECKING:
    from bot.app import App
    from bot.store import Chat

PLATFORM = "webhook"


def add_commands(subparsers: Any) -> None:
    webhook = one_line_errors(subparsers.add_parser("webhook", help="alert webhooks: add URL [pair] [kinds] | list "
                                                                    "| remove URL | enable URL | rotate URL"))
    webhook.add_argument("action", choices=["add", "list", "remove", "enable", "rotate"])
    webhook.add_argument("words", nargs="*", help="add: URL [ASSET:BENCHMARK] [kinds]; remove, enable, rotate: URL")
    webhook.set_defaults(handler=webhook_command)


async def webhook_command(app: App, args: argparse.Namespace) -> int:
    actions: dict[str, Callable[[App, list[str]], Awaitable[int]]] = {
        "add": _webhook_add, "list": _webhook_list, "remove": _webhook_remove, "enable": _webhook_enable,
        "rotate": _webhook_rotate,
    }
    return await actions[args.action](app, args.words)


def _webhook_words(settings: Settings, words: list[str]) -> tuple[str, tuple[str, str], frozenset[str]]:
    from bot.alerts.webhook_urls import WebhookUrlError, check_webhook_url

    if not words:
        raise ArgumentProblem("webhook add needs a URL: webhook add https://example.com/hook [ETH:RUT] [kinds]")
    try:
        url = check_webhook_url(words[0], allow_private=settings.allow_private_webhooks)
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
        pair_kinds = [kind for kind in ALERT_KINDS if kind not in UNIVERSE_KINDS]
        if named is None:
            raise ArgumentProblem(f"'{word[:20]}' is not an alert kind: {', '.join(pair_kinds)} or all")
        if named & UNIVERSE_KINDS:  # no pair: a chat's digest (/subscribe scan), not a webhook's alert
            raise ArgumentProblem(f"'{word[:20]}' has no pair and goes to chats only: a webhook takes "
                                  f"{', '.join(pair_kinds)} or all")
        kinds |= named
    return url, pair, frozenset(kinds or DEFAULT_KINDS)


async def _webhook_add(app: App, words: list[str]) -> int:
    from bot.alerts.webhook_urls import HOOK_LABELS, HookKind, address_note, mask_url, recognise

    settings, store = app.settings, app.store
    url, (asset, benchmark), kinds = _webhook_words(settings, words)
    shown_url, kind = mask_url(url), recognise(url)
    new_hook = await store.get_chat(PLATFORM, url) is None
    chat = await store.upsert_chat(PLATFORM, url, "channel", shown_url)
    if not chat.active:
        await store.reactivate(PLATFORM, url)
    window = chat.default_window_days or parse_window(settings.default_window).days
    subscription, created = await store.subscribe(
        chat, asset, benchmark, window_days=window, kinds=kinds)
    if not created and subscription.kinds != kinds:
        subscription = await store.set_kinds(chat, asset, benchmark, kinds)
    shown = ", ".join(in_order(subscription.kinds))
    print(f"webhook {shown_url} ({HOOK_LABELS[kind]}): {asset}:{benchmark} alerts ({shown}), "
          f"{parse_window(f'{window}d').label} window" + ("" if created else " (it was already subscribed)"))
    note = address_note(url)
    if note:
        print(note)
    if kind is HookKind.GENERIC:
        await _signing_secret_note(app, chat.id, new_hook)
    return 0


async def _signing_secret_note(app: App, chat_pk: int, new_hook: bool) -> None:
    """A new hook's secret, printed this once; an old hook keeps signing with WEBHOOK_SECRET until rotated."""
    from bot.store.hook_secrets import HookSecrets

    secrets = HookSecrets(app.store.db)
    if new_hook:
        print(f"signing secret (shown once; give it to the receiver, see docs/webhooks.md): "
              f"{await secrets.replace(chat_pk)}")
    elif not await secrets.has_secret(chat_pk):
        shared = "WEBHOOK_SECRET" if app.settings.webhook_secret else "WEBHOOK_SECRET, which is not set"
        print(f"note: this hook signs with {shared}; give it its own with: python -m bot webhook rotate URL")


async def _webhook_rotate(app: App, words: list[str]) -> int:
    from bot.alerts.webhook_urls import HookKind, recognise
    from bot.store.hook_secrets import HookSecrets

    chat = await _known_hook(app, words, "rotate")
    if recognise(chat.chat_id) is not HookKind.GENERIC:
        raise ArgumentProblem(f"webhook {_shown(chat.chat_id)} is a Slack or Discord hook: its URL is its secret, "
                              "nothing is signed for it (make a new URL there, then remove this one and add it)")
    secret = await HookSecrets(app.store.db).replace(chat.id)
    print(f"webhook {_shown(chat.chat_id)}: new signing secret (shown once; the old one no longer signs): {secret}")
    return 0


async def _webhook_list(app: App, words: list[str]) -> int:
    from bot.alerts.webhook_urls import HOOK_LABELS, HookKind, mask_url, recognise
    from bot.store.hook_secrets import HookSecrets

    rows = await app.store.platform_subscriptions(PLATFORM)
    if not rows:
        print("no webhooks; add one with: python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]")
    secrets = HookSecrets(app.store.db)
    for chat, subscription in rows:
        kinds = ",".join(in_order(subscription.kinds))
        state = "" if chat.active else f"  OFF: {chat.inactive_reason or 'inactive'}"
        label = HOOK_LABELS[kind := recognise(chat.chat_id)]
        if kind is HookKind.GENERIC:  # which secret signs it: the upgrade note's question
            label += " (own secret)" if await secrets.has_secret(chat.id) else " (WEBHOOK_SECRET)"
        print(f"{mask_url(chat.chat_id)}  {label}  {subscription.pair}  "
              f"{subscription.window_days}d  {kinds}{state}")
    if any(not chat.active for chat, _ in rows):
        print("turn one back on with: python -m bot webhook enable URL")
    return 0


async def _webhook_remove(app: App, words: list[str]) -> int:
    chat = await _known_hook(app, words, "remove")
    store = app.store
    removed = await store.unsubscribe_all(chat)
    await store.mark_inactive(PLATFORM, chat.chat_id, "removed by the operator")
    print(f"webhook {_shown(chat.chat_id)} removed ({len(removed)} subscriptions)")
    return 0


async def _webhook_enable(app: App, words: list[str]) -> int:
    chat = await _known_hook(app, words, "enable")
    store = app.store
    subscriptions = await store.list_subscriptions(chat)
    if not subscriptions:
        raise ArgumentProblem(f"webhook {_shown(chat.chat_id)} has no subscriptions; add one with: "
                              "python -m bot webhook add URL [ASSET:BENCHMARK] [kinds]")
    if not await store.reactivate(PLATFORM, chat.chat_id):
        print(f"webhook {_shown(chat.chat_id)} is already on")
        return 0
    print(f"webhook {_shown(chat.chat_id)} is on again ({len(subscriptions)} subscriptions); "
          f"it was off: {chat.inactive_reason or 'inactive'}")
    return 0


async def _known_hook(app: App, words: list[str], action: str) -> Chat:
    if len(words) != 1:
        raise ArgumentProblem(f"webhook {action} takes one URL")
    chat = await app.store.get_chat(PLATFORM, words[0].strip())
    if chat is None:
        raise ArgumentProblem(f"no webhook {_shown(words[0])[:120]}")
    return chat


def _shown(url: str) -> str:
    from bot.alerts.webhook_urls import mask_url

    return mask_url(url)
