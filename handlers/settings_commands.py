"""Settings commands: /set (thresholds, window), /quiet, /tz, /digest."""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from bot.ports.reply import Reply
from bot.store import Chat, DigestMode
from bot.store.preferences import (
    QUIET_OFF_WORDS,
    THRESHOLD_DEFAULTS,
    parse_quiet_hours,
    parse_threshold_value,
    resolve_timezone,
    threshold_name,
)
from bot.windows import looks_like_window, parse_window
from handlers.parsing import UsageError, shown
from handlers.registry import ASSET, BENCHMARK, COMMANDS, Option, OptionKind, Request, command
from handlers.subscription_support import (
    chat_wide_scope,
    digest_word,
    optional_pair,
    pair_label,
    run_in_chat,
    threshold_words,
    words_of,
)

if TYPE_CHECKING:
    from bot.store import Store

ON_WORDS = frozenset({"on", "yes", "true", "daily", "1"})
OFF_WORDS = frozenset({"off", "no", "false", "instant", "0"})
RESET_WORDS = frozenset({"reset", "default", "defaults"})
SETTING_WORDS = {"threshold": "threshold", "thresholds": "threshold", "window": "window"}


# ---------------------------------------------------------------- /set


@command(
    "set",
    summary="Change alert thresholds or the window",
    help="Without a pair, the change applies to every pair in this chat and to pairs subscribed later; "
    "with one, to that pair only. Thresholds (defaults): "
    + ", ".join(f"{name} {value}" for name, value in THRESHOLD_DEFAULTS.items())
    + ". Correlation levels must keep the order inverse_enter < inverse_exit < decoupled_enter < "
    "decoupled_exit < coupled_exit < coupled_enter. Examples: /set threshold dwell=3 z_enter=3 · "
    "/set threshold coupled_enter=0.6 BTC SPY · /set threshold reset · /set window 30d",
    admin_only=True,
    options=(Option("setting", OptionKind.CHOICE, "What to set", required=True, choices=("threshold", "window")),
             Option("values", OptionKind.TEXT, "name=value (dwell=3), reset, or a window (30d)",
                    placeholder="name=value…|reset|window"),
             ASSET, BENCHMARK),
)
async def set_command(req: Request) -> Reply:
    return await run_in_chat(req, "set", _set, changes_settings=True)


async def _set(req: Request, store: Store, chat: Chat) -> Reply:
    words = words_of(req.args, split=",")
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
    pair = optional_pair(req, [w for w in words if "=" not in w and w.lower() not in RESET_WORDS])
    target = pair_label(*pair) if pair else "this chat"
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
    now = threshold_words(overrides) if overrides else "the defaults"
    lines = [f"Thresholds for {target}: {now}."]
    if pair is None:
        lines.append(chat_wide_scope(changed))
        lines += [
            f"{pair_label(s.asset, s.benchmark)} keeps its own: {threshold_words(s.thresholds)}."
            for s in changed
            if s.thresholds != overrides
        ]
    return Reply(text="\n".join(lines), data={"thresholds": overrides, "pairs": [s.pair for s in changed]})


async def _set_window(req: Request, store: Store, chat: Chat, words: list[str]) -> Reply:
    windows = [word for word in words if looks_like_window(word)]
    if len(windows) != 1:
        raise UsageError("Give one window, e.g. /set window 30d" if not windows else "Give one window only")
    window = parse_window(windows[0])
    pair = optional_pair(req, [word for word in words if not looks_like_window(word)])
    changed = await store.set_window(chat, window.days, pair=pair)
    target = pair_label(*pair) if pair else "this chat"
    lines = [f"Window for {target}: {window.label} — regime and record alerts follow the {window.long_label} "
             "correlation."]
    if pair is None:
        lines.append(chat_wide_scope(changed))
    return Reply(text="\n".join(lines), data={"window": window.label, "pairs": [s.pair for s in changed]})




# ---------------------------------------------------------------- /quiet, /tz, /digest


@command(
    "quiet",
    summary="Quiet hours: hold alerts overnight",
    help="Alerts that come in during quiet hours wait until they end. Times are in this chat's time zone "
    "(/tz) and may wrap midnight. Examples: /quiet 22:00-07:00 · /quiet off",
    admin_only=True,
    options=(Option("hours", OptionKind.TEXT, "From-to in this chat's time zone, e.g. 22:00-07:00, or off",
                    placeholder="HH:MM-HH:MM|off"),),
)
async def quiet_command(req: Request) -> Reply:
    return await run_in_chat(req, "quiet", _quiet, changes_settings=True)


async def _quiet(req: Request, store: Store, chat: Chat) -> Reply:
    words = words_of(req.args)
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
    "tz",
    summary="This chat's time zone (for quiet hours)",
    help="An IANA time zone name, or just the city. Examples: /tz Europe/Berlin · /tz New York · /tz UTC",
    admin_only=True,
    options=(Option("zone", OptionKind.TEXT, "An IANA time zone or a city, e.g. Europe/Berlin",
                    placeholder="time zone"),),
)
async def tz_command(req: Request) -> Reply:
    return await run_in_chat(req, "tz", _tz, changes_settings=True)


async def _tz(req: Request, store: Store, chat: Chat) -> Reply:
    words = words_of(req.args)
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
    "digest",
    summary="One daily message instead of one per alert",
    help="With the digest on, a day's alerts arrive together in one message. Without a pair it applies "
    "to every pair in this chat and to pairs subscribed later. Examples: /digest on · /digest off BTC SPY",
    admin_only=True,
    options=(Option("mode", OptionKind.CHOICE, "on: one daily message; off: one per alert", choices=("on", "off")),
             ASSET, BENCHMARK),
)
async def digest_command(req: Request) -> Reply:
    return await run_in_chat(req, "digest", _digest, changes_settings=True)


async def _digest(req: Request, store: Store, chat: Chat) -> Reply:
    words = words_of(req.args)
    if not words:
        return Reply(
            text=f"Digest is {digest_word(chat.default_digest)} in this chat.\nUsage: {COMMANDS['digest'].usage}",
            data={"digest": chat.default_digest.value},
        )
    switch = words[0].lower()
    if switch in ON_WORDS:
        mode = DigestMode.DAILY
    elif switch in OFF_WORDS or switch in QUIET_OFF_WORDS:
        mode = DigestMode.OFF
    else:
        raise UsageError(f"Say on or off, not '{shown(words[0])}'")
    pair = optional_pair(req, words[1:])
    changed = await store.set_digest(chat, mode, pair=pair)
    target = pair_label(*pair) if pair else "this chat"
    what = ("a day's alerts arrive together in one message" if mode is DigestMode.DAILY
            else "each alert arrives on its own, as soon as it's ready")
    lines = [f"Digest {digest_word(mode)} for {target}: {what}."]
    if pair is None:
        lines.append(chat_wide_scope(changed))
    return Reply(text="\n".join(lines), data={"digest": mode.value, "pairs": [s.pair for s in changed]})


