"""``support_store_complete``: which windows can hold every event after a data loss."""

from __future__ import annotations

from windows.reader import PipelineStats

H = 3_600_000


def stats(current: str | None, **store: str) -> PipelineStats:
    return PipelineStats(counters={}, offsets={}, epoch=current, store=store)


def test_no_epoch_means_lost_and_not_rebuilt_yet() -> None:
    s = stats(None)
    assert s.lost_before_ms is None and not s.complete(H, 10 * H)


def test_a_described_epoch_without_loss_is_complete() -> None:
    s = stats("e1", epoch="e1", lost_before_ms="0")
    assert s.lost_before_ms == 0 and s.complete(24 * H, 10 * H)


def test_windows_reaching_back_past_the_loss_are_incomplete_until_they_no_longer_do() -> None:
    s = stats("e1", epoch="e1", lost_before_ms=str(100 * H))
    assert not s.complete(H, 100 * H + H // 2)  # the last hour still reaches before the loss
    assert s.complete(H, 101 * H)  # an hour later it does not
    assert not s.complete(24 * H, 101 * H)  # the day window waits a day


def test_a_description_of_another_epoch_is_not_trusted_for_losses() -> None:
    # a store written before epochs were described (or between create and describe)
    s = stats("e2", epoch="e1", lost_before_ms=str(100 * H))
    assert s.lost_before_ms == 0
