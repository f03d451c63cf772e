"""The vendors' webhook signing schemes, checked in constant time over the raw body."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Mapping

from connectors.base import Verify

MAX_AGE_S = 300.0  # a signed timestamp older (or newer) than this is a replay


def _same(got: str, want: bytes) -> bool:
    """A header against the expected value in constant time, as bytes: a header with
    characters outside ASCII is simply wrong (``compare_digest`` raises on such a str)."""
    return hmac.compare_digest(got.encode("utf-8", "replace"), want)


def _fresh(timestamp: str, now_s: float) -> bool:
    try:
        return abs(now_s - float(timestamp)) <= MAX_AGE_S
    except ValueError:
        return False


def zendesk(secret: str) -> Verify:
    """Zendesk: ``X-Zendesk-Webhook-Signature`` = base64(HMAC-SHA256(timestamp + body)),
    timestamp in ``X-Zendesk-Webhook-Signature-Timestamp`` (RFC 3339)."""
    key = secret.encode()

    def verify(headers: Mapping[str, str], body: bytes, now_s: float) -> bool:
        ts = headers.get("x-zendesk-webhook-signature-timestamp", "")
        got = headers.get("x-zendesk-webhook-signature", "")
        want = base64.b64encode(hmac.digest(key, ts.encode() + body, "sha256"))
        return bool(ts) and _same(got, want) and _fresh_iso(ts, now_s)

    return verify


def _fresh_iso(ts: str, now_s: float) -> bool:
    import datetime as dt

    try:
        t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00"))
    except ValueError:
        return False
    return _fresh(str(t.timestamp()), now_s)


def intercom(secret: str) -> Verify:
    """Intercom: ``X-Hub-Signature: sha1=`` hex HMAC-SHA1 of the body with the app's
    client secret (no timestamp)."""
    key = secret.encode()

    def verify(headers: Mapping[str, str], body: bytes, now_s: float) -> bool:
        want = b"sha1=" + hmac.new(key, body, hashlib.sha1).hexdigest().encode()
        return _same(headers.get("x-hub-signature", ""), want)

    return verify


def chatwoot(secret: str) -> Verify:
    """Chatwoot: ``X-Chatwoot-Signature: sha256=`` hex HMAC-SHA256 of
    ``"{X-Chatwoot-Timestamp}.{body}"`` with the webhook's secret."""
    key = secret.encode()

    def verify(headers: Mapping[str, str], body: bytes, now_s: float) -> bool:
        ts = headers.get("x-chatwoot-timestamp", "")
        want = b"sha256=" + hmac.new(key, ts.encode("utf-8", "replace") + b"." + body,
                                     hashlib.sha256).hexdigest().encode()
        return bool(ts) and _same(headers.get("x-chatwoot-signature", ""), want) \
            and _fresh(ts, now_s)

    return verify


def shared_secret(header: str) -> Callable[[str], Verify]:
    """A vendor without signatures (Freshdesk's automation webhooks): the secret is sent
    as a custom header configured on the webhook, compared in constant time."""
    def make(secret: str) -> Verify:
        def verify(headers: Mapping[str, str], body: bytes, now_s: float) -> bool:
            return _same(headers.get(header, ""), secret.encode())

        return verify

    return make
