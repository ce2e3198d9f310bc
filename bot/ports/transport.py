"""The Transport port: what the composition root needs of a chat platform's server side (handlers/<platform>).

It receives commands, answers through the shared runner (handlers/runner.py), and delivers alerts through
`notifier`, which shares the transport's rate limiter.
"""

from __future__ import annotations

from typing import Protocol

from bot.ports.notifier import Notifier


class TransportStartError(RuntimeError):
    """A transport could not start for a reason it can say in one line (never with a secret in it)."""


class Transport(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def notifier(self) -> Notifier: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def lead(self) -> None:
        """This process became the leader: claim what only one process of many may claim (Telegram's webhook
        registration). Most transports have nothing to do."""
        ...
