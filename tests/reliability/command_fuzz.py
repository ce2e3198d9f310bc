"""The command-layer fuzz shared by `make test` (tests/test_fuzz_commands.py, a few hundred examples) and
`make test-reliability` (tests/reliability/test_command_fuzz.py, at least 10,000).

Random command texts — every command of `handlers.registry.COMMANDS`, arguments drawn from real words
(tickers, windows, alert kinds, thresholds, times, time zones, setting words) mixed with arbitrary unicode
and unicode digits (², ٣, 𝟗, fullwidth ９) — go through `handlers.commands.dispatch` with real Services on
the bundled snapshot and a SQLite store, in private chats and in groups whose admin check says yes, says no
or raises. Whatever comes in, a person gets one short, specific answer: never an exception, never the
generic apology, never an empty reply.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from functools import cache
from pathlib import Path

from hypothesis import strategies as st

from bot.alerts.kinds import ALERT_KINDS
from bot.assets import all_assets
from bot.config import load_settings
from bot.ports.reply import Reply
from bot.ports.services import Services
from bot.store import open_store
from bot.store.preferences import THRESHOLD_DEFAULTS
from handlers.commands import dispatch
from handlers.registry import COMMANDS, ChatContext, Command, OptionKind
from tests.helpers import make_services

APOLOGY = "Something went wrong"
FIRST_LINE_LIMIT = 300

UNICODE_DIGITS = ["²", "³", "¹", "٣", "٠", "۵", "९", "𝟗", "𝟘", "９", "０", "①", "Ⅻ", "½", "߃", "๓", "᠑"]
WINDOWS = [
    "30d", "90d", "1y", "10y", "12w", "6m", "3650d", "5d", "0d", "-5d", "+90d", "99999d", "9999999d", "90D",
    "90x", "1.5y", "²", "²d", "٣d", "٣٠d", "٩٠d", "𝟗𝟎d", "９０d", "1٠y", "③⓪d", "90", "d", "1e3d",
]
KINDS = [*ALERT_KINDS, "records", "regimes", "div", "all", "everything", "regime,record", "regime,", ",", "regim"]
THRESHOLD_VALUES = ["3", "0.15", "-0.5", "2", "0", "-1", "1e309", "nan", "inf", "-inf", "²", "٣", "𝟗", "９", "",
                    "0x10", "1_000", "3.", ".5", "=", "1/2"]
TIMES = ["22:00-07:00", "07:00-22:00", "25:00-07:00", "22:00", "22-7", "off", "none", "٢٢:٠٠-٠٧:٠٠",
         "²²:00-07:00", "22:00 - 07:00", "24:00-00:00", "00:00-00:00", "9:5-7:3", "22:00-07:00-08:00"]
ZONES = ["Europe/Berlin", "New York", "UTC", "utc", "Mars/Olympus", "Etc/GMT+5", "America/Argentina/Buenos_Aires",
         "../../etc/passwd", "/etc/localtime", "Europe/", "Berlin", "GMT+5", "Z", "Europe/Berlin\x00", "Ber lin",
         "America/New_York", "Asia/Kolkata", "ß", "İstanbul"]
SETTING_WORDS = ["threshold", "thresholds", "window", "reset", "default", "on", "off", "yes", "daily", "instant",
                 "maybe", "add", "all", "crypto", "stock", "index", "corr", "/corr", "help", "0", "1", "20", "30",
                 "31", "-1", "999999999999999999999999", "=", "a=", "=1", "ETH:RUT", "ETH/RUT", ":", "/", "SOL"]
SPECIAL = ["", "\u200b", "\ufeff", "\u202e", "\x00", "🙂", "‼️", "Ｅｔｈ", "éth", "ℯ𝓉𝒽", "ETH\u0301", "İ", "ﬃ"]


def _tickers() -> list[str]:
    words = []
    for asset in all_assets():
        words += [asset.symbol, asset.symbol.lower(), *asset.aliases]
    return [*words, "FOO", "SOL", "TSLA", "X", "ETHH", "B T C"]


def _thresholds() -> st.SearchStrategy[str]:
    names = st.sampled_from([*THRESHOLD_DEFAULTS, "nonsense", "dwel", "Z_ENTER", "", "coupled enter"])
    return st.builds(lambda n, v: f"{n}={v}", names, st.sampled_from(THRESHOLD_VALUES) | st.text(max_size=4))


def _unicode_numbers() -> st.SearchStrategy[str]:
    digits = st.text(st.characters(categories=["Nd", "No", "Nl"]), min_size=1, max_size=4)
    return st.builds(lambda d, unit: d + unit, digits | st.sampled_from(UNICODE_DIGITS),
                     st.sampled_from(["", "d", "w", "m", "y", "D", ":00"]))


@cache
def _pools() -> dict[str, st.SearchStrategy[str]]:
    tickers = st.sampled_from(_tickers())
    windows = st.sampled_from(WINDOWS) | _unicode_numbers()
    numbers = st.sampled_from(["0", "1", "20", "30", "31", "-1", "999999999999999999999999"]) | _unicode_numbers()
    return {
        OptionKind.WINDOW: windows,
        OptionKind.ASSET: tickers,
        OptionKind.BENCHMARK: tickers,
        OptionKind.INT: numbers,
        OptionKind.CHOICE: st.sampled_from([*KINDS, *SETTING_WORDS]),
        OptionKind.TEXT: st.one_of(_thresholds(), st.sampled_from(TIMES), st.sampled_from(ZONES), windows,
                                   st.sampled_from(sorted(COMMANDS))),
    }


@cache
def argument() -> st.SearchStrategy[str]:
    """Any argument: a real word of any kind, a unicode number, or arbitrary text."""
    pools = _pools()
    return st.one_of(
        *pools.values(),
        st.sampled_from(SETTING_WORDS),
        st.sampled_from(SPECIAL),
        st.text(max_size=12),  # anything at all, whitespace and control characters included
    )


@st.composite
def _arguments(draw: st.DrawFn, command: Command) -> list[str]:
    """Mostly what the command's options take (some left out, some swapped for anything), sometimes junk."""
    pools = _pools()
    words = []
    for option in command.options:
        if option.required or draw(st.booleans()):
            pool = pools[option.kind]
            if option.choices:
                pool = st.sampled_from(option.choices) | pool
            words.append(draw(pool | argument()) if draw(st.booleans()) else draw(pool))
    if draw(st.integers(0, 4)) == 0:
        words += draw(st.lists(argument(), min_size=1, max_size=4))
    if draw(st.integers(0, 4)) == 0:
        words = draw(st.permutations(words))
    return words


