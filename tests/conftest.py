"""Shared test configuration: hypothesis profiles (fixed seed in CI, larger locally), and
no redis-server of a test outliving it."""

from __future__ import annotations

import os
from collections.abc import Iterator

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
