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


class ConfigError(WindowsStoreError, ValueError):
    """The window configuration is inconsistent (e.g. a window not divisible into buckets)."""
