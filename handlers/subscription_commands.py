"""Subscription commands: /subscribe, /unsubscribe, /subscriptions.

`/subscribe scan [window]` and `/unsubscribe scan` handle the weekly scan digest, a universe-wide kind (no
pair): the chat's one universe-wide subscription (bot/store/universe_subscriptions.py) carries it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.alerts.kinds import ALERT_KINDS, DEFAULT_KINDS, UNIVERSE_KINDS, closest_kind, kinds_for_word
from bot.assets import find_asset
from bot.ports.reply import Button, Reply
from bot.store import Chat, DigestMode, Subscription, SubscriptionNotFound
from bot.windows import Window, looks_like_window, parse_window
from handlers.parsing import UsageError, shown
from handlers.registry import ASSET, BENCHMARK, WINDOW, Option, OptionKind, Request, command
from handlers.subscription_support import (
    UNIVERSE_LABEL,
    chat_window,
    describe,
    digest_word,
    follows,
    pair_label,
    pair_query,
    query_pair,
    run_in_chat,
    subscription_fields,
    threshold_words,
    when_words,
    words_of,
)

if TYPE_CHECKING:
    from bot.store import Store

ALL_WORDS = frozenset({"all", "everything"})


# ---------------------------------------------------------------- /subscribe

KINDS_DESCRIPTION = "Kinds to add, e.g. regime,gap (-gap removes; all = regime, divergence, record)"


@command(
    "subscribe",
    summary="Alerts for a pair in this chat",
    help="Alerts after each close when a pair's relationship changes. Kinds: regime (coupled ↔ decoupled "
    "↔ inverse), divergence (the asset strays from its beta), record (correlation at a record high or "
    "low); all three by default (that is what all means); gap (the gap to the beta line) on request. "
    "Kinds add up: /subscribe ETH RUT gap adds gap alerts to the pair's, -gap takes them away. No pair means "
    "the default pair; one ticker means it against the default benchmark. /subscribe scan [window]: the weekly "
    "scan digest instead — the top 5 of /scan with the correlation matrix, after the week's last NYSE session. "
    "Examples: /subscribe · /subscribe BTC SPY · /subscribe ETH RUT divergence 30d · /subscribe scan",
    admin_only=True,
    options=(ASSET, BENCHMARK, Option("kinds", OptionKind.CHOICE, KINDS_DESCRIPTION,
                                      choices=("all", *ALERT_KINDS), placeholder="kinds…", several=True),
             WINDOW),
)
async def subscribe_command(req: Request) -> Reply:
    return await run_in_chat(req, "subscribe", _subscribe, changes_settings=True)


async def _subscribe(req: Request, store: Store, chat: Chat) -> Reply:
    kinds, dropped, rest = _split_kinds(req.args)
    if dropped & UNIVERSE_KINDS:
        raise UsageError("/unsubscribe scan stops the scan digest")
    if kinds & UNIVERSE_KINDS:
        return await _subscribe_universe(req, store, chat, kinds, rest)
    explicit_window = any(looks_like_window(word) for word in rest)
    query = pair_query(req, rest, default_window=chat_window(req, chat).label)
    subscription, created = await store.subscribe(
        chat, query.asset.symbol, query.benchmark.symbol, window_days=query.window.days,
        kinds=(kinds or DEFAULT_KINDS) - dropped or DEFAULT_KINDS,
    )
    if created:
        lines = [
            f"Subscribed this chat to {pair_label(subscription.asset, subscription.benchmark)} alerts: "
            f"{describe(subscription)}. You'll get them {when_words(subscription)}.",
        ]
        if subscription.thresholds:
            lines.append(f"Thresholds: {threshold_words(subscription.thresholds)}.")
        if subscription.digest is DigestMode.DAILY:
            lines.append("They come in this chat's daily digest (/digest off for one message per alert).")
        lines.append("Fine-tune with /set; see all of this chat's alerts with /subscriptions.")
        return _subscription_reply(lines, subscription, created=True)
    before = subscription
    combined = (subscription.kinds | kinds) - dropped  # kinds add up; -kind takes one away
    if not combined:
        raise UsageError("That would leave no alerts: /unsubscribe stops them all")
    if combined != subscription.kinds:
        subscription = await store.set_kinds(chat, *subscription.legs, combined)
    if explicit_window and query.window.days != subscription.window_days:
        (subscription,) = await store.set_window(chat, query.window.days, pair=query_pair(query))
    label = pair_label(subscription.asset, subscription.benchmark)
    if subscription == before:
        text = f"This chat is already subscribed to {label} alerts: {describe(subscription)}. Nothing changed."
    else:
        text = f"Updated {label} alerts: now {describe(subscription)} (was {describe(before)})."
    return _subscription_reply([text], subscription, created=False)


async def _subscribe_universe(req: Request, store: Store, chat: Chat, kinds: frozenset[str], rest: list[str]
                              ) -> Reply:
    """`/subscribe scan [window]`: the weekly scan digest, at the chat's default window unless one is given."""
    if kinds - UNIVERSE_KINDS:
        raise UsageError("The scan digest goes alone: /subscribe scan [window]; pair alerts have their own "
                         "/subscribe")
    tickers = [word for word in rest if not looks_like_window(word)]
    if tickers:
        raise UsageError(f"The scan digest covers every pair, so it takes no ticker ('{shown(tickers[0])}'): "
                         "/subscribe scan [window]")
    if len(rest) > 1:
        raise UsageError("Give one window only")
    from bot.store.universe_subscriptions import UniverseSubscriptions  # SQLAlchemy: only when a chat subscribes

    window = parse_window(rest[0]) if rest else chat_window(req, chat)
    before, after = await UniverseSubscriptions(store.db).subscribe(chat, kinds, window_days=window.days,
                                                                    keep_window=not rest)
    label = Window(after.window_days).label
    if before is None:
        lines = [f"Subscribed this chat to {UNIVERSE_LABEL}: the top 5 of /scan ({label} window) with the "
                 "correlation matrix, once a week after the week's last NYSE session (Friday's close, Thursday's "
                 "when Friday is a holiday). /unsubscribe scan stops it."]
    elif before == after:
        lines = [f"This chat already gets {UNIVERSE_LABEL} ({label} window). Nothing changed."]
    else:
        lines = [f"Updated {UNIVERSE_LABEL}: now {describe(after)} (was {describe(before)})."]
    return _subscription_reply(lines, after, created=before is None)


