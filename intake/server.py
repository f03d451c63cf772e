"""``POST /webhooks/<vendor>``: check the vendor's signature, write the raw body to the
vendor's raw topic, answer 200 only once the broker acknowledged it.

401 for a bad or missing signature (nothing is written), 404 for a vendor that is not
configured, 413 past the body limit, 503 while Kafka does not take the write (the vendor
retries; the event ids derive from the vendor's ids, so a retry that did land counts
once), 400 for a signed body that is not a JSON object (written all the same, so the
worker dead-letters it, and the vendor's delivery log shows the failure). Every answer is
JSON. Mapping happens later, in the worker's normalizer agents: a payload the mapping
cannot read is dead-lettered there with its reason, never lost here. No secret, header
value or body is ever logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from aiohttp import web

from connectors.base import Vendor, Verify, load
from connectors.errors import ConnectorError

log = logging.getLogger(__name__)


class RawSink(Protocol):
    async def send(self, topic: str, key: bytes | None, value: bytes) -> None:
        """Write and wait for the broker's ack; raise on any failure."""


@dataclass(frozen=True)
class Endpoint:
    vendor: Vendor
    verify: Verify
    topic: str


def _key(vendor: Vendor, body: bytes) -> bytes | None:
    """The conversation the payload is about: its raw topic's key, so the normalizer sees
    one conversation's deliveries in order (an unreadable body has none)."""
    try:
        cid = vendor.conversation_of(load(body))
    except ConnectorError:
        return None
    return cid.encode() if cid else None


def _unreadable(body: bytes) -> str:
    """Why a body is no webhook payload at all ("" when it is a JSON object)."""
    try:
        load(body)
    except ConnectorError as err:
        return err.detail
    return ""


def make_app(endpoints: Mapping[str, Endpoint], sink: RawSink, *, max_body: int,
             ack_timeout_s: float, clock: Callable[[], float]) -> web.Application:
    counts: dict[tuple[str, int], int] = {}

    async def receive(request: web.Request) -> web.Response:
        name = request.match_info["vendor"]
        ep = endpoints.get(name)
        if ep is None:
            return _answer(counts, name, 404, f"no connector {name!r} is configured "
                           f"(SUPPORT_CONNECTORS: {', '.join(endpoints) or 'none'})")
        try:
            body = await request.read()
        except web.HTTPRequestEntityTooLarge:
            return _answer(counts, name, 413, f"body over {max_body} bytes "
                           "(SUPPORT_INTAKE_MAX_BODY)")
        headers = {k.lower(): v for k, v in request.headers.items()}
        if not ep.verify(headers, body, clock()):
            log.warning("%s webhook refused: bad or missing signature (%s)", name,
                        ep.vendor.signature)
            return _answer(counts, name, 401, "bad or missing signature")
        try:
            await asyncio.wait_for(sink.send(ep.topic, _key(ep.vendor, body), body),
                                   ack_timeout_s)
        except Exception as exc:  # any failure to land it: the vendor must retry
            log.warning("%s webhook not accepted: Kafka did not acknowledge the write to "
                        "%s (%s); answering 503 so the vendor retries", name, ep.topic,
                        type(exc).__name__)
            return _answer(counts, name, 503, "Kafka unavailable; retry later")
        unreadable = _unreadable(body)
        if unreadable:  # kept (the worker dead-letters it), and the vendor's log shows it
            log.warning("%s webhook is not a JSON object (%s): kept for the DLQ, answered "
                        "400", name, unreadable)
            return _answer(counts, name, 400, f"{unreadable}: the delivery was kept for "
                           "the dead-letter topic")
        return _answer(counts, name, 200, "accepted")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response({f"{v}:{code}": n for (v, code), n in sorted(counts.items())})

    app = web.Application(client_max_size=max_body)
    app.router.add_post("/webhooks/{vendor}", receive)
    app.router.add_get("/webhooks", stats)
    return app


def _answer(counts: dict[tuple[str, int], int], vendor: str, status: int,
            message: str) -> web.Response:
    counts[(vendor, status)] = counts.get((vendor, status), 0) + 1
    return web.json_response({"status": status, "message": message}, status=status)
