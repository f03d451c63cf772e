"""One base exception for the windows package, with reason codes that become metric labels."""

from __future__ import annotations


class WindowsStoreError(Exception):
    """Base error of the windows package; ``reason`` is a short, bounded label value."""

    reason = "store_error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason
        self.detail = detail


class StoreConflict(WindowsStoreError):
    """Another writer moved the partition watermark or a conversation since we read it."""

    reason = "conflict"


class StoreUnavailable(WindowsStoreError):
    """Redis could not be reached; retriable, the batch must not be acknowledged."""

    reason = "redis_unavailable"


class StoreReset(WindowsStoreError):
    """The store's epoch is gone or changed under us: Redis was flushed or restarted
    without its data. Writing on would count from zero; the worker must rebuild."""


class StoreRewound(WindowsStoreError):
    """The store went back in time: its watermark of a partition is below an offset this
    worker already applied there (Redis restored from an older snapshot, or failed over to
    a lagging replica; the epoch came back with it). Writing on would silently skip the
    offsets in between: the worker must seek back to the store's watermark + 1 and
    re-apply them from Kafka."""

    reason = "store_rewound"

    def __init__(self, detail: str, *, partition: str, store_last: int | None,
                 applied: int) -> None:
        super().__init__(detail)
        self.partition = partition
        self.store_last = store_last
        self.applied = applied
