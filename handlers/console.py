"""Terminal transport: a daily report, then one reply per line of stdin; EOF ends it. Alerts for console
chats are printed by its notifier."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import sys
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TextIO

from bot.alerts.console_notifier import ConsoleNotifier
from bot.ports.reply import Reply
from bot.ports.services import Services
from handlers.quotas import CommandQuotas
from handlers.registry import ChatContext, Command
from handlers.runner import CommandRunner, Incoming

log = logging.getLogger(__name__)

async def _private() -> bool:
    return True  # the person at the terminal runs the bot


CONSOLE_CHAT = ChatContext(platform="console", chat_id="console", chat_kind="private", title="console",
                           is_admin=_private)


def save_chart(reply: Reply, chart_dir: Path) -> Path | None:
    """Write the reply's chart into `chart_dir` (made when missing); raises OSError when it cannot."""
    if reply.chart is None:
        return None
    chart_dir.mkdir(parents=True, exist_ok=True)
    path = chart_dir / reply.chart_name
    path.write_bytes(reply.chart)
    return path


def chart_note(reply: Reply, chart_dir: Path) -> str | None:
    """The line that says where the chart went, or why it went nowhere: a chart that cannot be written (a
    CHART_DIR that is a file or not writable, a full disk) costs the chart, never the answer or the console."""
    try:
        path = save_chart(reply, chart_dir)
    except OSError as exc:
        problem = chart_problem(exc, chart_dir)
        log.debug("chart not saved: %s", exc)  # the reply says it; no second line on the terminal
        return f"[chart not saved: {problem}]"
    return None if path is None else f"[chart saved to {path}]"


def chart_problem(exc: OSError, chart_dir: Path) -> str:
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return f"{chart_dir} is not a directory (CHART_DIR)"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return f"{chart_dir} is not writable (CHART_DIR)"
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return f"no space left for it in {chart_dir}"
    return f"{exc.strerror or type(exc).__name__} in {chart_dir}"


def format_reply(reply: Reply, chart: str | None) -> str:
    """The reply as the terminal shows it; `chart` is chart_note's line (None: no chart)."""
    lines = [reply.text] if reply.text else []
    if chart is not None:
        lines.append(chart)
    if reply.buttons:
        lines.append("Try: " + " · ".join(b.command for row in reply.buttons for b in row))
    return "\n".join(lines)


class ConsoleSurface:
    """Replies printed on the terminal, charts saved as PNG files."""

    def __init__(self, out: TextIO, chart_dir: Path):
        self.out = out
        self.chart_dir = chart_dir

    def progress_after(self, command: Command | None) -> float | None:
        return None

    async def progress(self) -> None:
        return None

    async def send(self, reply: Reply) -> None:
        self.out.write(format_reply(reply, chart_note(reply, self.chart_dir)) + "\n\n")
        self.out.flush()

    async def edit(self, reply: Reply) -> None:
        await self.send(reply)

    async def notice(self, text: str | None, *, alert: bool = False) -> None:
        if text:
            await self.send(Reply(text=text))


async def run_console(services: Services, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout) -> int:
    runner = CommandRunner(services, "console", quotas=CommandQuotas.unlimited())
    surface = ConsoleSurface(out, Path(services.settings.chart_dir))
    await runner.message(Incoming("/report", CONSOLE_CHAT), surface)
    out.write("Type a command (/help for the list, /corr 90d to start); Ctrl-D quits.\n")
    interactive = stdin.isatty()
    lines = _read_lines(stdin)
    while True:
        if interactive:
            out.write("> ")
        out.flush()
        line = await lines.get()
        if line is None:
            return 0
        if line.strip():
            await runner.message(Incoming(line.strip(), CONSOLE_CHAT), surface)


def _read_lines(stdin: TextIO) -> asyncio.Queue[str | None]:
    """Lines of `stdin` (None at EOF), read by a daemon thread: a blocked read never holds up shutdown."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str | None] = asyncio.Queue()

    def put(line: str | None) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening any more
            loop.call_soon_threadsafe(queue.put_nowait, line)

    def read() -> None:
        for line in iter(stdin.readline, ""):
            put(line)
        put(None)

    threading.Thread(target=read, name="console-stdin", daemon=True).start()
    return queue


class ConsoleTransport:
    """The terminal as a transport: reads commands until EOF (then `finished` is set)."""

    name = "console"

    def __init__(self, services: Services, stdin: TextIO = sys.stdin, out: TextIO = sys.stdout):
        self.services = services
        self.stdin, self.out = stdin, out
        self.notifier = ConsoleNotifier(out, Path(services.settings.chart_dir))
        self.finished = asyncio.Event()
        self._task: asyncio.Task[int] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(run_console(self.services, self.stdin, self.out), name="console")
        self._task.add_done_callback(lambda _: self.finished.set())

    async def lead(self) -> None:
        return None

    async def stop(self) -> None:
        if self._task is not None and not self._task.done():
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


def build_transport(services: Services) -> ConsoleTransport:
    return ConsoleTransport(services)


@contextlib.asynccontextmanager
async def open_notifier(services: Services) -> AsyncIterator[ConsoleNotifier]:
    yield ConsoleNotifier(chart_dir=Path(services.settings.chart_dir))
