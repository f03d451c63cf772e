"""Schema v1.2 as a msgspec type: the shape an event must have to take the fast path of
:func:`streams.schema.validate` (decoded and type-checked in one pass, in C).

A document that does not fit it is not rejected here: the fast path gives up and the
field-by-field validator, the one that names reasons, decides. So this type only has to be
at least as strict as that validator, never looser; ``tests/unit/streams/test_schema.py``
checks with hypothesis that both give the same event for whatever the fast path accepts.
It is kept out of the compiled modules (setup.py): a msgspec Struct is not a class mypyc
can compile natively.
"""

from __future__ import annotations

import msgspec


class Wire(msgspec.Struct):
    """The fields the validator reads, with the types it accepts (unknown fields are
    ignored, as there). ``score`` and ``status`` are typed although the validator ignores
    them on other event types: a mistyped one there only sends the event the slow way."""

    event_id: str
    type: str
    occurred_at: float | str
    conversation_id: str
    channel: str | None = None
    queue: str | None = None
    team: str | None = None
    priority: str | None = None
    actor: str | None = None
    agent_id: str | None = None
    score: float | None = None
    status: str | None = None
    customer_id: str | int | None = None


DECODER = msgspec.json.Decoder(Wire)
DecodeError = msgspec.DecodeError
