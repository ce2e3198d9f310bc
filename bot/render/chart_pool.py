"""Render workers: a small process pool that draws pair charts off the event loop and across cores.

Drawing a chart is CPU-bound Python (matplotlib), so threads queue on the GIL; processes don't. The pool has
one worker per core, started lazily with the first chart (all at once, from a thread, so the event loop never
waits for a process to start) and stopped by `close()`. Workers come from a forkserver (spawn where there is
none), never from a plain fork: the bot's process has threads and an event loop. The forkserver imports
matplotlib and bot.render.charts once, so each worker starts as a fork of an interpreter that already has
them (and shares those pages with its siblings), and each worker builds its reusable figures, one per theme,
as it starts. This process imports neither matplotlib nor bot.render.charts for pool renders.

A worker that dies (killed, out of memory) breaks the pool: the renders it had fail over to a thread of this
process (logged once per broken pool), and the next chart starts a fresh pool, at most `max_restarts` times;
after that every chart renders in a thread.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import multiprocessing.connection
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.analysis.results import ChartData

log = logging.getLogger(__name__)

PRELOAD = ["bot.render.charts"]  # imported by the forkserver, so forked workers start with it
MAX_RESTARTS = 3


def default_workers() -> int:
    """One render worker per core, at least one."""
    return max(1, os.cpu_count() or 1)


def default_start_method() -> str:
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


# ---- in a worker process ----------------------------------------------------------------------------


def _init_worker() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is for the bot, which then closes the pool
    parent = multiprocessing.parent_process()
    if parent is not None:  # a worker never outlives the bot, even one killed without a chance to close it
        threading.Thread(target=_exit_with, args=(parent.sentinel,), name="exit-with-bot", daemon=True).start()
    from bot.render import charts

    charts.prepare_canvases()


def _exit_with(parent_sentinel: int) -> None:
    multiprocessing.connection.wait([parent_sentinel])
    os._exit(0)


def _render(data: ChartData, theme: str) -> bytes:
    from bot.render import charts

    return charts.render_pair_chart(data, theme)


def _started() -> int:
    return os.getpid()


def render_here(data: ChartData, theme: str) -> bytes:
    """Render in the calling thread of this process (the fallback, the CLI and tests)."""
    from bot.render import charts

    return charts.render_pair_chart(data, theme)


# ---- in the bot's process ---------------------------------------------------------------------------


class ChartPool:
    """Pair-chart renders in worker processes, with a fallback to threads of this process."""

    def __init__(self, workers: int | None = None, *, start_method: str | None = None,
                 max_restarts: int = MAX_RESTARTS) -> None:
        self.workers = default_workers() if workers is None else workers
        if self.workers < 1:
            raise ValueError("a chart pool needs at least one worker")
        self.start_method = start_method or default_start_method()
        self.max_restarts = max_restarts
        self._lock = threading.Lock()
        self._executor: ProcessPoolExecutor | None = None
        self.restarts = 0  # pools started again after a worker died
        self.fallbacks = 0  # renders that ran in a thread because the pool could not take them
        self.given_up = False

    @property
    def running(self) -> bool:
        return self._executor is not None

    def worker_pids(self) -> list[int]:
        """Process ids of the live workers (for benchmarks and tests)."""
        executor = self._executor
        processes = dict(getattr(executor, "_processes", None) or {})
        return sorted(pid for pid, process in processes.items() if process.is_alive())

    async def render(self, data: ChartData, theme: str) -> bytes:
        """The chart as PNG bytes, drawn by a worker; in a thread of this process if the pool can't."""
        executor = self._executor
        if executor is None and not self.given_up:
            executor = await asyncio.to_thread(self._start)
        if executor is not None:
            try:
                future = executor.submit(_render, data, theme)
            except BrokenProcessPool as exc:
                self._lost(executor, exc)
            except RuntimeError:  # shut down by close() meanwhile, or the interpreter is exiting
                pass
            else:
                try:
                    return await asyncio.wrap_future(future)
                except BrokenProcessPool as exc:
                    self._lost(executor, exc)
                except asyncio.CancelledError:
                    task = asyncio.current_task()
                    if not future.cancelled() or (task is not None and task.cancelling()):
                        raise  # our caller was cancelled, not the render
                    # close() cancelled the queued render: draw it here instead
        self.fallbacks += 1
        return await asyncio.to_thread(render_here, data, theme)

    def _start(self) -> ProcessPoolExecutor | None:
        """The pool, started with all its workers if it isn't running. Blocks while processes start: call it
        in a thread. None when pool renders were given up."""
        with self._lock:
            if self._executor is not None or self.given_up:
                return self._executor
            context = multiprocessing.get_context(self.start_method)
            if self.start_method == "forkserver":
                context.set_forkserver_preload(PRELOAD)
            executor = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker)
            try:
                for _ in range(self.workers):  # a submit starts a worker while none is idle: all of them now
                    executor.submit(_started)
            except Exception:
                log.exception("chart render workers did not start; charts render in threads instead")
                executor.shutdown(wait=False, cancel_futures=True)
                self.given_up = True
                return None
            self._executor = executor
            return executor

    def _lost(self, executor: ProcessPoolExecutor, exc: BaseException) -> None:
        """A worker of `executor` died: drop the pool (once), so the next chart starts a new one."""
        with self._lock:
            if executor is not self._executor:
                return  # already dropped for another of its renders, or shut down by close()
            self._executor = None
            self.restarts += 1
            if self.restarts > self.max_restarts:
                self.given_up = True
        if self.given_up:
            log.error("a chart render worker died (%s) %d times; charts render in threads from now on",
                      exc, self.restarts)
        else:
            log.warning("a chart render worker died (%s); its charts render in a thread, the next ones in new "
                        "workers", exc)
        executor.shutdown(wait=False, cancel_futures=True)

    def close(self) -> None:
        """Stop the workers: queued renders move to threads, a running one finishes first. A later chart
        starts the pool again."""
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)
