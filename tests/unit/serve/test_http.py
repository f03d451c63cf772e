"""The HTTP server on loopback (aiohttp's test server): /metrics, the wall page and its
assets, the snapshot API, the live stream, and the token."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry, Gauge

from serve.http import build_app
from serve.wall import WallModel
from tests.unit.serve.fixed import CFG, FixedAlerts, FixedReader


def _run(token: str | None, body: Callable[[TestClient], Awaitable[Any]]) -> Any:
    registry = CollectorRegistry()
    Gauge("support_test_gauge", "A gauge for the test.", registry=registry).set(7)
    wall = WallModel(FixedReader(), FixedAlerts(), CFG, [],  # type: ignore[arg-type]
                     stale_after_s=30)

    async def go() -> Any:
        async with TestClient(TestServer(build_app(registry, wall, 0.05, token))) as client:
            return await body(client)

    return asyncio.run(go())


def test_metrics_wall_and_snapshot() -> None:
    async def body(c: TestClient) -> tuple[Any, ...]:
        metrics = await (await c.get("/metrics")).text()
        page = await c.get("/wall")
        js = await c.get("/wall/wall.js")
        missing = await c.get("/wall/secrets.txt")
        snap = await (await c.get("/api/snapshot?window=1h")).json()
        bad = await c.get("/api/snapshot?window=7d")
        root = await c.get("/", allow_redirects=False)
        return (metrics, page.status, js.status, js.content_type, missing.status, snap,
                bad.status, root.headers.get("Location"))

    metrics, page, js, js_type, missing, snap, bad, location = _run(None, body)
    assert "support_test_gauge 7.0" in metrics
    assert (page, js, js_type, missing) == (200, 200, "application/javascript", 404)
    assert snap["window"] == "1h" and {t["id"] for t in snap["tiles"]} >= {"fcr", "csat"}
    assert bad == 400 and location == "/wall"


def test_the_stream_sends_snapshots_as_server_sent_events() -> None:
    async def body(c: TestClient) -> list[dict[str, Any]]:
        resp = await c.get("/api/stream?window=5m")
        assert resp.headers["Content-Type"] == "text/event-stream"
        docs = []
        while len(docs) < 2:
            line = (await resp.content.readline()).decode().strip()
            if line.startswith("data: "):
                docs.append(json.loads(line[6:]))
        resp.close()
        return docs

    docs = _run(None, body)
    assert [d["window"] for d in docs] == ["5m", "5m"]


def test_a_token_guards_every_route() -> None:
    async def body(c: TestClient) -> list[int]:
        basic = base64.b64encode(b"wall:s3cret").decode()
        return [(await c.get("/metrics")).status,
                (await c.get("/wall", headers={"Authorization": "Bearer nope"})).status,
                (await c.get("/metrics", headers={"Authorization": "Bearer s3cret"})).status,
                (await c.get("/api/snapshot?window=5m",
                                 headers={"Authorization": f"Basic {basic}"})).status]

    assert _run("s3cret", body) == [401, 401, 200, 200]


def test_ready_answers_503_with_the_reason_and_needs_no_token() -> None:
    state = {"why": "the store is unavailable (redis_out_of_memory)"}
    registry = CollectorRegistry()
    wall = WallModel(FixedReader(), FixedAlerts(), CFG, [],  # type: ignore[arg-type]
                     stale_after_s=30)

    async def go() -> list[tuple[int, str]]:
        app = build_app(registry, wall, 1.0, "s3cret", lambda: state["why"])
        async with TestClient(TestServer(app)) as c:
            first = await c.get("/ready")
            out = [(first.status, await first.text())]
            state["why"] = ""
            second = await c.get("/ready")
            out.append((second.status, await second.text()))
            return out

    assert asyncio.run(go()) == [
        (503, "not ready: the store is unavailable (redis_out_of_memory)\n"), (200, "ready\n")]


def test_the_page_carries_its_first_snapshot_and_streams_are_capped() -> None:
    registry = CollectorRegistry()
    wall = WallModel(FixedReader(), FixedAlerts(), CFG, [],  # type: ignore[arg-type]
                     stale_after_s=30)

    async def go() -> tuple[str, list[int], str]:
        app = build_app(registry, wall, 0.05, None, max_streams=2)
        async with TestClient(TestServer(app)) as c:
            page = await (await c.get("/wall?window=1h")).text()
            open_ = [await c.get("/api/stream?window=5m") for _ in range(2)]
            third = await c.get("/api/stream?window=5m")
            statuses = [r.status for r in [*open_, third]]
            text = await third.text()
            for r in open_:
                r.close()
            return page, statuses, text

    page, statuses, refused = asyncio.run(go())
    start = page.index('<script id="initial" type="application/json">') + 45
    doc = json.loads(page[start:page.index("</script>", start)])
    assert doc["window"] == "1h" and all("trend" in t for t in doc["tiles"])
    assert statuses == [200, 200, 503]
    assert "2 live wall streams are open already (SUPPORT_WALL_MAX_STREAMS)" in refused
