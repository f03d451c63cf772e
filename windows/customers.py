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

from windows.cache import trim_oldest
from windows.customer_plan import ContactRecord, Known, before_of, plan_customers
from windows.errors import StoreConflict
from windows.keys import Keys
from windows.plan import ApplyResult, as_text
from windows.writer import MAX_ATTEMPTS, WindowWriter, _int_or_none, store_call

log = logging.getLogger(__name__)

__all__ = ["KNOWN_CUSTOMERS", "ContactRecord", "CustomerWriter"]


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
            befores = [before_of(self._cfg, known.get(c), raw.get(c)) for c in customers]
            result, keys, args, written = plan_customers(
                self._cfg, k, pfield, self._epoch or "", fresh, customers, befores, ewm, last,
                int(self._clock() * 1000))
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
        trim_oldest(self._known, self._known_cap,
                    int(self._clock() * 1000) - self._cfg.customer_ttl_ms)
