"""The one backoff of the stream side: pauses that double from a first one up to a cap, so a
lasting fault (Redis down, the DLQ unavailable, restarts in a row) never makes a tight loop
and a short one costs little."""

from __future__ import annotations

from collections.abc import Iterator


def doubling(attempt: int, first: float, cap: float) -> float:
    """The pause before retry ``attempt`` (counted from 0): ``first``, doubled each time,
    at most ``cap``."""
    return min(cap, first * 2 ** min(attempt, 32))


def pauses(first: float, cap: float) -> Iterator[float]:
    """The pauses of successive retries (see :func:`doubling`), without end."""
    attempt = 0
    while True:
        yield doubling(attempt, first, cap)
        attempt += 1
