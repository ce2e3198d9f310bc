"""A Notifier that prints alerts on the terminal (the console transport's chats and `python -m bot ask`'s)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from bot.ports.notifier import CHAT_RETRY, SendResult
from bot.ports.reply import Reply
from bot.sending.ratelimit import PlatformLimiter, PlatformLimits, Priority

CONSOLE_LIMITS = PlatformLimits(per_second=50, per_chat_per_second=50)


class ConsoleNotifier:
    platform = "console"
    retry = CHAT_RETRY

    def __init__(self, out: TextIO | None = None, chart_dir: Path | None = None) -> None:
        self.out = out or sys.stdout
        self.chart_dir = chart_dir
        self.limiter = PlatformLimiter(CONSOLE_LIMITS)
        self.sent = 0

    async def send(self, chat_id: str, reply: Reply, media: str | None = None, *, is_group: bool = False
                   ) -> SendResult:
        async with self.limiter.slot(chat_id, priority=Priority.ALERT):
            return self._print(reply)

    def _print(self, reply: Reply) -> SendResult:
        lines = [reply.text]
        if reply.chart is not None and self.chart_dir is not None:
            self.chart_dir.mkdir(parents=True, exist_ok=True)
            path = self.chart_dir / reply.chart_name
            path.write_bytes(reply.chart)
            lines.append(f"[chart saved to {path}]")
        self.out.write("\n".join(lines) + "\n\n")
        self.out.flush()
        self.sent += 1
        return SendResult(message_id=str(self.sent))
