"""The intake's answers, on an in-process aiohttp server with a recording sink (the real
broker path is tests/integration/intake): 200 only after the sink took the body, 401
writes nothing, 404 names the configured connectors, 413 past the body limit, 503 when
the write fails or does not finish in time."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time

from aiohttp.test_utils import TestClient, TestServer

from connectors.registry import VENDORS
from intake.server import Endpoint, make_app

SECRET = "s3cret"


class Sink:
    def __init__(self, fail: Exception | None = None, delay: float = 0.0) -> None:
        self.written: list[tuple[str, bytes | None, bytes]] = []
        self.fail, self.delay = fail, delay

    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        await asyncio.sleep(self.delay)
        if self.fail:
            raise self.fail
        self.written.append((topic, key, value))


def signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    ts = str(int(time.time()))
    return {"X-Chatwoot-Timestamp": ts, "X-Chatwoot-Signature": "sha256=" + hmac.new(
        secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()}


def answers(sink: Sink, *posts: tuple[str, bytes, dict[str, str]]) -> list[tuple[int, str]]:
    vendor = VENDORS["chatwoot"]
    app = make_app({"chatwoot": Endpoint(vendor, vendor.verifier(SECRET), "raw.chatwoot")},
                   sink, max_body=2048, ack_timeout_s=0.5, clock=time.time)

    async def go() -> list[tuple[int, str]]:
        async with TestClient(TestServer(app)) as client:
            out = []
            for path, body, headers in posts:
                r = await client.post(path, data=body, headers=headers)
                out.append((r.status, (await r.text())))
            return out

    return asyncio.run(go())


BODY = json.dumps({"event": "message_created", "id": 2,
                   "conversation": {"display_id": 1}, "account": {"id": 1}}).encode()


def test_200_only_once_the_sink_has_it_keyed_by_conversation() -> None:
    sink = Sink()
    assert answers(sink, ("/webhooks/chatwoot", BODY, signed(BODY)))[0][0] == 200
    assert sink.written == [("raw.chatwoot", b"1", BODY)]  # the conversation (display_id)


def test_refusals_write_nothing() -> None:
    sink = Sink()
    big = b"{" + b" " * 4096 + b"}"
    got = answers(sink, ("/webhooks/chatwoot", BODY, signed(BODY, "wrong")),
                  ("/webhooks/chatwoot", BODY, {}),
                  ("/webhooks/zendesk", BODY, signed(BODY)),
                  ("/webhooks/chatwoot", big, signed(big)))
    assert [code for code, _ in got] == [401, 401, 404, 413]
    assert "SUPPORT_CONNECTORS: chatwoot" in got[2][1]
    assert sink.written == []


def test_503_when_kafka_fails_or_is_too_slow() -> None:
    assert answers(Sink(fail=RuntimeError("broker down")),
                   ("/webhooks/chatwoot", BODY, signed(BODY)))[0][0] == 503
    assert answers(Sink(delay=2.0), ("/webhooks/chatwoot", BODY, signed(BODY)))[0][0] == 503
