"""Per-user command quotas, the same for every chat platform.

A sliding window per user: at most `commands` commands and `charts` chart renders in any `period` seconds.
A refused user is told once ("slow down — try again in N s"); further refusals in the same stretch stay
silent, so a flood of commands cannot make the bot flood the chat back.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from cachetools import LRUCache

from bot.ports.reply import Reply, error_reply

MAX_TRACKED_USERS = 50_000


@dataclass(frozen=True)
class QuotaLimits:
    commands: int = 20
    charts: int = 6
    period: float = 60.0


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: float = 0.0
    notify: bool = False  # refused, and the user has not been told since their last accepted command
    reason: str = ""  # "commands" | "charts" when refused


@dataclass
class _Usage:
    commands: deque[float] = field(default_factory=deque)
    charts: deque[float] = field(default_factory=deque)
    warned: bool = False


class CommandQuotas:
    def __init__(
        self,
        limits: QuotaLimits | None = None,
        clock: Callable[[], float] = time.monotonic,
        max_users: int = MAX_TRACKED_USERS,
    ):
        self.limits = limits or QuotaLimits()
        self._clock = clock
        self._users: LRUCache[str, _Usage] = LRUCache(max_users)

    @classmethod
    def unlimited(cls) -> CommandQuotas:
        """For the terminal: the person at it runs the bot."""
        return cls(QuotaLimits(commands=10**9, charts=10**9))

    def check(self, user: str, *, chart: bool = False) -> Verdict:
        """May `user` run a command now (one that renders a chart if `chart`)? Counts it when allowed."""
        now = self._clock()
        usage = self._usage(user)
        horizon = now - self.limits.period
        for log in (usage.commands, usage.charts):
            while log and log[0] <= horizon:
                log.popleft()
        waits = []
        if len(usage.commands) >= self.limits.commands:
            waits.append((usage.commands[0] + self.limits.period - now, "commands"))
        if chart and len(usage.charts) >= self.limits.charts:
            waits.append((usage.charts[0] + self.limits.period - now, "charts"))
        if waits:
            wait, reason = max(waits)
            notify = not usage.warned
            usage.warned = True
            return Verdict(False, max(wait, 0.0), notify, reason)
        usage.commands.append(now)
        if chart:
            usage.charts.append(now)
        usage.warned = False
        return Verdict(True)

    def _usage(self, user: str) -> _Usage:
        usage = self._users.get(user)
        if usage is None:
            usage = self._users[user] = _Usage()
        return usage


def slow_down_reply(verdict: Verdict) -> Reply:
    seconds = max(1, math.ceil(verdict.retry_after))
    what = "charts" if verdict.reason == "charts" else "commands"
    return error_reply(f"Slow down — that's a lot of {what} for one minute. Try again in {seconds} s.")
