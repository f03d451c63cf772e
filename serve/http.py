"""The product's HTTP side: /metrics, the /wall page and its live feed.

aiohttp on its own event loop in a daemon thread, so scrapes and wall viewers never
share the Faust worker's loop; Redis reads (synchronous) run in the thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from serve.wall import WallModel
from windows.errors import ConfigError

log = logging.getLogger(__name__)

STATIC = {"wall.js": "application/javascript", "wall.css": "text/css"}


def _asset(name: str) -> str:
    return resources.files("serve").joinpath("static", name).read_text(encoding="utf-8")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _token_of(header: str) -> str | None:
    """The secret of an ``Authorization`` header: a bearer token, or a basic-auth
    password (any user name), so Prometheus (either scheme) and a browser on the wall (its
    login prompt) can both present it."""
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer":
        return value.strip()
    if scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2]
    return None


OPEN_PATHS = frozenset({"/ready"})  # what a health check needs; it tells nothing else


def token_auth(token: str) -> Any:
    """Every route but /ready needs the token; compared in constant time, never logged."""
    expected = token.encode()

    @web.middleware
    async def middleware(req: web.Request, handler: Handler) -> web.StreamResponse:
        if req.path in OPEN_PATHS:
            return await handler(req)
        given = _token_of(req.headers.get("Authorization", ""))
        if given is None or not hmac.compare_digest(given.encode(), expected):
            raise web.HTTPUnauthorized(
                headers={"WWW-Authenticate": 'Basic realm="support-kpi", charset="UTF-8"'},
                text="401: this monitor needs SUPPORT_HTTP_TOKEN (bearer, or as the basic "
                     "auth password)\n")
        return await handler(req)

    return middleware


def build_app(registry: CollectorRegistry, wall: WallModel,
              push_interval_s: float, token: str | None = None,
              not_ready: Callable[[], str] = lambda: "") -> web.Application:
    """``not_ready`` says why the worker cannot do its work now ("" when it can): /ready
    answers 503 with it, for orchestrators' readiness checks."""
    async def metrics(req: web.Request) -> web.Response:
        # ?name[]=support_redis_up&name[]=... collects only the collectors that export those
        # names (as prometheus_client's own handler does): cheap health probes
        names = req.query.getall("name[]", [])
        target = registry.restricted_registry(names) if names else registry
        body = await asyncio.get_running_loop().run_in_executor(None, generate_latest, target)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def index(_req: web.Request) -> web.Response:
        raise web.HTTPFound("/wall")

    async def ready(_req: web.Request) -> web.Response:
        why = not_ready()
        if why:
            return web.Response(status=503, text=f"not ready: {why}\n")
        return web.Response(text="ready\n")

    async def wall_page(_req: web.Request) -> web.Response:
        return web.Response(text=_asset("index.html"), content_type="text/html")

    async def static(req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(text=_asset(name), content_type=STATIC[name])

    def _window(req: web.Request) -> str:
        w = req.query.get("window", "15m")
        if w not in wall.windows:
            raise web.HTTPBadRequest(text=f"unknown window {w!r}; one of {wall.windows}")
        return w

    async def _snap(window: str) -> dict[str, Any]:
        return await asyncio.get_running_loop().run_in_executor(None, wall.snapshot, window)

    async def snapshot(req: web.Request) -> web.Response:
        try:
            return web.json_response(await _snap(_window(req)))
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None

    async def stream(req: web.Request) -> web.StreamResponse:
        window = _window(req)
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                           "Cache-Control": "no-cache"})
        await resp.prepare(req)
        try:
            while True:
                try:
                    doc = await _snap(window)
                except Exception as exc:  # Redis down: tell the page, keep the stream
                    doc = {"error": str(exc), "stale": True}
                await resp.write(f"data: {json.dumps(doc)}\n\n".encode())
                await asyncio.sleep(push_interval_s)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        return resp

    app = web.Application(middlewares=[token_auth(token)] if token else [])
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ready", ready)
    app.router.add_get("/wall", wall_page)
    app.router.add_get("/wall/{name}", static)
    app.router.add_get("/api/snapshot", snapshot)
    app.router.add_get("/api/stream", stream)
    return app


def serve_in_thread(app: web.Application, host: str, port: int) -> threading.Thread:
    """Start the server on a daemon thread; returns once it is listening."""
    ready = threading.Event()
    errors: list[BaseException] = []

    def run() -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        runner = web.AppRunner(app, access_log=None)
        try:
            loop.run_until_complete(runner.setup())
            loop.run_until_complete(web.TCPSite(runner, host, port).start())
        except BaseException as exc:  # port taken: report to the caller
            errors.append(exc)
            ready.set()
            return
        ready.set()
        loop.run_forever()

    t = threading.Thread(target=run, name="support-kpi-http", daemon=True)
    t.start()
    ready.wait(30)
    if errors:
        raise errors[0]
    return t
