"""A reply as a rich card (Discord's embed): title, text, fields, colour and footer — the same words and numbers
as the text reply, laid out as fields. Platform-neutral: handlers/discord turns an `EmbedSpec` into a
`discord.Embed`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.ports.reply import Reply
from bot.render.text import ALIGNMENT_WORDS, num, source_words

TITLE_LIMIT, DESCRIPTION_LIMIT, FIELD_LIMIT, FOOTER_LIMIT = 256, 4096, 1024, 2048
REGIME_COLOURS = {"coupled": 0x2E7D32, "neutral": 0x9E9E9E, "decoupled": 0xEF6C00, "inverse": 0xC62828}
DEFAULT_COLOUR, ERROR_COLOUR = 0x1565C0, 0xB71C1C


@dataclass(frozen=True)
class EmbedField:
    name: str
    value: str
    inline: bool = True


@dataclass(frozen=True)
class EmbedSpec:
    title: str
    description: str
    colour: int
    fields: list[EmbedField] = field(default_factory=list)
    footer: str | None = None
    image: str | None = None  # the attached chart's file name, shown in the card


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_of(reply: Reply) -> EmbedSpec:
    headline, _, rest = reply.text.partition("\n")
    data = reply.data
    fields = _pair_fields(data) if "correlation" in data and "n_obs" in data else []
    footer = _footer(data) if "as_of" in data and "alignment" in data else None
    colour = REGIME_COLOURS.get(str(data.get("regime")), DEFAULT_COLOUR) if reply.ok else ERROR_COLOUR
    return EmbedSpec(
        title=_cut(headline, TITLE_LIMIT),
        description=_cut(rest, DESCRIPTION_LIMIT),
        colour=colour,
        fields=fields,
        footer=_cut(footer, FOOTER_LIMIT) if footer else None,
        image=reply.chart_name if reply.chart is not None else None,
    )


def _pair_fields(data: dict[str, Any]) -> list[EmbedField]:
    low, high = data.get("ci95") or (None, None)
    regime = data.get("regime") or "not yet established"
    if data.get("regime") and data.get("regime_since"):
        regime = f"{regime} since {data['regime_since']}"
    return [
        EmbedField(f"Correlation ({data.get('window')})", f"{num(data.get('correlation'))} (95%: {num(low)} to "
                                                          f"{num(high)})"),
        EmbedField("Observations", f"{data.get('n_obs')} daily returns"),
        EmbedField("Beta", num(data.get("beta"))),
        EmbedField("Divergence z", num(data.get("divergence_z"), 1, signed=True)),
        EmbedField("Regime", regime),
    ]


def _footer(data: dict[str, Any]) -> str:
    alignment = ALIGNMENT_WORDS.get(str(data.get("alignment")), str(data.get("alignment")))
    sources = data.get("sources") or {}
    stale = " · stale data" if data.get("stale") else ""
    return f"As of {data['as_of']} · {alignment} · data: {source_words(sources, str(data.get('source')))}{stale}"
