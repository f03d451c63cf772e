"""Shared test configuration: hypothesis profiles (fixed seed in CI, larger locally), the
run's shared Kafka and Redis stopped once every test is done (tests/services.py), and no
redis-server of a test outliving it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, derandomize=True, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile("large", max_examples=2000, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(autouse=True)
def _stop_own_redis() -> Iterator[None]:
    """A redis-server a test started for itself does not outlive the test, whatever the
    test did with it."""
    from tests.support import OWN_REDIS

    yield
    for own in list(OWN_REDIS):
        own.kill()
        OWN_REDIS.discard(own)


def run_root(config: pytest.Config) -> Path:
    """The run's temporary directory, the same in the controller and every xdist worker
    (a worker's own is a directory inside it)."""
    base: Path = config._tmp_path_factory.getbasetemp()  # type: ignore[attr-defined]
    return base.parent if hasattr(config, "workerinput") else base


def pytest_sessionfinish(session: pytest.Session) -> None:
    """The controller (or a run without xdist) stops the shared services once all its
    workers are done with them."""
    if hasattr(session.config, "workerinput"):
        return
    from tests.services import stop_shared_services

    stop_shared_services(run_root(session.config))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The long tests first: the end-to-end runs, then the tests with real servers, then the
    many short unit tests, which fill the processes' last gaps (make test runs them in
    parallel; a long test that starts last would finish last)."""
    rank = {"e2e": 0, "integration": 1}
    items.sort(key=lambda item: rank.get(item.path.relative_to(Path(__file__).parent).parts[0],
                                         2))
