"""Platform-neutral replies: what every transport turns into its own kind of message."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Button:
    label: str
    command: str  # the command text a press runs, e.g. "/corr 30d ETH RUT"


@dataclass
class Reply:
    """Plain text (adapters escape it; the first line is the headline), optional PNG, optional buttons.

    `data` carries the machine-readable fields the CLI prints with --json.
    """

    text: str
    ok: bool = True
    chart: bytes | None = None
    chart_name: str = "decoupler.png"
    buttons: list[list[Button]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def headline(self) -> str:
        return self.text.split("\n", 1)[0]


def error_reply(message: str, usage: str | None = None) -> Reply:
    text = message if usage is None else f"{message}\nUsage: {usage}"
    return Reply(text=text, ok=False, data={"error": text})