def _subscription_reply(lines: list[str], subscription: Subscription, *, created: bool) -> Reply:
    return Reply(
        text="\n".join(lines),
        buttons=[[Button("My subscriptions", "/subscriptions")]],
        data={"created": created, "subscription": subscription_fields(subscription)},
    )


def _split_kinds(args: list[str]) -> tuple[frozenset[str], frozenset[str], list[str]]:
    """Alert-kind words out of the arguments (`regime`, `records`, `all`, or `regime,record`): the kinds to add,
    the kinds to take away (`-gap`), the other words."""
    kinds: set[str] = set()
    dropped: set[str] = set()
    rest: list[str] = []
    for word in words_of(args, split=","):
        chosen = kinds_for_word(word.removeprefix("-")) if len(word) > 1 else None
        if chosen is not None:
            (dropped if word.startswith("-") else kinds).update(chosen)
            continue
        meant = closest_kind(word) if find_asset(word) is None and not looks_like_window(word) else None
        if meant:
            raise UsageError(f"'{shown(word)}' is not an alert kind. Did you mean {meant}?")
        rest.append(word)
    return frozenset(kinds), frozenset(dropped), rest


# ---------------------------------------------------------------- /unsubscribe


@command(
    "unsubscribe",
    summary="Stop a pair's alerts in this chat",
    help="Stops alerts for a pair (the default pair when none is named), the weekly scan digest with "
    "/unsubscribe scan, or everything with /unsubscribe all. "
    "Examples: /unsubscribe · /unsubscribe BTC SPY · /unsubscribe scan · /unsubscribe all",
    admin_only=True,
    options=(Option("asset", OptionKind.ASSET, "The asset, or all for every pair"), BENCHMARK),
)
async def unsubscribe_command(req: Request) -> Reply:
    return await run_in_chat(req, "unsubscribe", _unsubscribe, changes_settings=True)


