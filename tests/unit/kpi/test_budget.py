"""The series budget: rows beyond it fold into 'other', coarse combinations first, busiest
rows kept, sums preserved."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from kpi import catalog
from kpi.rows import fold_live, fold_rows


def floor(queues: int, channels: int) -> dict[str, dict[str, int]]:
    raw: dict[str, dict[str, int]] = {"*": {"vol_created": 0, "done_n": 0}}
    for q in range(queues):
        raw[f"queue=q{q:02d}"] = {"vol_created": 0, "done_n": 0}
        for c in range(channels):
            n = (q * channels + c) % 7 + 1
            raw[f"queue=q{q:02d},channel=c{c:02d}"] = {"vol_created": n, "done_n": 1}
            raw[f"queue=q{q:02d}"]["vol_created"] += n
            raw["*"]["vol_created"] += n
    for c in range(channels):
        raw[f"channel=c{c:02d}"] = {"vol_created": 1, "done_n": 0}
    return raw


def test_a_floor_within_the_budget_is_untouched() -> None:
    raw = floor(3, 3)
    out, folded = fold_rows(raw, 100)
    assert out == raw and folded == 0


def test_fine_combinations_fold_first_and_totals_are_kept() -> None:
    raw = floor(50, 50)  # 1 + 50 + 50 + 2,500 rows
    out, folded = fold_rows(raw, 200)
    assert len(out) <= 200
    assert all(k in out for k in ("*", "queue=q00", "channel=c49"))  # coarse rows kept whole
    assert "queue=other,channel=other" in out
    assert folded == len(raw) - len(out) + 1  # the pairs beyond the budget, into one row
    pairs = [k for k in raw if "," in k]
    assert sum(out[k]["vol_created"] for k in out if "," in k) == \
        sum(raw[k]["vol_created"] for k in pairs)
    kept = [k for k in out if "," in k and "other" not in k]
    lowest_kept = min(raw[k]["vol_created"] for k in kept)
    assert all(raw[k]["vol_created"] <= lowest_kept for k in pairs if k not in out)


def test_an_existing_other_row_takes_the_folded_rows() -> None:
    raw = {"*": {"vol_created": 9}, "queue=a": {"vol_created": 5},
           "queue=b": {"vol_created": 1}, "queue=other": {"vol_created": 3}}
    out, folded = fold_rows(raw, 3)
    assert out == {"*": {"vol_created": 9}, "queue=a": {"vol_created": 5},
                   "queue=other": {"vol_created": 4}}
    assert folded == 1


def test_live_rows_fold_counts_and_keep_the_oldest_wait() -> None:
    rows = {"*": {"open": 3, "waiting": 2, "oldest_waiting_seconds": 50.0, "breaching": 1},
            "queue=a": {"open": 2, "waiting": 1, "oldest_waiting_seconds": 50.0, "breaching": 1},
            "queue=b": {"open": 1, "waiting": 1, "oldest_waiting_seconds": 9.0, "breaching": 0},
            "queue=c": {"open": 0, "waiting": 0, "oldest_waiting_seconds": 0.0, "breaching": 0}}
    out, folded = fold_live(rows, 3)
    assert folded == 2
    assert out["queue=other"] == {"open": 1, "waiting": 1, "oldest_waiting_seconds": 9.0,
                                  "breaching": 0}


@given(st.integers(1, 40), st.integers(1, 20), st.integers(4, 400))
def test_never_more_rows_than_the_budget(queues: int, channels: int, budget: int) -> None:
    raw = floor(queues, channels)
    out, _ = fold_rows(raw, budget)
    assert len(out) <= max(budget, 4)
    assert out["*"] == raw["*"]


def test_series_per_row_counts_every_exported_series() -> None:
    # 39 gauges (12 of the three SLA policy targets) + 35 summary samples (quantiles,
    # _sum, _count; 12 of them business time, counted although only queues with a calendar
    # export them) + 4 volumes + 17 bounds (lower and upper of 8 ratios, the NPS margin);
    # live: 5 queue gauges (one of them business hours, counted although only queues with
    # a calendar export it), at risk once per horizon and 3 SLA targets running;
    # the agents' KPIs (rows with agents only): 2 gauges (occupancy, productive seconds)
    # and handle time's 2 quantiles, _sum and _count
    assert catalog.SERIES_PER_ROW == 95 + 6
    # the customer KPIs, only when on: 4 counts, 3 ratios with 6 bounds, 1 mean
    assert catalog.customer_series_per_row(1) == 14
    assert catalog.customer_series_per_row(2) == 18  # the repeat count, rate and bounds
    # live, besides: 7 agent gauges and 5 staffing gauges (rows with agents only)
    assert catalog.live_series_per_row(1) == 9 + 12
    assert catalog.live_series_per_row(3) == 11 + 12
