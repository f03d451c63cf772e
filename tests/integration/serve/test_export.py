"""`support-kpi export`: hourly windows of a range from a real redis-server, as CSV and
JSON lines, equal to what `query` shows at each window end and to hand counts."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import time

import redis.asyncio as aioredis

from devtools.services import ServiceConfig
from kpi.events import Event
from supportkpi.settings import load_settings
from tests.replay_check import cli, rows_from_json
from windows.keys import Keys
from windows.writer import Record, WindowWriter

H, M = 3_600_000, 60_000
T0 = int(time.time() * 1000) // H * H - 5 * H  # five hours ago, on the hour


def write(services: ServiceConfig, ns: str) -> None:
    """Hour 0: three billing tickets, one answered after 10 minutes; hour 1: two sales
    tickets; hour 2: nothing."""
    evs = [Event(f"b{i}", "ticket.created", T0 + i * M, f"b{i}", queue="billing",
                 channel="email") for i in range(3)]
    evs.append(Event("b0r", "ticket.message", T0 + 10 * M, "b0", actor="agent"))
    evs += [Event(f"s{i}", "ticket.created", T0 + H + i * M, f"s{i}", queue="sales",
                  channel="chat") for i in range(2)]

    async def go() -> None:
        client = aioredis.Redis.from_url(services.redis_url)
        await WindowWriter(client, Keys(ns), load_settings().kpi_config(), time.time).apply(
            "tickets", 0, [Record(i, event=e) for i, e in enumerate(evs)])
        await client.aclose()

    asyncio.run(go())


def test_export_tiles_the_range_with_the_numbers_query_shows(services: ServiceConfig,
                                                              ns: str) -> None:
    write(services, ns)
    env = {**os.environ, "SUPPORT_REDIS_URL": services.redis_url, "SUPPORT_KEY_PREFIX": ns}
    args = ("--from", str(T0 / 1000), "--to", str((T0 + 3 * H) / 1000), "--window", "1h")
    rows = list(csv.DictReader(io.StringIO(cli(env, "export", *args))))
    floor = [r for r in rows if (r["queue"], r["channel"]) == ("all", "all")
             and (r["team"], r["priority"]) == ("all", "all")]
    # one record per hour end; created 3, 2, 0; the billing hour's first response 600 s
    assert [r["volume_created"] for r in floor] == ["3", "2", "0"]
    billing = {r["at"]: r for r in rows if r["queue"] == "billing" and r["channel"] == "all"}
    first_hour = billing[floor[0]["at"]]
    assert float(first_hour["frt_count"]) == 1 and float(first_hour["frt_mean_seconds"]) == 600
    assert first_hour["csat_ratio"] == ""  # no survey: an empty cell, not 0
    lines = [json.loads(x) for x in cli(env, "export", *args, "--format", "jsonl").splitlines()]
    assert len(lines) == len(rows)
    for i, end in enumerate((T0 + H, T0 + 2 * H)):  # (query prints no row for the empty hour)
        shown = rows_from_json(cli(env, "query", "--window", "1h", "--at", str(end / 1000),
                                   "--json"))[(str(end / 1000), "1h")]["*"]
        mine = next(x for x in lines if x["at"] == floor[i]["at"] and x["queue"] == "all"
                    and x["channel"] == "all" and x["team"] == "all"
                    and x["priority"] == "all")
        assert {k: mine[k] for k in shown if k not in ("from", "to")} == \
            {k: v for k, v in shown.items() if k not in ("from", "to")}