async def _unsubscribe(req: Request, store: Store, chat: Chat) -> Reply:
    words = words_of(req.args)
    if any(word.lower() in ALL_WORDS for word in words):
        if len(words) > 1:
            raise UsageError("'all' goes alone: /unsubscribe all")
        removed = await store.unsubscribe_all(chat)
        if not removed:
            return Reply(text="This chat had no subscriptions: nothing to stop.", data={"removed": []})
        pairs = ", ".join(pair_label(s.asset, s.benchmark) for s in removed)
        return Reply(
            text=f"Unsubscribed this chat from all alerts ({pairs}). /subscribe starts them again.",
            data={"removed": [s.pair for s in removed]},
        )
    universe = [kinds for word in words if (kinds := kinds_for_word(word)) and kinds <= UNIVERSE_KINDS]
    if universe:
        if len(universe) < len(words):
            raise UsageError("The scan digest goes alone: /unsubscribe scan")
        return await _unsubscribe_universe(store, chat, frozenset().union(*universe))
    query = pair_query(req, words, allow_window=False)
    asset, benchmark = query_pair(query)
    if not await store.unsubscribe(chat, asset, benchmark):
        raise SubscriptionNotFound((asset, benchmark))
    remaining = await store.list_subscriptions(chat)
    tail = follows(remaining) if remaining else "No more alerts here; /subscribe starts them again."
    return Reply(text=f"Unsubscribed this chat from {pair_label(asset, benchmark)} alerts. {tail}",
                 data={"removed": [f"{asset}:{benchmark}"]})


async def _unsubscribe_universe(store: Store, chat: Chat, kinds: frozenset[str]) -> Reply:
    from bot.store.universe_subscriptions import UniverseSubscriptions  # SQLAlchemy: only when a chat unsubscribes

    removed = await UniverseSubscriptions(store.db).unsubscribe(chat, kinds)
    remaining = await store.list_subscriptions(chat)
    if removed is None:
        raise UsageError(f"This chat doesn't get {UNIVERSE_LABEL}. {follows(remaining)}")
    tail = follows(remaining) if remaining else "No more alerts here; /subscribe starts them again."
    return Reply(text=f"Stopped {UNIVERSE_LABEL} in this chat. {tail}",
                 data={"removed": [removed[0].pair] if removed[1] is None else [], "kinds": sorted(kinds)})


# ---------------------------------------------------------------- /subscriptions


@command(
    "subscriptions",
    summary="This chat's alerts and settings",
    help="Every pair this chat gets alerts for, with kinds, window and thresholds, plus the chat's time "
    "zone, quiet hours and digest setting.",
)
async def subscriptions_command(req: Request) -> Reply:
    return await run_in_chat(req, "subscriptions", _subscriptions, changes_settings=False)


async def _subscriptions(req: Request, store: Store, chat: Chat) -> Reply:
    subscriptions = await store.list_subscriptions(chat)
    pairs = [s for s in subscriptions if not s.universe_wide]
    if subscriptions:
        count = len(pairs)
        lines = [f"This chat gets alerts for {count} pair{'s' if count > 1 else ''}:"] if pairs else []
        for s in subscriptions:
            if s.universe_wide:
                lines.append(f"{'• ' if pairs else 'This chat gets '}{UNIVERSE_LABEL}: window "
                             f"{Window(s.window_days).label} · the top 5 of /scan with the matrix, after the "
                             "week's last NYSE session")
                continue
            thresholds = threshold_words(s.thresholds) if s.thresholds else "default thresholds"
            digest = " · daily digest" if s.digest is DigestMode.DAILY else ""
            lines.append(f"• {pair_label(s.asset, s.benchmark)}: {describe(s)} · {thresholds}{digest}")
    else:
        default = req.services.settings.default_pair.replace(":", " vs ")
        lines = [f"This chat has no subscriptions yet. /subscribe starts {default} alerts."]
    quiet = chat.quiet_hours.label if chat.quiet_hours else "off"
    lines.append(f"Time zone {chat.timezone} · quiet hours {quiet} · digest {digest_word(chat.default_digest)}.")
    if chat.default_thresholds or chat.default_window_days:
        defaults = [f"window {Window(chat.default_window_days).label}"] if chat.default_window_days else []
        if chat.default_thresholds:
            defaults.append(threshold_words(chat.default_thresholds))
        lines.append(f"New subscriptions start with: {', '.join(defaults)}.")
    return Reply(
        text="\n".join(lines),
        data={
            "subscriptions": [subscription_fields(s) for s in subscriptions],
            "timezone": chat.timezone,
            "quiet_hours": chat.quiet_hours.label if chat.quiet_hours else None,
            "digest": chat.default_digest.value,
        },
    )


