"""The wall model in a helper process of its own.

The worker applies events on one core: its Python threads share one interpreter lock, so
every millisecond the wall spends decoding bucket hashes was a millisecond the stream did
not run (200 viewers took a fifth of the throughput while the model ran on the HTTP
thread). In a spawned helper process the snapshots and samples use the machine's other
core; the HTTP thread only waits for their answer. The helper is started anew if it dies.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Protocol

log = logging.getLogger(__name__)


class Wall(Protocol):
    """What the HTTP side needs of a wall model, here or in the helper."""

    @property
    def windows(self) -> list[str]: ...

    def snapshot(self, window: str) -> dict[str, Any]: ...

    def sample_live(self) -> None: ...


_model: Wall | None = None


def _init(factory: Callable[..., Wall], args: Sequence[Any]) -> None:
    global _model
    # Ctrl-C reaches the whole process group: the worker stops the helper, not the key
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    _model = factory(*args)


def _exit_with_parent() -> None:
    """A worker killed outright (SIGKILL, the OOM killer) cannot stop its helper, and the
    helper never sees its call queue close (a spawned child holds both ends of it), so it
    would wait for work forever, one more process per crash: it watches its parent's
    sentinel and exits with it."""
    parent = multiprocessing.parent_process()
    if parent is None:
        return

    def watch() -> None:
        parent.join()
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _snapshot(window: str) -> dict[str, Any]:
    assert _model is not None
    return _model.snapshot(window)


def _sample() -> None:
    assert _model is not None
    _model.sample_live()


class OutOfProcessWall:
    """A :class:`Wall` whose model ``factory(*args)`` builds in a spawned process (the
    factory and its arguments must pickle: plain settings, not clients)."""

    def __init__(self, factory: Callable[..., Wall], args: Sequence[Any],
                 windows: Sequence[str], timeout_s: float = 60.0) -> None:
        self._factory = factory
        self._args = tuple(args)
        self._windows = list(windows)
        self._timeout = timeout_s
        self._lock = threading.Lock()
        # started at the first call: a worker that fails to start (its port taken) never
        # spawned a helper to leave behind
        self._pool: ProcessPoolExecutor | None = None
        self._closed = False

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"),
                                   initializer=_init, initargs=(self._factory, self._args))

    def _running(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._closed:
                raise RuntimeError("the wall's helper is closed")
            if self._pool is None:
                self._pool = self._start()
            return self._pool

    @property
    def windows(self) -> list[str]:
        return self._windows

    def _call(self, fn: Callable[..., Any], *args: Any) -> Any:
        pool = self._running()
        try:
            return pool.submit(fn, *args).result(timeout=self._timeout)
        except BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    log.warning("the wall's helper process died; starting a new one")
                    self._pool = self._start()
            raise

    def snapshot(self, window: str) -> dict[str, Any]:
        return self._call(_snapshot, window)

    def sample_live(self) -> None:
        self._call(_sample)

    def close(self) -> None:
        """Stop the helper now (a worker that stops, or fails to start, leaves none)."""
        with self._lock:
            self._closed, pool, self._pool = True, self._pool, None
        if pool is not None:
            processes = list(getattr(pool, "_processes", {}).values())
            pool.shutdown(wait=False, cancel_futures=True)
            for proc in processes:  # one busy in a call would finish it first
                proc.terminate()
