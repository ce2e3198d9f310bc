"""What to suggest while someone types an option (slash-command autocomplete): windows and tickers, from the
window grammar and the asset registry. Platform-neutral; at most `limit` suggestions, best first."""

from __future__ import annotations

from bot.assets import Asset, all_assets
from bot.windows import looks_like_window
from handlers.registry import OptionKind

WINDOW_SUGGESTIONS = ("30d", "90d", "1y", "60d", "6m", "2y", "3y", "5y", "10y")
MAX_SUGGESTIONS = 25  # Discord's limit


def suggestions(kind: OptionKind, typed: str, limit: int = MAX_SUGGESTIONS) -> list[tuple[str, str]]:
    """(label, value) pairs for what `typed` may become; nothing for option kinds without a fixed vocabulary."""
    if kind is OptionKind.WINDOW:
        return _windows(typed.strip().lower(), limit)
    if kind in (OptionKind.ASSET, OptionKind.BENCHMARK):
        return [(f"{a.symbol} — {a.name}"[:100], a.symbol) for a in _tickers(typed.strip().upper(), limit)]
    return []


def _windows(typed: str, limit: int) -> list[tuple[str, str]]:
    shown = [w for w in WINDOW_SUGGESTIONS if w.startswith(typed)] or list(WINDOW_SUGGESTIONS)
    if typed and typed not in shown and looks_like_window(typed):
        shown.insert(0, typed)  # any window is accepted (and checked when the command runs)
    return [(w, w) for w in shown[:limit]]


def _tickers(typed: str, limit: int) -> list[Asset]:
    """Symbols that start with what was typed first, then aliases and names that do ("russ" → RUT)."""
    assets = list(all_assets())
    if not typed:
        return assets[:limit]
    by_symbol = [a for a in assets if a.symbol.startswith(typed)]
    by_alias = [a for a in assets if a not in by_symbol and (
        any(alias.startswith(typed) for alias in a.aliases)
        or (len(typed) >= 3 and any(word.startswith(typed) for word in a.name.upper().split())))]
    return (by_symbol + by_alias)[:limit]
