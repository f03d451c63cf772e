"""Confidence on small samples: the Wilson 95% interval against SciPy's reference
implementation, and the NPS margin of error against a hand-worked value."""

from __future__ import annotations

import math

import pytest
from scipy.stats import binomtest

from devtools import oracle
from kpi import catalog, kinds


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 30, 101, 2000])
def test_wilson_matches_scipy(n: int) -> None:
    for k in sorted({0, 1, n // 3, n // 2, n - 1, n}):
        ref = binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        for lo, hi in (kinds.wilson(k, n), oracle._wilson(k, n)):
            assert math.isclose(lo, ref.low, abs_tol=1e-12), (k, n)
            assert math.isclose(hi, ref.high, abs_tol=1e-12), (k, n)


def test_two_of_two_is_not_certain() -> None:
    lo, hi = kinds.wilson(2, 2)  # type: ignore[misc]
    assert round(lo, 4) == 0.3424 and hi == 1.0
    assert kinds.wilson(0, 0) is None


def test_nps_margin_hand_worked() -> None:
    # 100 responses: 50 promoters, 20 detractors: NPS 30; the per-response variance is
    # (0.5 + 0.2) - 0.3^2 = 0.61, so the margin is 1.96 * sqrt(0.61 / 100) * 100 = 15.31
    for margin in (kinds.nps_margin(50, 20, 100), oracle._nps_margin(50, 20, 100)):
        assert margin is not None and round(margin, 2) == 15.31
    assert kinds.nps_margin(0, 0, 0) is None
    assert kinds.nps_margin(10, 0, 10) == 0.0  # all promoters: no spread


def test_rows_carry_the_bounds() -> None:
    row = catalog.summarize({"csat_n": 2, "csat_pos": 2, "nps_n": 100, "nps_pro": 50,
                             "nps_det": 20})
    assert row["csat_ratio"] == 1.0 and round(row["csat_ratio_lower"] or 0, 4) == 0.3424
    assert row["csat_ratio_upper"] == 1.0
    assert row["fcr_ratio_lower"] is None  # no denominator: absent, like the ratio
    assert round(row["nps_score_margin"] or 0, 2) == 15.31
