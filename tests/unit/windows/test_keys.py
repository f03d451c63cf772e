"""Key layout: a partition batch's keys share one cluster slot, the store's shared keys
another, and the same partition number of both input topics shares its slot."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from windows.keys import Keys
from windows.reader import merge_stats


def _slot(key: str) -> int:
    return key_slot(key.encode())


def test_every_key_of_a_partition_batch_is_in_one_slot() -> None:
    k = Keys("floor").of("support.tickets:3")
    keys = [k.conversation("c1"), k.conversation("zz-9"), k.bucket(60_000, 0), k.offsets,
            k.event_watermarks, k.stats, k.epoch, k.live, k.live_dims, k.open_counts,
            k.waiting("queue=billing"), k.due("*"), k.gauge_dims, k.known_counts]
    assert len({_slot(x) for x in keys}) == 1


def test_both_input_topics_share_a_partition_numbers_slot() -> None:
    keys = Keys("floor")
    assert keys.of("support.tickets:3") == keys.of("support.chats:3")
    assert keys.of("support.tickets:3").tag == "{floor|p3}"
    assert keys.of("support.tickets:3") != keys.of("support.tickets:4")


def test_partitions_spread_over_slots_and_shared_keys_have_their_own() -> None:
    keys = Keys("floor")
    slots = {_slot(keys.of(f"t:{p}").offsets) for p in range(12)}
    assert len(slots) == 12
    shared = {_slot(x) for x in (keys.epoch, keys.partitions, keys.store_info,
                                 keys.dimension_values("queue"), keys.alert_states,
                                 keys.alert_lease)}
    assert len(shared) == 1 and not shared & slots


def test_partition_keys_need_a_partition() -> None:
    with pytest.raises(ValueError, match=r"Keys\.of"):
        Keys("floor").conversation("c1")


def test_scan_patterns_cover_every_key() -> None:
    import fnmatch

    keys = Keys("floor")
    names = [keys.of("t:7").bucket(1, 2), keys.of("t:12").live, keys.epoch, keys.alert_states]
    for name in names:
        assert any(fnmatch.fnmatchcase(name, p.replace("[", "[[]"))
                   for p in keys.partition_patterns), name
    assert not fnmatch.fnmatchcase(Keys("floor2").epoch, keys.partition_patterns[1])


def test_merged_stats_sum_counters_and_keep_the_newest_times() -> None:
    merged = merge_stats([{"processed:t": 3, "last_event_ms": 100, "last_applied_ms": 7},
                          {"processed:t": 4, "late:x": 1, "last_event_ms": 90,
                           "last_applied_ms": 9}, {}])
    assert merged == {"processed:t": 7, "late:x": 1, "last_event_ms": 100,
                      "last_applied_ms": 9}
