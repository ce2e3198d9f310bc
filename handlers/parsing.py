"""Argument grammar shared by the pair commands: `[window] [asset] [benchmark]`, in any order."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.assets import Asset, find_asset, known_symbols
from bot.ports.reply import Reply, error_reply
from bot.windows import Window, WindowError, looks_like_window, parse_window

_TOKEN_SHOWN = 20


class UsageError(ValueError):
    """Bad input: the message is a short reason for the user (the caller adds the usage)."""


@dataclass(frozen=True)
class PairQuery:
    window: Window
    asset: Asset
    benchmark: Asset

    def command(self, name: str, window: Window | None = None, swap: bool = False) -> str:
        a, b = (self.benchmark, self.asset) if swap else (self.asset, self.benchmark)
        return f"/{name} {(window or self.window).label} {a.symbol} {b.symbol}"


def shown(token: str) -> str:
    return token if len(token) <= _TOKEN_SHOWN else token[: _TOKEN_SHOWN - 1] + "…"


def resolve_asset(token: str) -> Asset:
    asset = find_asset(token)
    if asset is None:
        raise UsageError(f"Unknown ticker '{shown(token)}'. Known: {', '.join(known_symbols())} (see /assets)")
    return asset


def parse_pair_args(
    args: list[str], default_pair: str, default_window: str, allow_window: bool = True
) -> PairQuery:
    window: Window | None = None
    assets: list[Asset] = []
    # ETH:RUT and ETH/RUT name a pair in one word
    tokens = [part for arg in args for part in re.split(r"[:/]", arg) if part]
    if len(tokens) > 3:
        raise UsageError(f"Too many words ({len(tokens)}): give at most a window and two tickers")
    for token in tokens:
        if looks_like_window(token):
            if not allow_window:
                raise UsageError("This command takes no window")
            if window is not None:
                raise UsageError("Give one window only")
            try:
                window = parse_window(token)
            except WindowError as exc:
                raise UsageError(str(exc)) from None
        else:
            assets.append(resolve_asset(token))
    if len(assets) > 2:
        raise UsageError("Give at most two tickers: an asset and a benchmark")
    default_asset, default_bench = (resolve_asset(s) for s in default_pair.split(":"))
    if not assets:
        asset, bench = default_asset, default_bench
    elif len(assets) == 1:
        asset = assets[0]
        bench = default_bench if asset is not default_bench else default_asset
    else:
        asset, bench = assets
    if asset is bench:
        raise UsageError(f"{asset.symbol} against itself is always 1: pick two different tickers")
    return PairQuery(window or parse_window(default_window), asset, bench)


def failure_reply(exc: Exception, usage: str) -> Reply:
    """A refusal from the analysis (too little data, a date outside it) as one sentence and the usage."""
    message = str(exc).split("\n", 1)[0]
    return error_reply(f"{message[:1].upper()}{message[1:]}.", usage)

