"""The customer path's arithmetic on the store's side, compiled with the KPI core: a
customers-topic batch's contacts merged into each customer's stored contacts, and the
script call that writes both (:class:`windows.customers.CustomerWriter` does the I/O).

A customer's stored value is ``<version>|[contact rows]``; its contribution to the
windows is :func:`kpi.customers.customer_items` of its contacts, and a batch adds the
change of it. Pure: no Redis, no Faust.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import orjson

from kpi.config import KpiConfig
from kpi.customers import Contact, Items, customer_items, item_changes, merge_all
from kpi.deltas import Deltas, add_increment
from windows.cache import next_version
from windows.keys import Keys
from windows.ops import Ops, state_call
from windows.plan import ApplyResult, bucket_ops, retire_ops


class ContactRecord:
    """One message of the customers topic: a customer's contact, or why it was refused."""

    __slots__ = ("contact", "customer", "offset", "reason")

    def __init__(self, offset: int, customer: str = "", contact: Contact | None = None,
                 reason: str | None = None) -> None:
        self.offset = offset
        self.customer = customer
        self.contact = contact
        self.reason = reason


def decode_state(stored: bytes | str | None) -> tuple[str, dict[str, Contact]]:
    """A customer's stored value, ``<version>|[contact rows]`` (absent: version "")."""
    if not stored:
        return "", {}
    raw = stored if isinstance(stored, bytes) else stored.encode()
    version, _, state = raw.partition(b"|")
    contacts = (Contact.from_row(row) for row in orjson.loads(state))
    return version.decode(), {c.conversation_id: c for c in contacts}


def encode_state(contacts: Mapping[str, Contact]) -> bytes:
    return orjson.dumps([c.to_row() for c in sorted(contacts.values(),
                                                    key=lambda c: c.conversation_id)])


def contribution(cfg: KpiConfig, contacts: Mapping[str, Contact]) -> Items:
    """What one customer's contacts contribute under the writer's configuration."""
    return customer_items(contacts.values(), cfg.repeat_window_ms,
                          cfg.fcr_definition == "customer", cfg.repeat_shorter)


def customer_deltas(cfg: KpiConfig, before: Items, after: Mapping[str, Contact],
                    into: Deltas) -> tuple[int | None, Items]:
    """Add the change of one customer's contribution (``before``: what its stored contacts
    contributed) to ``into``; returns the newest time it places (the partition's event
    clock moves with it) and what ``after`` contributes."""
    now = contribution(cfg, after)
    newest: int | None = None
    for (dimkey, t, name), n in item_changes(before, now).items():
        add_increment(into, t, dimkey + name, n, cfg.resolutions_ms)
        newest = t if newest is None else max(newest, t)
    return newest, now


class Known:
    """A customer as this writer last wrote it: the version the script gave it, its
    contacts and what they contribute (so the next batch of that customer reads nothing
    and recomputes only the new contribution)."""

    __slots__ = ("contacts", "items", "version", "written_ms")

    def __init__(self, version: str, contacts: dict[str, Contact], items: Items,
                 written_ms: int) -> None:
        self.version = version
        self.contacts = contacts
        self.items = items
        self.written_ms = written_ms


def before_of(cfg: KpiConfig, known: Known | None, raw: bytes | str | None
            ) -> tuple[str, dict[str, Contact], Items]:
    if known is not None:
        return known.version, known.contacts, known.items
    version, contacts = decode_state(raw)
    return version, contacts, contribution(cfg, contacts)


def plan_customers(cfg: KpiConfig, k: Keys, pfield: str, epoch: str,
                   fresh: Sequence[ContactRecord], customers: Sequence[str],
                   befores: Sequence[tuple[str, dict[str, Contact], Items]],
                   ewm: int | None, last: int | None, now_ms: int
                   ) -> tuple[ApplyResult, list[str], list[str | int | bytes], dict[str, Known]]:
    """The script call that merges ``fresh`` into the customers as read (``befores``, in
    ``customers`` order), and what each customer will then be."""
    result = ApplyResult()
    ops = Ops(base=4 + len(customers))
    incoming: dict[str, list[Contact]] = {}
    for r in fresh:
        if r.contact is None:
            result.rejected += 1
            ops.incr(k.stats, f"rejected:{r.reason or 'unknown'}", 1)
        else:
            incoming.setdefault(r.customer, []).append(r.contact)
            result.applied += 1
    deltas: Deltas = {}
    clock = ewm
    states: list[tuple[str, bytes]] = []
    written: dict[str, Known] = {}
    for customer, (version, before, before_items) in zip(customers, befores, strict=True):
        after = merge_all(before, incoming.get(customer, ()))
        newest, items = customer_deltas(cfg, before_items, after, deltas)
        if newest is not None:
            clock = newest if clock is None else max(clock, newest)
        states.append((version, encode_state(after)))
        written[customer] = Known(next_version(version), after, items, now_ms)
    bucket_ops(cfg, k, deltas, clock, ops)
    retire_ops(cfg, k, ewm, clock, ops)
    if result.applied:
        ops.incr(k.stats, f"contacts:{pfield.rsplit(':', 1)[0]}", result.applied)
    keys, args = state_call(ops, [k.offsets, k.event_watermarks, k.stats, k.epoch], pfield,
                            last, max(r.offset for r in fresh),
                            None if clock == ewm else clock, epoch,
                            [k.customer(c) for c in customers], cfg.customer_ttl_ms, states)
    return result, keys, args, written
