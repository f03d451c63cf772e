"""The test-only crash hook fires on exactly its batch, whatever the other agent does."""

from __future__ import annotations

import asyncio

import pytest

import streams.faults as faults_module
from streams.faults import Faults
from streams.processor import RawMessage


class Exited(Exception):
    pass


def _raise(what: str, topic: str, partition: int, last: int) -> None:
    raise Exited(f"{topic}:{partition}@{last}")


def _batch(first: int) -> list[RawMessage]:
    return [RawMessage(first + i, None, b"{}") for i in range(3)]


async def _no_commit(topic: str, partition: int, offset: int) -> None:
    raise AssertionError("after_write never commits")


def test_after_write_fires_on_its_batch_when_the_other_agent_runs_in_between(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults_module, "_exit", _raise)
    hook = Faults("after_write:2", _no_commit)

    async def scenario() -> None:
        await hook.before_write("tickets", 0, _batch(0))
        hook.after_write("tickets", 0, _batch(0))
        await hook.before_write("tickets", 0, _batch(3))  # the 2nd batch: armed
        await hook.before_write("chats", 1, _batch(0))  # the other agent's 3rd, meanwhile
        hook.after_write("chats", 1, _batch(0))  # not the armed one: no exit
        hook.after_write("tickets", 0, _batch(3))

    with pytest.raises(Exited, match="tickets:0@5"):
        asyncio.run(scenario())


def test_before_write_commits_then_exits_on_the_nth_batch(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(faults_module, "_exit", _raise)
    commits: list[tuple[str, int, int]] = []

    async def commit(topic: str, partition: int, offset: int) -> None:
        commits.append((topic, partition, offset))

    hook = Faults("before_write:2", commit)

    async def scenario() -> None:
        await hook.before_write("chats", 0, _batch(0))
        await hook.before_write("tickets", 1, _batch(10))

    with pytest.raises(Exited, match="tickets:1@12"):
        asyncio.run(scenario())
    assert commits == [("tickets", 1, 13)]


def test_no_spec_is_a_no_op() -> None:
    hook = Faults("", _no_commit)

    async def scenario() -> None:
        for first in range(0, 30, 3):
            await hook.before_write("tickets", 0, _batch(first))
            hook.after_write("tickets", 0, _batch(first))

    asyncio.run(scenario())
