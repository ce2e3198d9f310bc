"""What both chat-adapter fuzzes (tests/reliability/telegram_fuzz.py, discord_fuzz.py) share: the command names
they draw (chart commands rarely: drawing dominates the time of a run), and a log handler that catches the
errors and tracebacks an input caused."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from hypothesis import strategies as st

from handlers.registry import COMMANDS
from tests.reliability.command_fuzz import _arguments

# Drawing a chart costs tenths of a second, /preview replays every subscription of a chat over years of data
# (about a second with two), /matrix computes the whole universe: drawn seldom, so 500 inputs fit in a minute.
SLOW_COMMANDS = {"preview", "matrix", "scan"}
CHART_COMMANDS = [name for name in sorted(COMMANDS) if COMMANDS[name].chart
                  for _ in range(1 if name in SLOW_COMMANDS else 4)]
PLAIN_COMMANDS = [name for name in sorted(COMMANDS) if not COMMANDS[name].chart
                  for _ in range(1 if name in SLOW_COMMANDS else 4)]
APOLOGY = "Something went wrong"
T = TypeVar("T")


def weighted(*branches: tuple[int, st.SearchStrategy[T]]) -> st.SearchStrategy[T]:
    """One of the strategies, each drawn in proportion to its weight (st.one_of drops repeated strategies, so
    repeating one does not weigh it)."""
    index = st.sampled_from([number for number, (weight, _) in enumerate(branches) for _ in range(weight)])
    return index.flatmap(lambda number: branches[number][1])


def command_name(chart_one_in: int) -> st.SearchStrategy[str]:
    """A command of the table: one that draws a chart once in `chart_one_in` draws."""
    chart = st.sampled_from([False] * (chart_one_in - 1) + [True])
    return chart.flatmap(lambda yes: st.sampled_from(CHART_COMMANDS if yes else PLAIN_COMMANDS))


@st.composite
def command_words(draw: st.DrawFn, name: str) -> list[str]:
    """The arguments of `name`, as tests/reliability/command_fuzz.py draws them (real words, junk, unicode)."""
    return draw(_arguments(COMMANDS[name]))


class LogCatcher(logging.Handler):
    """Records WARNING and above from every logger (installed on the root logger while it runs)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[logging.LogRecord]:
        taken, self.records = self.records, []
        return taken

    @staticmethod
    def problems(records: list[logging.LogRecord]) -> list[str]:
        """Records that show a failure: any ERROR or traceback, and any warning of our own code."""
        found = []
        for record in records:
            ours = record.name.split(".")[0] in ("bot", "handlers")
            if record.levelno >= logging.ERROR or record.exc_info or (ours and record.levelno >= logging.WARNING):
                text = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    text += f" [{type(record.exc_info[1]).__name__}: {record.exc_info[1]}]"
                found.append(f"{record.levelname} {record.name}: {text}")
        return found


@contextmanager
def catching_logs() -> Iterator[LogCatcher]:
    catcher = LogCatcher()
    root = logging.getLogger()
    root.addHandler(catcher)
    try:
        yield catcher
    finally:
        root.removeHandler(catcher)
