"""Schema v1.2's ``customer_id`` as the connectors take it (connectors.base.customer): the
vendor's own id of the requester or contact as a string, exactly as the payload gives it,
and nothing where the payload gives no usable one, so no id is ever made up and no event
is refused by the schema for its customer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from connectors.base import MAX_CUSTOMER_ID, customer, event, with_customer
from streams.schema import MAX_ID_LEN, SchemaConfig, validate


def test_the_limit_is_the_schemas() -> None:
    assert MAX_CUSTOMER_ID == MAX_ID_LEN


@pytest.mark.parametrize(("candidates", "want"), [
    (("9873843",), "9873843"),
    ((360839922496,), "360839922496"),  # an API's int id, as a string
    ((None, "", 715), "715"),  # the first that is one
    (("{{ticket.requester.id}}", 7), "7"),  # a template's unrendered placeholder is none
    ((0, "0"), None),  # Intercom's and the helpdesks' "nobody"
    ((True,), None),
    (({"id": 1}, [1], 1.5), None),  # not an id
    (("x" * (MAX_ID_LEN + 1),), None),  # the schema would refuse the event for it
    (("\ud800",), None),  # JSON can carry a lone surrogate, the store cannot
])
def test_only_an_id_the_payload_gives_is_taken(candidates: tuple[Any, ...],
                                               want: str | None) -> None:
    assert customer(*candidates) == want


def test_an_event_with_its_customer_is_schema_v1_2() -> None:
    events = with_customer([event("zendesk", "141:created", "ticket.created", "141",
                                  "2025-02-11T14:32:00Z")], customer("9873843"))
    assert events[0]["customer_id"] == "9873843"
    cfg = SchemaConfig(customer_key=b"k" * 32)
    assert validate(json.dumps(events[0]).encode(), cfg, lambda: 2**62).customer is not None
    assert with_customer(events[:0], "1") == [] and with_customer(events, None) == events
