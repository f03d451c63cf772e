"""The customer path's store: a customers-topic partition's batch of contacts, applied to
each customer's contacts and to the windows in one script call, exactly once.

It is the main path's writer (:class:`windows.writer.WindowWriter`: the same epoch, claim,
rewind checks and offset watermark per ``<topic>:<partition>``, the same
``apply_batch.lua``) with another state and arithmetic: a customer's state is its contacts
(:mod:`kpi.customers`) under ``{pp}:u:<customer hash>``, and a batch adds to the buckets
the change of what those contacts contribute. Nothing here holds a customer id: the topic
carries only the keyed hash.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from kpi.config import KpiConfig
from kpi.customers import Contact, Items, customer_items, item_changes, merge_all
from kpi.deltas import Deltas, add_increment
from windows.errors import StoreConflict
from windows.keys import Keys
from windows.ops import Ops
from windows.plan import ApplyResult, as_text, bucket_ops, retire_ops
from windows.writer import MAX_ATTEMPTS, WindowWriter, _int_or_none, store_call

log = logging.getLogger(__name__)


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


def customer_deltas(cfg: KpiConfig, before: Items, after: Mapping[str, Contact],
                    into: Deltas) -> tuple[int | None, Items]:
    """Add the change of one customer's contribution (``before``: what its stored contacts
    contributed) to ``into``; returns the newest time it places (the partition's event
    clock moves with it) and what ``after`` contributes."""
    now = customer_items(after.values(), cfg.repeat_window_ms,
                         cfg.fcr_definition == "customer", cfg.repeat_windows)
    newest: int | None = None
    for (dimkey, t, name), n in item_changes(before, now).items():
        add_increment(into, t, dimkey + name, n, cfg.resolutions_ms)
        newest = t if newest is None else max(newest, t)
    return newest, now


class Known:
    """A customer as this writer last wrote it: the version the script gave it, its
    contacts and what they contribute (so the next batch of that customer reads nothing
    and recomputes only the new contribution)."""

    __slots__ = ("contacts", "items", "version", "written_s")

    def __init__(self, version: str, contacts: dict[str, Contact], items: Items,
                 written_s: float) -> None:
        self.version = version
        self.contacts = contacts
        self.items = items
        self.written_s = written_s


def _before(cfg: KpiConfig, known: Known | None, raw: bytes | str | None
            ) -> tuple[str, dict[str, Contact], Items]:
    if known is not None:
        return known.version, known.contacts, known.items
    version, contacts = decode_state(raw)
    return version, contacts, customer_items(contacts.values(), cfg.repeat_window_ms,
                                             cfg.fcr_definition == "customer",
                                             cfg.repeat_windows)


# customers whose last write this writer keeps (a customer's contacts are a few hundred
# bytes: about 40 MB at most)
KNOWN_CUSTOMERS = 40_000


class CustomerWriter(WindowWriter):
    """Applies batches of the customers topic (see the module doc).

    A customer this writer wrote last is not read again: its version, contacts and
    contribution are kept (:class:`Known`), and the script's version check says when
    another writer (or a restored store) moved it, after which it is read fresh."""

    def __init__(self, *args: Any, known: int = KNOWN_CUSTOMERS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._known: OrderedDict[str, Known] = OrderedDict()
        self._known_cap = known

    def _adopt(self, epoch: str) -> None:
        if epoch != self._epoch:
            self._known.clear()
        super()._adopt(epoch)

    async def apply(self, topic: str, partition: int,  # type: ignore[override]
                    records: Sequence[ContactRecord]) -> ApplyResult:
        return await super().apply(topic, partition, records)  # type: ignore[arg-type]

    async def _apply(self, topic: str, partition: int,  # type: ignore[override]
                     records: Sequence[ContactRecord]) -> ApplyResult:
        pfield = Keys.partition_field(topic, partition)
        k = self._keys.of(pfield)
        customers = sorted({r.customer for r in records if r.contact is not None})
        for attempt in range(1, MAX_ATTEMPTS + 1):
            known = {c: self._known[c] for c in customers if c in self._known}
            unknown = [c for c in customers if c not in known]
            with store_call():
                pipe = self._redis.pipeline(transaction=False)
                pipe.get(k.epoch)
                pipe.hget(k.offsets, pfield)
                pipe.hget(k.event_watermarks, pfield)
                for c in unknown:
                    pipe.get(k.customer(c))
                epoch_raw, last_raw, ewm_raw, *stored = await pipe.execute()
            epoch = as_text(epoch_raw) if epoch_raw else ""
            if epoch != self._epoch:
                raise self._reset(epoch, f"partition {pfield}")
            last, ewm = _int_or_none(last_raw), _int_or_none(ewm_raw)
            if self._below_applied(pfield, last):
                await self._confirm_rewound(pfield, last)
                continue
            fresh = [r for r in records if last is None or r.offset > last]
            if not fresh:
                return ApplyResult(skipped_offsets=len(records))
            raw = dict(zip(unknown, stored, strict=True))
            befores = [_before(self._cfg, known.get(c), raw.get(c)) for c in customers]
            result, keys, args, written = self._plan(pfield, k, fresh, customers, befores,
                                                     ewm, last)
            result.skipped_offsets = len(records) - len(fresh)
            with store_call():
                outcome = await self._eval(keys, args)
            self.script_calls += 1
            if outcome[0] == "epoch":
                raise self._reset(outcome[1], f"partition {pfield}")
            if outcome[0] == "ok":
                new_last = max(r.offset for r in fresh)
                self._applied[pfield] = max(self._applied.get(pfield, -1), new_last)
                self._remember(written)
                return result
            for c in customers:  # another writer (or a restored store) moved one of them
                self._known.pop(c, None)
            log.info("customer batch for %s conflicted (attempt %d); re-reading", pfield,
                     attempt)
        raise StoreConflict(f"{pfield}: gave up after {MAX_ATTEMPTS} conflicting attempts")

    def _remember(self, written: Mapping[str, Known]) -> None:
        """Keep what the script just wrote, newest last; the oldest leave when full or
        when their key has expired in Redis (a stale entry could only cause a conflict)."""
        for c, entry in written.items():
            self._known[c] = entry
            self._known.move_to_end(c)
        expired = self._clock() - self._cfg.customer_ttl_ms / 1000.0
        while self._known:
            oldest = next(iter(self._known.values()))
            if len(self._known) <= self._known_cap and oldest.written_s >= expired:
                break
            self._known.popitem(last=False)

    def _plan(self, pfield: str, k: Keys, fresh: Sequence[ContactRecord],
              customers: Sequence[str],
              befores: Sequence[tuple[str, dict[str, Contact], Items]],
              ewm: int | None, last: int | None
              ) -> tuple[ApplyResult, list[str], list[str | int | bytes], dict[str, Known]]:
        """The script call that merges ``fresh`` into the customers as read (pure but for
        the writer's configuration and clock), and what each customer will then be."""
        cfg = self._cfg
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
        now_s = self._clock()
        for customer, (version, before, before_items) in zip(customers, befores, strict=True):
            after = merge_all(before, incoming.get(customer, ()))
            newest, items = customer_deltas(cfg, before_items, after, deltas)
            if newest is not None:
                clock = newest if clock is None else max(clock, newest)
            states.append((version, encode_state(after)))
            written[customer] = Known(str(int(version or 0) + 1), after, items, now_s)
        bucket_ops(cfg, k, deltas, clock, ops)
        retire_ops(cfg, k, ewm, clock, ops)
        if result.applied:
            ops.incr(k.stats, f"contacts:{pfield.rsplit(':', 1)[0]}", result.applied)
        keys = [k.offsets, k.event_watermarks, k.stats, k.epoch,
                *(k.customer(c) for c in customers), *ops.keys]
        args: list[str | int | bytes] = [
            pfield, "" if last is None else str(last), max(r.offset for r in fresh),
            "" if clock is None or clock == ewm else clock, self._epoch or "",
            len(customers), cfg.customer_ttl_ms]
        for version, state in states:
            args.extend((version, state))
        args.append(ops.payload())
        args.append(orjson.dumps(ops.candidates))
        return result, keys, args, written
