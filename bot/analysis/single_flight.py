"""Calls for the same key at the same time run once: the first caller computes, the others wait for its result.

After a start, the first ten requests for the default pair would otherwise each parse the snapshot and align
the pair at once, ten times the work on one interpreter lock, and every one of them would wait for all ten.
Nothing is kept once the call ends: caching stays the caller's.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from typing import TypeVar

T = TypeVar("T")


class SingleFlight:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._running: dict[Hashable, Future[object]] = {}
        self.joined = 0  # calls that waited for another's result instead of computing (for tests)

    def run(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, unless a call for `key` is under way in another thread: then its result (or error)."""
        with self._lock:
            running = self._running.get(key)
            owner = running is None
            if running is None:
                running = self._running[key] = Future()
            else:
                self.joined += 1
        if not owner:
            return running.result()  # type: ignore[return-value]  # the owner's compute() returns a T
        try:
            value = compute()
        except BaseException as exc:
            running.set_exception(exc)
            raise
        finally:
            with self._lock:
                del self._running[key]
        running.set_result(value)
        return value