# /preview replays every subscription of the chat over years of data (about half a second each on this
# machine): it is drawn a third as often as the others so that a run stays in its time
_NAMES = [name for name in sorted(COMMANDS) for _ in range(1 if name == "preview" else 3)]


@st.composite
def command_text(draw: st.DrawFn) -> str:
    name = draw(st.sampled_from(_NAMES))
    head = draw(st.sampled_from([f"/{name}"] * 4 + [f"/{name.upper()}", name, f"/{name}@DecouplerBot"]))
    args = draw(_arguments(COMMANDS[name]))
    separator = draw(st.sampled_from([" "] * 4 + ["  ", "\t", " , ", ","]))
    return separator.join([head, *args])


async def _yes() -> bool:
    return True


async def _no() -> bool:
    return False


async def _raises() -> bool:
    raise ConnectionError("the platform's admin lookup failed")


ADMIN_CHECKS = {"yes": _yes, "no": _no, "raises": _raises}


def chat_contexts() -> st.SearchStrategy[ChatContext]:
    private = st.builds(
        lambda chat_id: ChatContext(platform="telegram", chat_id=chat_id, user_id=chat_id, chat_kind="private",
                                    is_admin=_no),
        st.sampled_from(["101", "102"]),
    )
    group = st.builds(
        lambda chat_id, kind, check: ChatContext(platform="telegram", chat_id=chat_id, user_id="7",
                                                 chat_kind=kind, title="Traders", is_admin=ADMIN_CHECKS[check]),
        st.sampled_from(["-1001", "-1002"]), st.sampled_from(["group", "channel"]),
        st.sampled_from(sorted(ADMIN_CHECKS)),
    )
    console = st.just(ChatContext())
    return st.one_of(private, group, console)


@dataclass(frozen=True)
class Case:
    text: str
    chat: ChatContext
    want_chart: bool


def cases(chart_one_in: int = 10, longest: int = 3) -> st.SearchStrategy[list[Case]]:
    """A short session: up to `longest` commands in one chat (a /subscribe, then a /preview of it …); the
    store outlives the examples, so single commands meet each other's state too. Charts are drawn for one
    command in `chart_one_in`: rendering dominates the time of a chart command (the long run draws fewer and
    sends one command per example, so that its 10,000 inputs fit in a few minutes)."""
    return chat_contexts().flatmap(lambda chat: st.lists(
        st.builds(Case, command_text(), st.just(chat), st.sampled_from([False] * (chart_one_in - 1) + [True])),
        min_size=1, max_size=longest,
    ))


@asynccontextmanager
async def fuzz_services(tmp_path: Path) -> AsyncIterator[Services]:
    """Real Services on the bundled snapshot with a SQLite file store, shared by every example of a run."""
    settings = load_settings(market_data="snapshot", database_url=f"sqlite:///{tmp_path}/fuzz.sqlite3",
                             chart_dir=str(tmp_path / "charts"))
    store = await open_store(settings.database_url)
    try:
        yield make_services(settings, store=store)
    finally:
        await store.close()


async def check_case(services: Services, case: Case) -> Reply:
    """Dispatch one case and assert what every answer must be. Returns the reply."""
    reply = await dispatch(services, case.text, case.chat, want_chart=case.want_chart,
                           bot_username="DecouplerBot")
    assert isinstance(reply, Reply), (case, reply)
    if reply.data.get("error") == "addressed to another bot":  # /cmd@OtherBot: deliberately silent
        return reply
    assert reply.text.strip(), (case, reply)
    assert APOLOGY not in reply.text, (case, reply.text)
    first = reply.text.splitlines()[0]
    assert first.strip() and len(first) <= FIRST_LINE_LIMIT, (case, first)
    assert "Traceback" not in reply.text, (case, reply.text)
    return reply


async def check_session(services: Services, session: list[Case]) -> None:
    for case in session:
        await check_case(services, case)
    if any("subscribe" in case.text.lower() for case in session):
        await keep_short(services, session[0].chat)


MAX_SUBSCRIPTIONS = 2


async def keep_short(services: Services, chat: ChatContext) -> None:
    """A /preview replays every subscription of its chat, and the store outlives the examples: a chat with
    more than a few subscriptions is cleared (by its admin, with /unsubscribe all) so a run stays short."""
    row = await services.store.get_chat(chat.platform, chat.chat_id)
    if row is None or len(await services.store.list_subscriptions(row)) <= MAX_SUBSCRIPTIONS:
        return
    admin = replace(chat, is_admin=_yes)
    reply = await check_case(services, Case("/unsubscribe all", admin, want_chart=False))
    assert reply.ok and reply.text.startswith("Unsubscribed this chat from all alerts ("), reply.text
