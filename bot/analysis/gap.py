"""/gap: how far a pair is from its pre-decoupling beta line, and the move that would close it
(docs/methods.md §8), on top of the pair analysis service.

The aligned prices and returns, the as_of (and whether it is stale) and the regime history of the default
window all come from `PairAnalyzer` and its caches, so /gap sees exactly the data and regimes /corr sees; the
maths is in bot/analytics/gap.py. The anchor session t0 is the `since` date asked (the last session on or
before it), or else the session before the start of the change that ended the pair's most recent coupled
regime. A pair coupled right now has no gap to close unless a date is given.
"""

from __future__ import annotations

import math
from datetime import date
from typing import TYPE_CHECKING

import pandas as pd

from bot.analysis.errors import AnalysisError
from bot.analysis.gap_results import END_OF_COUPLED, GIVEN, CoupledEnd, CoupledNow, GapResult, PairContext
from bot.analysis.results import PairData
from bot.analytics import gap as gm
from bot.analytics.regimes import RegimeChange
from bot.analytics.thresholds import Regime
from bot.assets import Asset
from bot.market.align import alignment_label
from bot.windows import Window

if TYPE_CHECKING:
    from bot.analysis.analyzer import PairAnalyzer


def _coupled_ends(changes: list[RegimeChange], adopted_since: pd.Series) -> list[CoupledEnd]:
    ends = []
    for change in changes:
        if change.from_regime is not Regime.COUPLED:
            continue
        earlier = adopted_since.loc[: change.as_of]
        began = earlier.iloc[-2] if len(earlier) >= 2 else None
        ends.append(CoupledEnd(None if began is None or pd.isna(began) else began, change.since, change.as_of,
                               change.to_regime.value))
    return ends


class GapService:
    """Answers /gap from the analyzer's cached pair data and regime histories; keeps no state of its own."""

    def __init__(self, analyzer: PairAnalyzer):
        self.analyzer = analyzer

    def context(self, asset: Asset, benchmark: Asset, window: Window,
                as_of: date | None = None) -> tuple[PairData, PairContext]:
        data = self.analyzer.pair(asset, benchmark)
        resolved = self.analyzer.resolve_as_of(data, as_of)
        when = resolved.when
        history = self.analyzer.window_history(data, window)
        regimes = history.regimes
        since = regimes.adopted_since.get(when)
        ends = [e for e in _coupled_ends(regimes.changes, regimes.adopted_since) if e.changed <= when]
        context = PairContext(
            asset=asset,
            benchmark=benchmark,
            as_of=resolved,
            window=window,
            regime=regimes.adopted.get(when),
            regime_since=None if since is None or pd.isna(since) else since,
            correlation=float(history.pearson.get(when, math.nan)),
            n_obs_window=int(history.n_obs.get(when, 0)),
            last_coupled_end=ends[-1] if ends else None,
            source=data.source,
            sources=data.sources,
            data_end=data.returns.index[-1],
        )
        return data, context

    def gap(self, asset: Asset, benchmark: Asset, window: Window, since: date | None = None,
            as_of: date | None = None) -> GapResult | CoupledNow:
        """The gap at as_of from the anchor; CoupledNow for a coupled pair without `since`; AnalysisError for a
        question without an honest answer (a date outside the data, too little history for the beta)."""
        data, context = self.context(asset, benchmark, window, as_of)
        dates = data.aligned.index
        requested = None if since is None else pd.Timestamp(since)
        coupled_end = None
        if requested is not None:
            anchor = self._given_anchor(data, context, requested)
            kind = GIVEN
        else:
            if context.coupled:
                end = context.last_coupled_end
                return CoupledNow(context, None if end is None else gm.session_before(dates, end.since))
            coupled_end = context.last_coupled_end
            if coupled_end is None:
                raise AnalysisError(
                    f"{asset.symbol} and {benchmark.symbol} have had no coupled regime at the {window.long_label} "
                    f"window up to {context.when:%Y-%m-%d}, so there is no pre-decoupling beta line; "
                    "give a start date: since YYYY-MM-DD"
                )
            anchor = gm.session_before(dates, coupled_end.since)
            if anchor is None:  # the dwell started on the first observation: nothing before it
                raise AnalysisError(f"no {data.key} session before {coupled_end.since:%Y-%m-%d} to anchor on; "
                                    "give a start date: since YYYY-MM-DD")
            kind = END_OF_COUPLED
        return self._measure(data, context, anchor, kind, requested, coupled_end)

    def _today(self) -> pd.Timestamp:
        """The day by the data mode's clock, or by the real one in snapshot mode (which has none)."""
        clock = self.analyzer.market.now()
        now = clock if clock is not None else pd.Timestamp.now(tz="UTC")
        if now.tz is not None:
            now = now.tz_convert("UTC").tz_localize(None)
        return now.normalize()

    def _given_anchor(self, data: PairData, context: PairContext, requested: pd.Timestamp) -> pd.Timestamp:
        dates = data.aligned.index
        when = context.when
        if requested < dates[0]:
            raise AnalysisError(f"no {data.key} data before {dates[0]:%Y-%m-%d} (its first price; its first return "
                                f"is on {data.returns.index[0]:%Y-%m-%d}): pick a later since date")
        if requested > when:
            if requested > self._today():
                raise AnalysisError(f"since {requested:%Y-%m-%d} is in the future: pick a date before "
                                    f"{when:%Y-%m-%d}")
            raise AnalysisError(f"since {requested:%Y-%m-%d} is after {when:%Y-%m-%d}, the date of the answer: "
                                "pick an earlier date")
        anchor = gm.session_on_or_before(dates, requested)
        assert anchor is not None  # requested >= dates[0]
        if anchor >= when:
            raise AnalysisError(f"since {requested:%Y-%m-%d} is the last session of the answer "
                                f"({when:%Y-%m-%d}): there is no move to measure yet; pick an earlier date")
        return anchor

    def _measure(self, data: PairData, context: PairContext, anchor: pd.Timestamp, kind: str,
                 requested: pd.Timestamp | None, coupled_end: CoupledEnd | None) -> GapResult:
        when = context.when
        rets = data.returns
        fit = gm.fit_beta(rets["ra"], rets["rb"], anchor)
        which = "since date" if kind == GIVEN else "start date (since YYYY-MM-DD)"
        if fit.n_obs < gm.MIN_BETA_OBS:
            raise AnalysisError(
                f"only {fit.n_obs} return{'' if fit.n_obs == 1 else 's'} of {data.key} in the year to "
                f"{anchor:%Y-%m-%d}; the beta needs at "
                f"least {gm.MIN_BETA_OBS}: pick a later {which}"
            )
        if not math.isfinite(fit.beta):
            raise AnalysisError(f"{context.benchmark.symbol} did not move in the year to {anchor:%Y-%m-%d}, so "
                                f"there is no beta: pick another {which}")
        prices = data.aligned.loc[anchor:when]
        path = gm.gap_paths(prices["a"], prices["b"], anchor, fit.beta)
        used = rets.loc[(rets.index > anchor - pd.Timedelta(days=gm.BETA_DAYS)) & (rets.index <= when)]
        return GapResult(
            pair=context,
            anchor=anchor,
            anchor_kind=kind,
            requested_since=requested,
            coupled_end=coupled_end,
            fit=fit,
            gap=float(path["gap"].iloc[-1]),
            n_obs=len(path) - 1,
            path=path,
            alignment=alignment_label(used),
        )
