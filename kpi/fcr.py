"""First contact resolution: the definitions a conversation can be judged by
(``SUPPORT_FCR_DEFINITION``), each a pure predicate over its events up to the first
completion, its human replies and whether it was reopened within the reopen window."""

from __future__ import annotations

from collections.abc import Sequence

from kpi.events import FCR_BREAKING_TYPES, MESSAGE_TYPES, Event


def _fcr_project(before: Sequence[Event], replies: Sequence[Event], reopened: bool) -> bool:
    """This project's default: one human reply, no escalation to another tier or team, no
    reopen within the reopen window."""
    breaking = any(e.type in FCR_BREAKING_TYPES for e in before)
    return len(replies) == 1 and not breaking and not reopened


def _fcr_one_touch(before: Sequence[Event], replies: Sequence[Event], reopened: bool) -> bool:
    """Zendesk's one-touch ticket: solved with exactly one agent reply."""
    return len(replies) == 1


def _fcr_one_teammate(before: Sequence[Event], replies: Sequence[Event],
                      reopened: bool) -> bool:
    """Intercom's one participating teammate: every reply from the same agent."""
    return len({e.agent_id for e in replies}) == 1


def _fcr_no_follow_up(before: Sequence[Event], replies: Sequence[Event],
                      reopened: bool) -> bool:
    """Freshservice's first contact resolution: no customer interaction after the first
    contact (the first human reply) until resolved."""
    first = replies[0].sort_key()
    return not any(e.type in MESSAGE_TYPES and e.actor == "customer"
                   and e.sort_key() > first for e in before)


FCR_RULES = {
    "project": _fcr_project,
    "zendesk_one_touch": _fcr_one_touch,
    "intercom_one_teammate": _fcr_one_teammate,
    "freshservice": _fcr_no_follow_up,
}
