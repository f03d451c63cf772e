"""Which redis-py errors mean "the store's state: wait and retry" (never a dead letter),
and when a Redis that answers reads would refuse writes."""

from __future__ import annotations

import pytest
from redis.exceptions import (
    BusyLoadingError,
    ClusterError,
    ConnectionError,
    DataError,
    NoScriptError,
    OutOfMemoryError,  # type: ignore[attr-defined]
    ReadOnlyError,
    ResponseError,
)

from windows.reader import unwritable
from windows.writer import store_state_error


@pytest.mark.parametrize(("exc", "reason"), [
    (ConnectionError("Connection refused"), "redis_unavailable"),
    (BusyLoadingError("Redis is loading the dataset in memory"), "redis_loading"),
    (OutOfMemoryError("command not allowed when used memory > 'maxmemory'."),
     "redis_out_of_memory"),
    (ResponseError("OOM command not allowed when used memory > 'maxmemory'. script: abc"),
     "redis_out_of_memory"),
    (ResponseError("Error running script: @user_script:12: OOM command not allowed"),
     "redis_out_of_memory"),
    (ReadOnlyError("You can't write against a read only replica."), "redis_read_only"),
    (ResponseError("READONLY You can't write against a read only replica."), "redis_read_only"),
    (ResponseError("BUSY Redis is busy running a script."), "redis_busy"),
    # a failover's promoted replica before the scripts are loaded on it (a CI run)
    (NoScriptError("No matching script. Please use EVAL."), "redis_busy"),
    # redirections of a reshard past redis-py's budget (a CI run)
    (ClusterError("TTL exhausted."), "redis_busy"),
    (TimeoutError("timed out"), "redis_unavailable"),
])
def test_the_store_state_is_retried(exc: Exception, reason: str) -> None:
    mapped = store_state_error(exc)
    assert mapped is not None and mapped.reason == reason


@pytest.mark.parametrize("exc", [ResponseError("WRONGTYPE Operation against a key"),
                                 DataError("Invalid input of type: 'dict'"),
                                 ValueError("a bug")])
def test_other_errors_are_not_the_store_state(exc: Exception) -> None:
    assert store_state_error(exc) is None


def test_unwritable() -> None:
    assert unwritable({"maxmemory": 0, "used_memory": 10**9}, {"role": "master"}) == ""
    full = {"maxmemory": 1000, "used_memory": 1200, "maxmemory_policy": "noeviction"}
    assert unwritable(full, {"role": "master"}).startswith("out of memory")
    assert unwritable({**full, "maxmemory_policy": "allkeys-lru"}, {"role": "master"}).startswith(
        "maxmemory-policy allkeys-lru evicts")
    assert unwritable({}, {"role": "slave"}) == "read-only replica"
