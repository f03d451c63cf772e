"""The write operations of one batch script call, grouped per key (see :class:`Ops`);
compiled with the planning that fills them (setup.py)."""

from __future__ import annotations

import orjson


class Ops:
    """Write operations of one script call, grouped so that the script makes one Redis call
    per key where the command takes many members (ZADD, ZREM, HSET, SADD) and one per field
    where it does not (HINCRBY: a batch's moves of one counter are summed first). Every key
    they touch is listed once.

    Grouping keeps the meaning of the ops in order: per key, removals run before additions
    (a conversation leaves its old sets before it joins its new ones), increments are
    summed (they commute), and a floored count takes its decrements before its increments
    (one serial order of the batch's conversations, as good as any other). Redis time per
    call, not per member, was most of a batch script's cost."""

    def __init__(self, base: int) -> None:
        self._base = base
        self._index: dict[str, int] = {}
        self.keys: list[str] = []
        self.candidates: list[tuple[int, int, str, str, list[tuple[str, int, str, str]]]] = []
        self.new_gauge_dims: set[tuple[str, str]] = set()
        self.touched_live = False
        self._incr: dict[int, dict[str, int]] = {}
        self._floored: dict[int, dict[str, list[int]]] = {}
        self._zadd: dict[int, list[str | int]] = {}
        self._zrem: dict[int, list[str]] = {}
        self._hset: dict[int, dict[str, str]] = {}
        self._sadd: dict[int, list[str]] = {}
        self._hmax: list[tuple[int, str, int]] = []
        self._expire: dict[int, int] = {}
        self._buckets: list[list[str | int]] = []

    def _key_index(self, key: str) -> int:
        i = self._index.get(key)
        if i is None:
            self.keys.append(key)
            i = self._index[key] = self._base + len(self.keys)
        return i

    def incr(self, key: str, field: str, n: int) -> None:
        """HINCRBY, summed over the batch."""
        fields = self._incr.setdefault(self._key_index(key), {})
        fields[field] = fields.get(field, 0) + n

    def floored(self, key: str, field: str, n: int) -> None:
        """A count that never goes below 0 (a store older than it did not count)."""
        parts = self._floored.setdefault(self._key_index(key), {}).setdefault(field, [0, 0])
        parts[0 if n < 0 else 1] += n

    def zadd(self, key: str, score: int, member: str) -> None:
        self._zadd.setdefault(self._key_index(key), []).extend((score, member))

    def zrem(self, key: str, member: str) -> None:
        self._zrem.setdefault(self._key_index(key), []).append(member)

    def hset(self, key: str, field: str, value: str) -> None:
        self._hset.setdefault(self._key_index(key), {})[field] = value

    def sadd(self, key: str, member: str) -> None:
        self._sadd.setdefault(self._key_index(key), []).append(member)

    def hmax(self, key: str, field: str, value: int) -> None:
        """HSET unless the stored value is larger (the newest time)."""
        self._hmax.append((self._key_index(key), field, value))

    def expire(self, key: str, ttl_ms: int) -> None:
        """PEXPIRE after every write of the batch (the key exists by then)."""
        i = self._key_index(key)
        self._expire[i] = max(ttl_ms, self._expire.get(i, 0))

    def op(self, code: str, key: str, a: str | int, b: str | int) -> tuple[str, int, str, str]:
        """One op of an expiry candidate's undo list, run in order by the script (see
        apply_batch.lua)."""
        return (code, self._key_index(key), str(a), str(b))

    def expired(self, conversation_key: str, live_dims_key: str, cid: str, entry: str,
                undo: list[tuple[str, int, str, str]]) -> None:
        """Undo ``entry`` (the live-gauge count of an expired conversation) if, when the
        script runs, the conversation is still absent and its entry unchanged."""
        self.candidates.append((self._key_index(conversation_key),
                                self._key_index(live_dims_key), cid, entry, undo))

    def bucket(self, key: str, ttl_ms: int, fields: dict[str, int]) -> None:
        """All increments of one bucket hash (the bulk of a batch's writes), zeros left out
        (a retraction can cancel an increment)."""
        flat: list[str | int] = [self._key_index(key), ttl_ms]
        for f, n in fields.items():
            if n:
                flat.append(f)
                flat.append(n)
        if len(flat) > 2:
            self._buckets.append(flat)

    def payload(self) -> bytes:
        """The grouped ops as the script's JSON argument (see apply_batch.lua)."""
        incr: list[list[str | int]] = []
        for i, fields in self._incr.items():
            flat: list[str | int] = [i]
            for f, n in fields.items():
                if n:
                    flat.append(f)
                    flat.append(n)
            incr.append(flat)
        hset: list[list[str | int]] = []
        for i, values in self._hset.items():
            row: list[str | int] = [i]
            for f, v in values.items():
                row.append(f)
                row.append(v)
            hset.append(row)
        return orjson.dumps({
            "r": [[i, *m] for i, m in self._zrem.items()],
            "z": [[i, *m] for i, m in self._zadd.items()],
            "h": incr,
            "k": [[i, f, parts[0], parts[1]] for i, fs in self._floored.items()
                  for f, parts in fs.items()],
            "f": hset,
            "s": [[i, *m] for i, m in self._sadd.items()],
            "m": self._hmax,
            "b": self._buckets,
            "e": [[i, ttl] for i, ttl in self._expire.items()],
        })


def state_call(ops: Ops, fixed: list[str], pfield: str, last: int | None, new_last: int,
               watermark: int | None, epoch: str, state_keys: list[str], ttl_ms: int,
               states: list[tuple[str, bytes]]) -> tuple[list[str], list[str | int | bytes]]:
    """The keys and arguments of one apply_batch.lua call that writes whole states (the
    customers' contacts, the agents' events): ``fixed`` the partition's offsets, event
    watermarks, stats and epoch keys; ``states`` (expected version, new value) in
    ``state_keys`` order; ``watermark`` None leaves the event watermark as it is."""
    keys = [*fixed, *state_keys, *ops.keys]
    args: list[str | int | bytes] = [
        pfield, "" if last is None else str(last), new_last,
        "" if watermark is None else watermark, epoch, len(state_keys), ttl_ms]
    for version, state in states:
        args.extend((version, state))
    args.append(ops.payload())
    args.append(orjson.dumps(ops.candidates))
    return keys, args

