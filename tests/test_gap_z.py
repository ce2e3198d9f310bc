"""How unusual a gap is (docs/methods.md §8.3): the fit's intercept, residual SD and beta standard error, gap_se
and gap_z, and when a benchmark move is withheld; checked against plain numpy/pandas on the bundled data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from bot.analytics import gap as gm
from tests.independent import sync_close_prices


def reference_fit(crypto: str, equity: str, t0: str, as_of: str) -> dict:
    """OLS with an intercept by least squares (numpy), the gap from the log prices (pandas)."""
    prices = np.log(sync_close_prices(crypto, equity))
    start = prices.index[prices.index <= pd.Timestamp(t0)][-1]
    end = prices.index[prices.index <= pd.Timestamp(as_of)][-1]
    rets = prices.diff().dropna()
    year = rets[(rets.index > start - pd.Timedelta(days=365)) & (rets.index <= start)]
    design = np.column_stack([np.ones(len(year)), year["equity"].to_numpy()])
    coef, ssr, _, _ = np.linalg.lstsq(design, year["price"].to_numpy(), rcond=None)
    resid_sd = math.sqrt(float(ssr[0]) / (len(year) - 2))
    cov = resid_sd**2 * np.linalg.inv(design.T @ design)
    g = (prices.at[end, "price"] - prices.at[start, "price"]) - coef[1] * (prices.at[end, "equity"]
                                                                           - prices.at[start, "equity"])
    n = int(((prices.index > start) & (prices.index <= end)).sum())
    return {"start": start, "alpha": coef[0], "beta": coef[1], "beta_se": math.sqrt(cov[1, 1]),
            "resid_sd": resid_sd, "gap": g, "n": n, "gap_se": resid_sd * math.sqrt(n),
            "gap_z": g / (resid_sd * math.sqrt(n)), "correlation": year["price"].corr(year["equity"])}


def project_fit(crypto: str, equity: str, t0: pd.Timestamp) -> gm.BetaFit:
    rets = np.log(sync_close_prices(crypto, equity)).diff().dropna()
    return gm.fit_beta(rets["price"], rets["equity"], t0)


@pytest.mark.parametrize(("crypto", "equity", "since", "as_of"), [
    ("ETH", "RUT", "2025-07-25", "2026-01-16"),
    ("BTC", "QQQ", "2019-05-17", "2019-12-31"),
    ("BTC", "SPY", "2020-01-30", "2020-03-31"),
    ("BTC", "SPY", "2024-12-01", "2026-01-16"),
])
def test_fit_uncertainty_and_gap_z_match_least_squares(crypto, equity, since, as_of):
    want = reference_fit(crypto, equity, since, as_of)
    fit = project_fit(crypto, equity, want["start"])
    assert fit.beta == pytest.approx(want["beta"], rel=1e-9)
    assert fit.alpha == pytest.approx(want["alpha"], abs=1e-12)
    assert fit.resid_sd == pytest.approx(want["resid_sd"], rel=1e-9)
    assert fit.beta_se == pytest.approx(want["beta_se"], rel=1e-9)
    assert gm.gap_standard_error(fit.resid_sd, want["n"]) == pytest.approx(want["gap_se"], rel=1e-9)
    assert gm.gap_z(want["gap"], fit.resid_sd, want["n"]) == pytest.approx(want["gap_z"], rel=1e-9)


def test_the_documented_values():
    # docs/methods.md §8.5: ETH/RUT since 2025-07-25 as of 2026-01-16
    eth = reference_fit("ETH", "RUT", "2025-07-25", "2026-01-16")
    fit = project_fit("ETH", "RUT", eth["start"])
    assert (round(fit.beta, 2), round(fit.beta_se, 2)) == (1.62, 0.17)
    assert gm.gap_z(eth["gap"], fit.resid_sd, eth["n"]) == pytest.approx(-0.847, abs=5e-4)
    assert gm.gap_standard_error(fit.resid_sd, eth["n"]) == pytest.approx(0.4425, abs=5e-4)
    # BTC/SPY since 2024-11-29: the intercept left out over the gap's 282 returns is +0.55, more than |g| 0.244
    btc = reference_fit("BTC", "SPY", "2024-12-01", "2026-01-16")
    assert btc["n"] == 282 and btc["alpha"] * btc["n"] == pytest.approx(0.550, abs=5e-4)


def test_gap_z_is_undefined_without_a_spread_or_a_return():
    assert gm.gap_standard_error(0.02, 100) == pytest.approx(0.2)
    assert gm.gap_z(-0.1, 0.02, 100) == pytest.approx(-0.5)
    assert math.isnan(gm.gap_z(0.1, 0.02, 0)) and math.isnan(gm.gap_z(0.1, 0.0, 10))
    assert math.isnan(gm.gap_z(0.1, math.nan, 10))
    band = gm.gap_band(0.02, np.array([0, 1, 4]), 2.0)
    assert band.tolist() == pytest.approx([0.0, 0.04, 0.08])


@pytest.mark.parametrize(("crypto", "equity", "since", "as_of", "reason"), [
    ("BTC", "QQQ", "2019-05-17", "2019-12-31", gm.BETA_NOT_POSITIVE),  # β −0.007, ρ −0.002
    ("BTC", "SPY", "2020-01-30", "2020-03-31", gm.BETA_NOT_POSITIVE),  # β −0.94, ρ −0.16
    ("ETH", "RUT", "2025-07-25", "2026-01-16", None),  # β 1.62 ± 0.17, ρ 0.53
])
def test_benchmark_move_withheld_on_the_issue_cases(crypto, equity, since, as_of, reason):
    want = reference_fit(crypto, equity, since, as_of)
    fit = project_fit(crypto, equity, want["start"])
    assert gm.benchmark_move_withheld_reason(fit.beta, fit.beta_se, fit.correlation) == reason


def test_each_withholding_rule():
    assert gm.benchmark_move_withheld_reason(-0.5, 0.1, 0.6) == gm.BETA_NOT_POSITIVE
    assert gm.benchmark_move_withheld_reason(0.0, 0.1, 0.6) == gm.BETA_NOT_POSITIVE
    assert gm.benchmark_move_withheld_reason(0.19, 0.1, 0.6) == gm.BETA_NOT_SIGNIFICANT  # 1.9 standard errors
    assert gm.benchmark_move_withheld_reason(0.20, 0.1, 0.29) == gm.WEAK_CORRELATION
    assert gm.benchmark_move_withheld_reason(0.20, 0.1, 0.30) is None
