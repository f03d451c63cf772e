"""The product's HTTP side: /metrics, the /wall page and its live feed.

aiohttp on its own event loop in a daemon thread, so scrapes and wall viewers never
share the Faust worker's loop; Redis reads (synchronous) run in the thread pool.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import hmac
import json
import logging
import threading
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry

from kpi.errors import ConfigError
from serve import exposition
from serve.feed import WallFeed
from serve.remote import Wall
from serve.scrape import ScrapeCache

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


SAMPLER = web.AppKey("sampler", asyncio.Task)


def build_app(registry: CollectorRegistry, wall: Wall,
              push_interval_s: float, token: str | None = None,
              not_ready: Callable[[], str] = lambda: "", max_streams: int = 256,
              metrics_cache_s: float = 0.0) -> web.Application:
    """``not_ready`` says why the worker cannot do its work now ("" when it can): /ready
    answers 503 with it, for orchestrators' readiness checks. Every wall viewer shares
    one snapshot per window and push interval; at most ``max_streams`` live streams. A
    slow full scrape is shared for ``metrics_cache_s`` (:mod:`serve.scrape`)."""
    cache = ScrapeCache(lambda: exposition.render(registry.collect()), metrics_cache_s)

    async def metrics(req: web.Request) -> web.Response:
        # ?name[]=support_redis_up&name[]=... collects only the collectors that export those
        # names (as prometheus_client's own handler does): cheap health probes, never cached
        names = req.query.getall("name[]", [])
        age = 0.0
        if names:
            body = await asyncio.get_running_loop().run_in_executor(
                None, exposition.render, registry.restricted_registry(names).collect())
        else:
            body, age = await cache.body()
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST,
                                                "X-Metrics-Age-Seconds": f"{age:.3f}"})

    async def index(_req: web.Request) -> web.Response:
        raise web.HTTPFound("/wall")

    async def ready(_req: web.Request) -> web.Response:
        why = not_ready()
        if why:
            return web.Response(status=503, text=f"not ready: {why}\n")
        return web.Response(text="ready\n")

    app = web.Application(middlewares=[token_auth(token)] if token else [])
    app.router.add_get("/", index)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/ready", ready)
    _WallRoutes(wall, WallFeed(wall.snapshot, push_interval_s, max_streams),
                push_interval_s).add_to(app)
    return app


class _WallRoutes:
    """The wall page, its static files, its snapshot and live stream, and the sampler that
    keeps the live tiles' trend."""

    def __init__(self, wall: Wall, feed: WallFeed, push_interval_s: float) -> None:
        self.wall = wall
        self.feed = feed
        self.interval = push_interval_s

    def add_to(self, app: web.Application) -> None:
        app.router.add_get("/wall", self.page)
        app.router.add_get("/wall/{name}", self.static)
        app.router.add_get("/api/snapshot", self.snapshot)
        app.router.add_get("/api/stream", self.stream)
        app.on_startup.append(self.start_sampling)
        app.on_cleanup.append(self.stop_sampling)

    def _window(self, req: web.Request) -> str:
        windows = self.wall.windows
        w = req.query.get("window", "15m" if "15m" in windows else windows[0])
        if w not in windows:
            raise web.HTTPBadRequest(text=f"unknown window {w!r}; one of {windows}")
        return w

    async def page(self, req: web.Request) -> web.Response:
        # the current snapshot is in the page: it paints numbers before any script
        # connects (a plain `chromium --screenshot` shows them)
        initial = (await self.feed.get(self._window(req))).doc
        page = _asset("index.html").replace(
            "<!--initial-->", '<script id="initial" type="application/json">'
            + json.dumps(initial).replace("</", "<\\/") + "</script>")
        return web.Response(text=page, content_type="text/html")

    async def static(self, req: web.Request) -> web.Response:
        name = req.match_info["name"]
        if name not in STATIC:
            raise web.HTTPNotFound()
        return web.Response(text=_asset(name), content_type=STATIC[name])

    async def snapshot(self, req: web.Request) -> web.Response:
        try:
            return web.json_response((await self.feed.get(self._window(req))).doc)
        except ConfigError as exc:
            raise web.HTTPBadRequest(text=str(exc)) from None

    async def stream(self, req: web.Request) -> web.StreamResponse:
        window = self._window(req)
        if not self.feed.admit():
            raise web.HTTPServiceUnavailable(
                headers={"Retry-After": "30"},
                text=f"503: {self.feed.max_streams} live wall streams are open already "
                     "(SUPPORT_WALL_MAX_STREAMS)\n")
        try:
            resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                               "Cache-Control": "no-cache"})
            await resp.prepare(req)
            while True:
                await resp.write((await self.feed.get(window)).event)
                await asyncio.sleep(self.interval)
        except (ConnectionResetError, asyncio.CancelledError):
            pass
        finally:
            self.feed.release()
        return resp

    async def _sample(self) -> None:
        while True:
            try:
                await asyncio.get_running_loop().run_in_executor(None, self.wall.sample_live)
            except Exception as exc:  # Redis down: the sparkline has a gap
                log.debug("live trend sample failed: %s", exc)
            await asyncio.sleep(self.interval)

    async def start_sampling(self, app: web.Application) -> None:
        app[SAMPLER] = asyncio.get_running_loop().create_task(self._sample())

    async def stop_sampling(self, app: web.Application) -> None:
        app[SAMPLER].cancel()


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
        except BaseException as exc:  # port taken: report to the caller, leave nothing
            errors.append(exc)
            with contextlib.suppress(Exception):  # the app's startup tasks (the sampler)
                loop.run_until_complete(runner.cleanup())
            loop.close()
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
