"""What the intake tests share: a delivery to the real intake, and whether it listens."""

from __future__ import annotations

import urllib.error
import urllib.request


def post(port: int, vendor: str, body: bytes, headers: dict[str, str]) -> int:
    """POST a webhook body with the vendor's signature headers; the HTTP status."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}/webhooks/{vendor}", data=body,
                                 method="POST",
                                 headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as exc:
        return exc.code


def intake_up(port: int) -> bool:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/webhooks", timeout=2) as r:
        return r.status == 200
