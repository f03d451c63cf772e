from __future__ import annotations

import math
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kpi import histogram as h

durations_ms = st.integers(min_value=0, max_value=30 * 86_400_000)


@given(durations_ms)
def test_representative_within_stated_relative_error(ms: int) -> None:
    rep = h.bin_value_seconds(h.bin_of_ms(ms))
    x = ms / 1000
    if x == 0:
        assert rep == 0
    else:
        assert abs(rep - x) <= h.RELATIVE_ERROR * x * (1 + 1e-9)


def test_stated_error_is_two_percent_and_tight() -> None:
    assert h.RELATIVE_ERROR == 0.02
    # both edges of a bin are exactly alpha away from its representative
    i = 100
    lo, hi = h.GAMMA ** (i - 1), h.GAMMA**i
    rep = h.bin_value_seconds(str(i))
    assert math.isclose((rep - lo) / lo, 0.02, rel_tol=1e-9)
    assert math.isclose((hi - rep) / hi, 0.02, rel_tol=1e-9)


@given(st.lists(durations_ms, min_size=1, max_size=300),
       st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.01, 1.0]))
def test_quantile_within_error_of_exact_nearest_rank(values: list[int], q: float) -> None:
    bins = Counter(h.bin_of_ms(v) for v in values)
    est = h.quantile(bins, q)
    exact = h.exact_nearest_rank([v / 1000 for v in values], q)
    assert est is not None and exact is not None
    assert abs(est - exact) <= h.RELATIVE_ERROR * exact + 1e-9


@given(st.lists(durations_ms, max_size=100), st.lists(durations_ms, max_size=100))
def test_merge_is_addition(a: list[int], b: list[int]) -> None:
    merged = Counter(h.bin_of_ms(v) for v in a) + Counter(h.bin_of_ms(v) for v in b)
    together = Counter(h.bin_of_ms(v) for v in a + b)
    assert merged == together


def test_empty_histogram_has_no_quantile() -> None:
    assert h.quantile({}, 0.5) is None
    assert h.quantile({"3": 0}, 0.5) is None


def test_nearest_rank_examples() -> None:
    assert h.exact_nearest_rank([60, 300, 60, 60], 0.5) == 60
    assert h.exact_nearest_rank([60, 300, 60, 60], 0.9) == 300
    assert h.exact_nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9


@pytest.mark.parametrize("ms", [1, 999, 1000, 1001, 60_000, 86_400_000])
def test_bins_are_monotonic(ms: int) -> None:
    assert int(h.bin_of_ms(ms)) <= int(h.bin_of_ms(ms + 1))
