"""What the subscription and settings commands share: the frame every one of them runs in (store, chat row,
admin check, input errors as replies) and the words they read and write.

Settings (`/set`, `/digest`) apply chat-wide unless a pair is named: chat-wide, every subscription of the
chat changes and the value becomes the chat's default for pairs subscribed later. In groups and channels
only admins may change anything; anyone may read `/subscriptions`.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING

from bot.alerts.kinds import in_order
from bot.assets import find_asset
from bot.ports.reply import Reply, error_reply
from bot.render.text import num
from bot.store import Chat, DigestMode, SettingError, Subscription, SubscriptionNotFound
from bot.store.preferences import (
    INTEGER_THRESHOLDS,
    THRESHOLD_DEFAULTS,
)
from bot.windows import Window, WindowError, parse_window
from handlers.parsing import PairQuery, UsageError, parse_pair_args
from handlers.registry import COMMANDS, Request, is_admin

if TYPE_CHECKING:
    from bot.store import Store

MAX_WORDS = 24


Body = Callable[[Request, "Store", Chat], Awaitable[Reply]]


async def run_in_chat(req: Request, name: str, body: Body, *, changes_settings: bool) -> Reply:
    """Common frame: chat row ensured, admin checked, input errors turned into replies (a database that can't
    be reached is dispatch's to say)."""
    usage = COMMANDS[name].usage
    store = req.services.store
    chat = await ensure_chat(store, req)
    if changes_settings and not await may_change(req):
        return admins_only(req, name)
    try:
        return await body(req, store, chat)
    except (UsageError, SettingError, WindowError) as exc:
        return error_reply(sentence(str(exc)), usage)
    except SubscriptionNotFound as missing:
        subscriptions = await store.list_subscriptions(chat)
        return error_reply(
            f"This chat isn't subscribed to {pair_label(*missing.pair)}. {follows(subscriptions)}", usage)


async def ensure_chat(store: Store, req: Request) -> Chat:
    chat = await store.upsert_chat(req.chat.platform, req.chat.chat_id, req.chat.chat_kind, req.chat.title)
    if chat.active:
        return chat
    await store.reactivate(chat.platform, chat.chat_id)  # someone writes from there: we can deliver again
    return await store.get_chat(chat.platform, chat.chat_id) or chat


async def may_change(req: Request) -> bool:
    return req.chat.chat_kind == "private" or await is_admin(req.chat)


def admins_only(req: Request, name: str) -> Reply:
    where = "channel" if req.chat.chat_kind == "channel" else "group"
    return error_reply(
        f"Sorry, only this {where}'s admins can change its alerts and settings. "
        f"Ask an admin to send /{name}; anyone can see them with /subscriptions."
    )



def chat_wide_scope(changed: list[Subscription]) -> str:
    if not changed:
        return "It applies to the pairs you subscribe to from now on."
    pairs = ", ".join(pair_label(s.asset, s.benchmark) for s in changed)
    return f"Applied to {pairs}, and to pairs subscribed later."




def words_of(args: Iterable[str], split: str = "") -> list[str]:
    """Arguments as words (also split on `split` characters); `a = 1` is glued to `a=1`."""
    text = re.sub(r"\s*=\s*", "=", " ".join(args))
    if split:
        text = re.sub(f"[{re.escape(split)}]", " ", text)
    words = text.split()
    if len(words) > MAX_WORDS:
        raise UsageError(f"Too many words ({len(words)})")
    return words


def pair_query(req: Request, words: list[str], *, default_window: str | None = None,
                allow_window: bool = True) -> PairQuery:
    settings = req.services.settings
    return parse_pair_args(words, settings.default_pair, default_window or settings.default_window, allow_window)


def optional_pair(req: Request, words: list[str]) -> tuple[str, str] | None:
    """A named pair, or None (chat-wide) when no ticker was given."""
    if not words:
        return None
    return query_pair(pair_query(req, words, allow_window=False))


def query_pair(query: PairQuery) -> tuple[str, str]:
    return query.asset.symbol, query.benchmark.symbol


def chat_window(req: Request, chat: Chat) -> Window:
    if chat.default_window_days:
        return Window(chat.default_window_days)
    return parse_window(req.services.settings.default_window)


UNIVERSE_LABEL = "the weekly scan digest"  # a universe-wide subscription (no pair): its only kind so far


def pair_label(asset: str | None, benchmark: str | None) -> str:
    return f"{asset} vs {benchmark}" if asset is not None else UNIVERSE_LABEL


def describe(subscription: Subscription) -> str:
    kinds = ", ".join(in_order(subscription.kinds))
    return f"{kinds} · window {Window(subscription.window_days).label}"


def when_words(subscription: Subscription) -> str:
    legs = [find_asset(symbol) for symbol in (subscription.asset, subscription.benchmark) if symbol]
    if any(leg is not None and leg.calendar is not None for leg in legs):
        return "after each US close"
    return "after each UTC midnight"


def follows(subscriptions: list[Subscription]) -> str:
    if not subscriptions:
        return "It has no subscriptions."
    return f"It follows {', '.join(pair_label(s.asset, s.benchmark) for s in subscriptions)}."


def threshold_words(overrides: dict[str, float | int]) -> str:
    return ", ".join(
        f"{name} {threshold_value(name, value)} (default {threshold_value(name, THRESHOLD_DEFAULTS[name])})"
        for name, value in sorted(overrides.items())
    )


def threshold_value(name: str, value: float | int) -> str:
    if name in INTEGER_THRESHOLDS:
        return str(int(value))
    decimals = 1 if name.startswith("z_") else 2
    while round(value, decimals) != value and decimals < 3:
        decimals += 1
    return num(float(value), decimals)


def digest_word(mode: DigestMode) -> str:
    return "on" if mode is DigestMode.DAILY else "off"


def subscription_fields(subscription: Subscription) -> dict[str, object]:
    return {
        "pair": subscription.pair,
        "kinds": in_order(subscription.kinds),
        "window": Window(subscription.window_days).label,
        "thresholds": subscription.thresholds,
        "digest": subscription.digest.value,
    }


def sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else f"{message}."
