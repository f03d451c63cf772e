"""Rate-limit the Kafka clients' repeated log lines.

While the broker is down, aiokafka retries its metadata update in a tight loop and logs
every failure at ERROR: a two-minute outage wrote 75 MB (over 700,000 lines) to one
worker's log in our fault test. One line per message template every ``every_s`` seconds
says the same, followed by how many were held back, and keeps disks and log pipelines alive.
Faust's timers say "Timer ... is overlapping" on every tick an evaluation outlasts its
interval (the demo's alert evaluator at 240x: 130 lines in three minutes): the same.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable


class RepeatedLogFilter(logging.Filter):
    """Let a record from a logger under ``prefixes`` through if its template has not been
    seen for ``every_s`` seconds; count the others and report the count with the next one."""

    def __init__(self, prefixes: tuple[str, ...] = ("aiokafka", "kafka", "mode.timers"),
                 every_s: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._prefixes = prefixes
        self._every = every_s
        self._clock = clock
        self._seen: dict[tuple[str, str], tuple[float, int]] = {}

    def _limited(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self._prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._limited(record.name):
            return True
        key = (record.name, str(record.msg))
        now = self._clock()
        last, held = self._seen.get(key, (None, 0))
        if last is not None and now - last < self._every:
            self._seen[key] = (last, held + 1)
            return False
        if len(self._seen) > 10_000:  # templates are few; ids in messages must not grow this
            self._seen.clear()
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} [{held} more like this in the last {self._every:.0f}s]"
        return True


class StartupGrace(logging.Filter):
    """Drop the Kafka client's errors that every first start on a new broker shows (the
    group coordinator is elected a moment after the broker answers) during the first
    ``grace_s``; after that they show as usual (rate-limited), since then they mean it."""

    TRANSIENT = ("GroupCoordinatorNotAvailableError",)

    def __init__(self, grace_s: float = 60.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._clock = clock
        self._until = clock() + grace_s

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith("aiokafka") or self._clock() > self._until:
            return True
        return not any(t in record.getMessage() for t in self.TRANSIENT)


def install(every_s: float = 30.0) -> RepeatedLogFilter:
    """Add the shared filters to every handler of the root logger."""
    flt = RepeatedLogFilter(every_s=every_s)
    grace = StartupGrace()
    for handler in logging.getLogger().handlers:
        handler.addFilter(grace)
        handler.addFilter(flt)
    return flt


# Loggers whose INFO lines narrate the framework's own start-up and group protocol
# (service "Starting...", subscription tables, rejoins); warnings and errors still show.
FRAMEWORK_LOGGERS = ("faust", "mode", "aiokafka")


def quiet_frameworks() -> None:
    for name in FRAMEWORK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
