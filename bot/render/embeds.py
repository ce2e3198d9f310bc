"""A reply as a rich card (Discord's embed): title, text, fields, colour and footer — the same words and numbers
as the text reply, laid out as fields. Platform-neutral: handlers/discord turns an `EmbedSpec` into a
`discord.Embed`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bot.analytics.thresholds import Regime
from bot.ports.reply import Reply
from bot.render.text import ALIGNMENT_WORDS, num, source_words

TITLE_LIMIT, DESCRIPTION_LIMIT, FIELD_LIMIT, FOOTER_LIMIT = 256, 4096, 1024, 2048
REGIME_COLOURS: dict[str, int] = {
    Regime.COUPLED: 0x2E7D32, Regime.NEUTRAL: 0x9E9E9E, Regime.DECOUPLED: 0xEF6C00, Regime.INVERSE: 0xC62828,
}
DEFAULT_COLOUR, ERROR_COLOUR = 0x1565C0, 0xB71C1C
KIND_COLOURS = {"divergence": 0xF9A825, "record": 0x6A1B9A, "gap": 0x00838F}  # a regime alert: its new regime's


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
    timestamp: datetime | None = None  # shown by Discord in the reader's time zone


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def embed_of(reply: Reply, now: datetime | None = None) -> EmbedSpec:
    """Short titles: a pair's answer is titled by its pair and window, an alert by its kind and pair; the
    headline sentence opens the description."""
    headline, _, rest = reply.text.partition("\n")
    data = reply.data
    if reply.ok and "alert_id" in data and "kind" in data:
        return _alert_embed(reply, now or datetime.now(UTC))
    fields: list[EmbedField] = []
    title = headline
    if reply.ok and "asset" in data and "benchmark" in data and ("ci95" in data or "gap_pct" in data):
        what = "Gap" if "gap_pct" in data else str(data.get("window") or "")
        title = f"{data['asset']} vs {data['benchmark']} · {what}".rstrip(" ·")
        rest = f"{headline}\n{rest}".strip()
        fields = _gap_fields(data) if "gap_pct" in data else _pair_fields(data)
    footer = _footer(data) if "as_of" in data and ("alignment" in data or "source" in data) else None
    colour = REGIME_COLOURS.get(str(data.get("regime")), DEFAULT_COLOUR) if reply.ok else ERROR_COLOUR
    return EmbedSpec(
        title=_cut(title, TITLE_LIMIT),
        description=rest,  # whole: a transport pages a long one (handlers/discord/messages.py)
        colour=colour,
        fields=fields,
        footer=_cut(footer, FOOTER_LIMIT) if footer else None,
        image=reply.chart_name if reply.chart is not None else None,
    )


def _alert_embed(reply: Reply, now: datetime) -> EmbedSpec:
    data = reply.data
    kind = str(data["kind"])
    subject = str(data.get("pair") or "").replace(":", " vs ")
    title = f"🔔 {kind.capitalize()} alert" + (f" · {subject}" if subject else "")
    colour = REGIME_COLOURS.get(str(data.get("to_regime")), DEFAULT_COLOUR) if kind == "regime" \
        else KIND_COLOURS.get(kind, DEFAULT_COLOUR)
    fields = [EmbedField("Window", str(data.get("window")))] if data.get("window") else []
    fields += _alert_fields(kind, data)
    return EmbedSpec(
        title=_cut(title, TITLE_LIMIT),
        description=_cut(reply.text.removeprefix("🔔 "), DESCRIPTION_LIMIT),
        colour=colour,
        fields=fields,
        footer=f"As of {data['as_of']} (the close the alert is about)" if data.get("as_of") else None,
        image=reply.chart_name if reply.chart is not None else None,
        timestamp=now,
    )


def _alert_fields(kind: str, data: dict[str, Any]) -> list[EmbedField]:
    if kind == "regime":
        return [EmbedField("Regime", f"{data.get('from_regime')} → {data.get('to_regime')}"),
                EmbedField("Correlation", num(data.get("value"))),
                EmbedField("In the band since", str(data.get("since")))]
    if kind == "divergence":
        return [EmbedField("Divergence z", num(data.get("value"), 1, signed=True)),
                EmbedField("Over", f"{data.get('horizon')} sessions")]
    if kind == "record":
        return [EmbedField("Record", f"{data.get('side')}"), EmbedField("Correlation", num(data.get("value")))]
    if kind == "gap":
        return [EmbedField("Gap", str(data.get("event"))), EmbedField("Beta", num(data.get("beta"))),
                EmbedField("Anchor", str(data.get("anchor")))]
    return [EmbedField("Pairs scanned", str(data.get("universe_size")))] if data.get("universe_size") else []


def _percent(fraction: Any) -> str:
    return "n/a" if fraction is None else f"{num(float(fraction) * 100, 0, signed=True)}%"


def _gap_fields(data: dict[str, Any]) -> list[EmbedField]:
    fields = [EmbedField(f"Correlation ({data.get('window')})", num(data.get("correlation")))]
    if data.get("gap_pct") is not None:
        fields += [EmbedField("Gap", _percent(data.get("gap_pct"))),
                   EmbedField("Beta", f"{num(data.get('beta'))} ({data.get('beta_n_obs')} returns)"),
                   EmbedField("To close", f"{data['asset']} {_percent(data.get('asset_move_to_close'))} or "
                                          f"{data['benchmark']} {_percent(data.get('benchmark_move_to_close'))}")]
    regime = data.get("regime")
    if regime:
        fields.append(EmbedField("Regime", f"{regime} since {data['regime_since']}" if data.get("regime_since")
                                 else str(regime)))
    return fields


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
    parts = [f"As of {data['as_of']}"]
    if data.get("alignment"):
        parts.append(ALIGNMENT_WORDS.get(str(data["alignment"]), str(data["alignment"])))
    if data.get("source") or data.get("sources"):
        parts.append(f"data: {source_words(data.get('sources') or {}, str(data.get('source')))}")
    if data.get("stale"):
        parts.append("stale data")
    return " · ".join(parts)
