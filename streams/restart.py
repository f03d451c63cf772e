"""Restart the worker in place: the same process id re-executes its own command line.

Used when the worker must start over (the store lost its data; a partition stopped
making progress). Exec rather than exit: no supervisor is required, a supervisor that
exists sees one continuous process, and a signal sent to the pid still reaches the
worker. Nothing is lost by not stopping cleanly: Redis holds every applied batch and
its offsets, and the new process seeks to them.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable

from streams.retry import doubling

log = logging.getLogger(__name__)

RESTARTS_ENV = "SUPPORT_WORKER_RESTARTS"
LAST_RESTART_ENV = "SUPPORT_WORKER_LAST_RESTART"
# Test-only fault hooks fire in the first process only, not again after a restart.
TEST_HOOK_ENV = "SUPPORT_TEST_CRASH_AT"
# Partitions whose rewind the process before the restart already counted (streams.seek).
REWOUND_ENV = "SUPPORT_WORKER_REWOUND"


def rewinds_counted() -> set[str]:
    """Partitions (``topic:partition``) whose rewind was counted before this restart."""
    return {p for p in os.environ.get(REWOUND_ENV, "").split(",") if p}


def restarts_so_far() -> int:
    try:
        return int(os.environ.get(RESTARTS_ENV, "0"))
    except ValueError:
        return 0


def backoff_s(restarts: int, since_last_s: float | None) -> float:
    """Pause before a restart: none for a rare one, doubling (to 60 s) when they come
    within ten minutes of each other, so a lasting fault cannot make a tight loop."""
    if since_last_s is None or since_last_s > 600:
        return 0.0
    return doubling(restarts, 1.0, 60.0)


# called before the exec: what the process started must not outlive its image (the worker's
# customers process, which the new image starts again)
BEFORE_RESTART: list[Callable[[], None]] = []


def restart_in_place(reason: str, rewound: str = "") -> None:
    """Log why, pause if restarts are frequent, and exec the same command line
    (``rewound``: a partition whose rewind this process counted)."""
    n = restarts_so_far()
    last = os.environ.get(LAST_RESTART_ENV)
    since = time.time() - float(last) if last else None
    pause = backoff_s(n, since)
    log.error("restarting the worker in place (restart %d): %s%s", n + 1, reason,
              f"; pausing {pause:.0f}s first (restarts are frequent)" if pause else "")
    env = {**os.environ, RESTARTS_ENV: str(n + 1), LAST_RESTART_ENV: str(time.time())}
    env.pop(TEST_HOOK_ENV, None)
    env[REWOUND_ENV] = ",".join(sorted(rewinds_counted() | ({rewound} if rewound else set())))
    for hook in BEFORE_RESTART:
        hook()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    if pause:
        time.sleep(pause)
    os.execve(sys.executable, [sys.executable, *sys.orig_argv[1:]], env)
