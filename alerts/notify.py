"""Outputs of alert transitions: the support.alerts topic (through one publisher),
Alertmanager's v2 API, and an optional plain webhook."""

from __future__ import annotations

import base64
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import aiohttp

log = logging.getLogger(__name__)

# The one way alerts reach Kafka: the worker passes a coroutine that sends a JSON
# document to the alerts topic (alerts/ never talks to Kafka itself).
Publisher = Callable[[dict[str, Any]], Awaitable[None]]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def shown(url: str) -> str:
    """A URL as logs show it: scheme, host, port and path; no user, password, query or
    fragment (where webhook tokens live)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _scrub(text: str, url: str) -> str:
    """``text`` (an error message, or a receiver's answer that may echo the request's
    ``Authorization`` header) without the secrets of ``url``."""
    parts = urlsplit(url)
    userinfo = f"{parts.username or ''}:{parts.password or ''}"
    basic = base64.b64encode(userinfo.encode()).decode() if parts.password else ""
    for secret in (url, basic, parts.password, parts.query, parts.username):
        if secret:
            text = text.replace(secret, "***")
    return text


def api_url(base: str, path: str) -> str:
    """``path`` under a base URL that may carry a query string (a token some proxies in
    front of Alertmanager want) or a fragment: the path goes before them, not after."""
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path,
                       parts.query, ""))


class HttpNotifier:
    """Pushes to Alertmanager (``POST /api/v2/alerts``) and/or a webhook; never raises and
    never logs a credential of either URL."""

    def __init__(self, alertmanager_url: str | None, webhook_url: str | None,
                 timeout_s: float = 5.0) -> None:
        self._am = alertmanager_url or None
        self._hook = webhook_url
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)

    @property
    def enabled(self) -> bool:
        return bool(self._am or self._hook)

    async def alertmanager(self, alerts: list[dict[str, Any]]) -> None:
        if not self._am or not alerts:
            return
        await self._post(api_url(self._am, "/api/v2/alerts"), alerts)

    async def webhook(self, doc: dict[str, Any]) -> None:
        if self._hook:
            await self._post(self._hook, doc)

    async def _post(self, url: str, body: object) -> None:
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session, \
                    session.post(url, json=body) as resp:
                if resp.status >= 300:
                    log.warning("POST %s answered %d: %s", shown(url), resp.status,
                                _scrub((await resp.text())[:300], url))
        except (aiohttp.ClientError, TimeoutError, OSError, ValueError) as exc:
            log.warning("POST %s failed: %s", shown(url), _scrub(f"{type(exc).__name__}: "
                                                                  f"{exc}", url))
