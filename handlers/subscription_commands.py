"""Subscription commands: /subscribe, /unsubscribe, /subscriptions, /set, /quiet, /tz, /digest.

Settings (`/set`, `/digest`) apply chat-wide unless a pair is named: chat-wide, every subscription of the
chat changes and the value becomes the chat's default for pairs subscribed later. In groups and channels
only admins may change anything; anyone may read `/subscriptions`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Awaitable, Callable, Iterable
from datetime import datetime
from zoneinfo import ZoneInfo

from bot.assets import find_asset
from bot.render.text import num
from bot.reply import Button, Reply, error_reply
from bot.store import (
    ALL_ALERT_KINDS,
    AlertKind,
    Chat,
    DigestMode,
    SettingError,
    Store,
    Subscription,
    SubscriptionNotFound,
)
from bot.store.preferences import (
    INTEGER_THRESHOLDS,
    QUIET_OFF_WORDS,
    THRESHOLD_DEFAULTS,
    parse_quiet_hours,
    parse_threshold_value,
    resolve_timezone,
    threshold_name,
)
from bot.windows import Window, WindowError, looks_like_window, parse_window
from handlers.parsing import PairQuery, UsageError, parse_pair_args, shown
from handlers.registry import COMMANDS, Request, command

KIND_WORDS: dict[str, frozenset[AlertKind]] = {
    "all": ALL_ALERT_KINDS,
    **{kind.value: frozenset({kind}) for kind in AlertKind},
    **{f"{kind.value}s": frozenset({kind}) for kind in AlertKind},
    "div": frozenset({AlertKind.DIVERGENCE}),
}
ALL_WORDS = frozenset({"all", "everything"})
ON_WORDS = frozenset({"on", "yes", "true", "daily", "1"})
OFF_WORDS = frozenset({"off", "no", "false", "instant", "0"})
RESET_WORDS = frozenset({"reset", "default", "defaults"})
SETTING_WORDS = {"threshold": "threshold", "thresholds": "threshold", "window": "window"}
MAX_WORDS = 24


Body = Callable[[Request, Store, Chat], Awaitable[Reply]]


async def _run(req: Request, name: str, body: Body, *, changes_settings: bool) -> Reply:
    """Common frame: store present, chat row ensured, admin checked, input errors turned into replies."""
    usage = COMMANDS[name].usage
    store: Store | None = getattr(req.services, "store", None)
    if store is None:
        return error_reply("Subscriptions need the database, which isn't open right now. Please try again later.")
    chat = await _ensure_chat(store, req)
    if changes_settings and not await _may_change(req):
        return _admins_only(req, name)
    try:
        return await body(req, store, chat)
    except (UsageError, SettingError, WindowError) as exc:
        return error_reply(_sentence(str(exc)), usage)
    except SubscriptionNotFound as missing:
        subscriptions = await store.list_subscriptions(chat)
        return error_reply(f"This chat isn't subscribed to {_pair(*missing.pair)}. {_follows(subscriptions)}", usage)


async def _ensure_chat(store: Store, req: Request) -> Chat:
    chat = await store.upsert_chat(req.chat.platform, req.chat.chat_id, req.chat.chat_kind, req.chat.title)
    if chat.active:
        return chat
    await store.reactivate(chat.platform, chat.chat_id)  # someone writes from there: we can deliver again
    return await store.get_chat(chat.platform, chat.chat_id) or chat


async def _may_change(req: Request) -> bool:
    return req.chat.chat_kind == "private" or await req.chat.is_admin()


def _admins_only(req: Request, name: str) -> Reply:
    where = "channel" if req.chat.chat_kind == "channel" else "group"
    return error_reply(
        f"Sorry, only this {where}'s admins can change its alerts and settings. "
        f"Ask an admin to send /{name}; anyone can see them with /subscriptions."
    )


# ---------------------------------------------------------------- /subscribe


@command(
    "subscribe", "[asset benchmark] [kinds…] [window]",
    summary="Alerts for a pair in this chat",
    help="Alerts after each close when a pair's relationship changes. Kinds: regime (coupled ↔ decoupled "
    "↔ inverse), divergence (the asset strays from its beta), record (correlation at a record high or "
    "low); all three by default. No pair means the default pair; one ticker means it against the default "
    "benchmark. Examples: /subscribe · /subscribe BTC SPY · /subscribe ETH RUT divergence 30d",
    admin_only=True, options=("asset", "benchmark", "kinds"),
)
async def subscribe_command(req: Request) -> Reply:
    return await _run(req, "subscribe", _subscribe, changes_settings=True)


async def _subscribe(req: Request, store: Store, chat: Chat) -> Reply:
    kinds, rest = _split_kinds(req.args)
    explicit_window = any(looks_like_window(word) for word in rest)
    query = _pair_query(req, rest, default_window=_chat_window(req, chat).label)
    subscription, created = await store.subscribe(
        chat, query.asset.symbol, query.benchmark.symbol, window_days=query.window.days,
        kinds=kinds or ALL_ALERT_KINDS,
    )
    if created:
        lines = [
            f"Subscribed this chat to {_pair(subscription.asset, subscription.benchmark)} alerts: "
            f"{_describe(subscription)}. You'll get them {_when(subscription)}.",
        ]
        if subscription.thresholds:
            lines.append(f"Thresholds: {_threshold_words(subscription.thresholds)}.")
        if subscription.digest is DigestMode.DAILY:
            lines.append("They come in this chat's daily digest (/digest off for one message per alert).")
        lines.append("Fine-tune with /set; see all of this chat's alerts with /subscriptions.")
        return _subscription_reply(lines, subscription, created=True)
    before = subscription
    if kinds and kinds != subscription.kinds:
        subscription = await store.set_kinds(chat, subscription.asset, subscription.benchmark, kinds)
    if explicit_window and query.window.days != subscription.window_days:
        (subscription,) = await store.set_window(chat, query.window.days, pair=_query_pair(query))
    label = _pair(subscription.asset, subscription.benchmark)
    if subscription == before:
        text = f"This chat is already subscribed to {label} alerts: {_describe(subscription)}. Nothing changed."
    else:
        text = f"Updated {label} alerts: now {_describe(subscription)} (was {_describe(before)})."
    return _subscription_reply([text], subscription, created=False)


def _subscription_reply(lines: list[str], subscription: Subscription, *, created: bool) -> Reply:
    return Reply(
        text="\n".join(lines),
        buttons=[[Button("My subscriptions", "/subscriptions")]],
        data={"created": created, "subscription": _fields(subscription)},
    )


def _split_kinds(args: list[str]) -> tuple[frozenset[AlertKind], list[str]]:
    """Alert-kind words out of the arguments (`regime`, `records`, `all`, or `regime,record`)."""
    kinds: set[AlertKind] = set()
    rest: list[str] = []
    for word in _words(args, split=","):
        chosen = KIND_WORDS.get(word.lower())
        if chosen is not None:
            kinds |= chosen
            continue
        meant = _close_kind(word) if find_asset(word) is None and not looks_like_window(word) else None
        if meant:
            raise UsageError(f"'{shown(word)}' is not an alert kind. Did you mean {meant}?")
        rest.append(word)
    return frozenset(kinds), rest


def _close_kind(word: str) -> str | None:
    close = difflib.get_close_matches(word.lower(), [kind.value for kind in AlertKind], n=1, cutoff=0.75)
    return close[0] if close else None


# ---------------------------------------------------------------- /unsubscribe


@command(
    "unsubscribe", "[asset benchmark | all]",
    summary="Stop a pair's alerts in this chat",
    help="Stops alerts for a pair (the default pair when none is named), or for every pair with "
    "/unsubscribe all. Examples: /unsubscribe · /unsubscribe BTC SPY · /unsubscribe all",
    admin_only=True, options=("asset", "benchmark"),
)
async def unsubscribe_command(req: Request) -> Reply:
    return await _run(req, "unsubscribe", _unsubscribe, changes_settings=True)


async def _unsubscribe(req: Request, store: Store, chat: Chat) -> Reply:
    words = _words(req.args)
    if any(word.lower() in ALL_WORDS for word in words):
        if len(words) > 1:
            raise UsageError("'all' goes alone: /unsubscribe all")
        removed = await store.unsubscribe_all(chat)
        if not removed:
            return Reply(text="This chat had no subscriptions: nothing to stop.", data={"removed": []})
        pairs = ", ".join(_pair(s.asset, s.benchmark) for s in removed)
        return Reply(
            text=f"Unsubscribed this chat from all alerts ({pairs}). /subscribe starts them again.",
            data={"removed": [s.pair for s in removed]},
        )
    query = _pair_query(req, words, allow_window=False)
    asset, benchmark = _query_pair(query)
    if not await store.unsubscribe(chat, asset, benchmark):
        raise SubscriptionNotFound((asset, benchmark))
    remaining = await store.list_subscriptions(chat)
    tail = _follows(remaining) if remaining else "No more alerts here; /subscribe starts them again."
    return Reply(text=f"Unsubscribed this chat from {_pair(asset, benchmark)} alerts. {tail}",
                 data={"removed": [f"{asset}:{benchmark}"]})


# ---------------------------------------------------------------- /subscriptions


@command(
    "subscriptions", "",
    summary="This chat's alerts and settings",
    help="Every pair this chat gets alerts for, with kinds, window and thresholds, plus the chat's time "
    "zone, quiet hours and digest setting.",
)
async def subscriptions_command(req: Request) -> Reply:
    return await _run(req, "subscriptions", _subscriptions, changes_settings=False)


async def _subscriptions(req: Request, store: Store, chat: Chat) -> Reply:
    subscriptions = await store.list_subscriptions(chat)
    if subscriptions:
        count = len(subscriptions)
        lines = [f"This chat gets alerts for {count} pair{'s' if count > 1 else ''}:"]
        for s in subscriptions:
            thresholds = _threshold_words(s.thresholds) if s.thresholds else "default thresholds"
            digest = " · daily digest" if s.digest is DigestMode.DAILY else ""
            lines.append(f"• {_pair(s.asset, s.benchmark)}: {_describe(s)} · {thresholds}{digest}")
    else:
        default = req.services.settings.default_pair.replace(":", " vs ")
        lines = [f"This chat has no subscriptions yet. /subscribe starts {default} alerts."]
    quiet = chat.quiet_hours.label if chat.quiet_hours else "off"
    lines.append(f"Time zone {chat.timezone} · quiet hours {quiet} · digest {_digest_word(chat.default_digest)}.")
    if chat.default_thresholds or chat.default_window_days:
        defaults = [f"window {Window(chat.default_window_days).label}"] if chat.default_window_days else []
        if chat.default_thresholds:
            defaults.append(_threshold_words(chat.default_thresholds))
        lines.append(f"New subscriptions start with: {', '.join(defaults)}.")
    return Reply(
        text="\n".join(lines),
        data={
            "subscriptions": [_fields(s) for s in subscriptions],
            "timezone": chat.timezone,
            "quiet_hours": chat.quiet_hours.label if chat.quiet_hours else None,
            "digest": chat.default_digest.value,
        },
    )


# ---------------------------------------------------------------- /set


@command(
    "set", "threshold <name>=<value>… | threshold reset | window <w> [asset benchmark]",
    summary="Change alert thresholds or the window",
    help="Without a pair, the change applies to every pair in this chat and to pairs subscribed later; "
    "with one, to that pair only. Thresholds (defaults): "
    + ", ".join(f"{name} {value}" for name, value in THRESHOLD_DEFAULTS.items())
    + ". Correlation levels must keep the order inverse_enter < inverse_exit < decoupled_enter < "
    "decoupled_exit < coupled_exit < coupled_enter. Examples: /set threshold dwell=3 z_enter=3 · "
    "/set threshold coupled_enter=0.6 BTC SPY · /set threshold reset · /set window 30d",
    admin_only=True, options=("setting", "values"),
)
async def set_command(req: Request) -> Reply:
    return await _run(req, "set", _set, changes_settings=True)


async def _set(req: Request, store: Store, chat: Chat) -> Reply:
    words = _words(req.args, split=",")
    if not words:
        raise UsageError("Say what to set: a threshold or the window")
    head = words[0].lower()
    if "=" in head:  # `/set dwell=3` is short for `/set threshold dwell=3`
        return await _set_thresholds(req, store, chat, words)
    setting = SETTING_WORDS.get(head)
    if setting is None:
        close = difflib.get_close_matches(head, list(SETTING_WORDS), n=1, cutoff=0.6)
        hint = f" Did you mean {close[0]}?" if close else ""
        raise UsageError(f"I can set a threshold or the window, not '{shown(words[0])}'.{hint}")
    if setting == "window":
        return await _set_window(req, store, chat, words[1:])
    return await _set_thresholds(req, store, chat, words[1:])


async def _set_thresholds(req: Request, store: Store, chat: Chat, words: list[str]) -> Reply:
    assignments = [word for word in words if "=" in word]
    reset = [word for word in words if word.lower() in RESET_WORDS]
    pair = _optional_pair(req, [w for w in words if "=" not in w and w.lower() not in RESET_WORDS])
    target = _pair(*pair) if pair else "this chat"
    if reset and assignments:
        raise UsageError("Use either reset or name=value, not both")
    if reset:
        await store.reset_thresholds(chat, pair=pair)
        return Reply(text=f"Thresholds for {target} are back to the defaults.", data={"thresholds": {}})
    if not assignments:
        raise UsageError(f"Name a threshold and its value, e.g. dwell=3. Thresholds: {', '.join(THRESHOLD_DEFAULTS)}")
    values: dict[str, float | int] = {}
    for assignment in assignments:
        raw_name, _, raw_value = assignment.partition("=")
        name = threshold_name(raw_name)
        values[name] = parse_threshold_value(name, raw_value)
    changed = await store.set_thresholds(chat, values, pair=pair)
    if pair is not None:
        (subscription,) = changed
        overrides = subscription.thresholds
    else:
        refreshed = await store.get_chat(chat.platform, chat.chat_id)
        overrides = refreshed.default_thresholds if refreshed else {}
    now = _threshold_words(overrides) if overrides else "the defaults"
    lines = [f"Thresholds for {target}: {now}."]
    if pair is None:
        lines.append(_chat_wide_scope(changed))
        lines += [
            f"{_pair(s.asset, s.benchmark)} keeps its own: {_threshold_words(s.thresholds)}."
            for s in changed
            if s.thresholds != overrides
        ]
    return Reply(text="\n".join(lines), data={"thresholds": overrides, "pairs": [s.pair for s in changed]})


async def _set_window(req: Request, store: Store, chat: Chat, words: list[str]) -> Reply:
    windows = [word for word in words if looks_like_window(word)]
    if len(windows) != 1:
        raise UsageError("Give one window, e.g. /set window 30d" if not windows else "Give one window only")
    window = parse_window(windows[0])
    pair = _optional_pair(req, [word for word in words if not looks_like_window(word)])
    changed = await store.set_window(chat, window.days, pair=pair)
    target = _pair(*pair) if pair else "this chat"
    lines = [f"Window for {target}: {window.label} — regime and record alerts follow the {window.long_label} "
             "correlation."]
    if pair is None:
        lines.append(_chat_wide_scope(changed))
    return Reply(text="\n".join(lines), data={"window": window.label, "pairs": [s.pair for s in changed]})


def _chat_wide_scope(changed: list[Subscription]) -> str:
    if not changed:
        return "It applies to the pairs you subscribe to from now on."
    pairs = ", ".join(_pair(s.asset, s.benchmark) for s in changed)
    return f"Applied to {pairs}, and to pairs subscribed later."


# ---------------------------------------------------------------- /quiet, /tz, /digest


@command(
    "quiet", "HH:MM-HH:MM | off",
    summary="Quiet hours: hold alerts overnight",
    help="Alerts that come in during quiet hours wait until they end. Times are in this chat's time zone "
    "(/tz) and may wrap midnight. Examples: /quiet 22:00-07:00 · /quiet off",
    admin_only=True, options=("hours",),
)
async def quiet_command(req: Request) -> Reply:
    return await _run(req, "quiet", _quiet, changes_settings=True)


async def _quiet(req: Request, store: Store, chat: Chat) -> Reply:
    words = _words(req.args)
    if not words:
        current = f"{chat.quiet_hours.label} ({chat.timezone})" if chat.quiet_hours else "off"
        return Reply(text=f"Quiet hours: {current}.\nUsage: {COMMANDS['quiet'].usage}",
                     data={"quiet_hours": chat.quiet_hours.label if chat.quiet_hours else None})
    if len(words) > 3:
        raise UsageError("Give one span, like 22:00-07:00, or off")
    quiet_hours = parse_quiet_hours(" ".join(words))
    chat = await store.set_quiet_hours(chat, quiet_hours)
    if quiet_hours is None:
        return Reply(text="Quiet hours off: alerts arrive as soon as they're ready.", data={"quiet_hours": None})
    hint = " Not your time zone? Set it with /tz Europe/Berlin (or yours)." if chat.timezone == "UTC" else ""
    return Reply(
        text=f"Quiet hours set: {quiet_hours.label} ({chat.timezone} time). Alerts that come in then wait "
        f"until {quiet_hours.end:%H:%M}.{hint}",
        data={"quiet_hours": quiet_hours.label},
    )


@command(
    "tz", "<time zone>",
    summary="This chat's time zone (for quiet hours)",
    help="An IANA time zone name, or just the city. Examples: /tz Europe/Berlin · /tz New York · /tz UTC",
    admin_only=True, options=("zone",),
)
async def tz_command(req: Request) -> Reply:
    return await _run(req, "tz", _tz, changes_settings=True)


async def _tz(req: Request, store: Store, chat: Chat) -> Reply:
    words = _words(req.args)
    if not words:
        return Reply(text=f"This chat's time zone is {chat.timezone}.\nUsage: {COMMANDS['tz'].usage}",
                     data={"timezone": chat.timezone})
    if len(words) > 4:
        raise UsageError("Give one time zone, e.g. Europe/Berlin")
    zone = resolve_timezone(" ".join(words))
    chat = await store.set_timezone(chat, zone)
    local = datetime.now(ZoneInfo(zone))
    quiet = f" Quiet hours {chat.quiet_hours.label} are now {zone} time." if chat.quiet_hours else ""
    return Reply(text=f"Time zone set to {zone} (it's {local:%H:%M} there now).{quiet}", data={"timezone": zone})


@command(
    "digest", "on|off [asset benchmark]",
    summary="One daily message instead of one per alert",
    help="With the digest on, a day's alerts arrive together in one message. Without a pair it applies "
    "to every pair in this chat and to pairs subscribed later. Examples: /digest on · /digest off BTC SPY",
    admin_only=True, options=("mode",),
)
async def digest_command(req: Request) -> Reply:
    return await _run(req, "digest", _digest, changes_settings=True)


async def _digest(req: Request, store: Store, chat: Chat) -> Reply:
    words = _words(req.args)
    if not words:
        return Reply(
            text=f"Digest is {_digest_word(chat.default_digest)} in this chat.\nUsage: {COMMANDS['digest'].usage}",
            data={"digest": chat.default_digest.value},
        )
    switch = words[0].lower()
    if switch in ON_WORDS:
        mode = DigestMode.DAILY
    elif switch in OFF_WORDS or switch in QUIET_OFF_WORDS:
        mode = DigestMode.OFF
    else:
        raise UsageError(f"Say on or off, not '{shown(words[0])}'")
    pair = _optional_pair(req, words[1:])
    changed = await store.set_digest(chat, mode, pair=pair)
    target = _pair(*pair) if pair else "this chat"
    what = ("a day's alerts arrive together in one message" if mode is DigestMode.DAILY
            else "each alert arrives on its own, as soon as it's ready")
    lines = [f"Digest {_digest_word(mode)} for {target}: {what}."]
    if pair is None:
        lines.append(_chat_wide_scope(changed))
    return Reply(text="\n".join(lines), data={"digest": mode.value, "pairs": [s.pair for s in changed]})


# ---------------------------------------------------------------- shared pieces


def _words(args: Iterable[str], split: str = "") -> list[str]:
    """Arguments as words (also split on `split` characters); `a = 1` is glued to `a=1`."""
    text = re.sub(r"\s*=\s*", "=", " ".join(args))
    if split:
        text = re.sub(f"[{re.escape(split)}]", " ", text)
    words = text.split()
    if len(words) > MAX_WORDS:
        raise UsageError(f"Too many words ({len(words)})")
    return words


def _pair_query(req: Request, words: list[str], *, default_window: str | None = None,
                allow_window: bool = True) -> PairQuery:
    settings = req.services.settings
    return parse_pair_args(words, settings.default_pair, default_window or settings.default_window, allow_window)


def _optional_pair(req: Request, words: list[str]) -> tuple[str, str] | None:
    """A named pair, or None (chat-wide) when no ticker was given."""
    if not words:
        return None
    return _query_pair(_pair_query(req, words, allow_window=False))


def _query_pair(query: PairQuery) -> tuple[str, str]:
    return query.asset.symbol, query.benchmark.symbol


def _chat_window(req: Request, chat: Chat) -> Window:
    if chat.default_window_days:
        return Window(chat.default_window_days)
    return parse_window(req.services.settings.default_window)


def _pair(asset: str, benchmark: str) -> str:
    return f"{asset} vs {benchmark}"


def _describe(subscription: Subscription) -> str:
    kinds = ", ".join(kind.value for kind in AlertKind if kind in subscription.kinds)
    return f"{kinds} · window {Window(subscription.window_days).label}"


def _when(subscription: Subscription) -> str:
    legs = [find_asset(subscription.asset), find_asset(subscription.benchmark)]
    if any(leg is not None and leg.calendar is not None for leg in legs):
        return "after each US close"
    return "after each UTC midnight"


def _follows(subscriptions: list[Subscription]) -> str:
    if not subscriptions:
        return "It has no subscriptions."
    return f"It follows {', '.join(_pair(s.asset, s.benchmark) for s in subscriptions)}."


def _threshold_words(overrides: dict[str, float | int]) -> str:
    return ", ".join(
        f"{name} {_value(name, value)} (default {_value(name, THRESHOLD_DEFAULTS[name])})"
        for name, value in sorted(overrides.items())
    )


def _value(name: str, value: float | int) -> str:
    if name in INTEGER_THRESHOLDS:
        return str(int(value))
    decimals = 1 if name.startswith("z_") else 2
    while round(value, decimals) != value and decimals < 3:
        decimals += 1
    return num(float(value), decimals)


def _digest_word(mode: DigestMode) -> str:
    return "on" if mode is DigestMode.DAILY else "off"


def _fields(subscription: Subscription) -> dict[str, object]:
    return {
        "pair": subscription.pair,
        "kinds": [kind.value for kind in AlertKind if kind in subscription.kinds],
        "window": Window(subscription.window_days).label,
        "thresholds": subscription.thresholds,
        "digest": subscription.digest.value,
    }


def _sentence(message: str) -> str:
    message = message.strip()
    message = message[:1].upper() + message[1:]
    return message if message.endswith((".", "?", "!")) else f"{message}."
