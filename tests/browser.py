"""Headless Chromium (Debian package) driven over the DevTools protocol.

No browser download, no driver: Chromium's own remote-debugging endpoint and an aiohttp
websocket are enough to evaluate JavaScript in the page and take a screenshot.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import time
import urllib.request
from itertools import count
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.support import free_port

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic",
         "--hide-scrollbars", "--window-size=1600,1000"]


class Browser:
    def __init__(self, url: str, profile: Path) -> None:
        binary = shutil.which("chromium") or shutil.which("chromium-browser")
        if binary is None:
            pytest.skip("chromium not installed (Debian package chromium; make setup installs it)")
        self.port = free_port()
        self.proc = subprocess.Popen(
            [binary, *FLAGS, f"--remote-debugging-port={self.port}", f"--user-data-dir={profile}",
             url], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._ids = count(1)
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/json", timeout=2) as r:
                    pages = [p for p in json.loads(r.read()) if p.get("type") == "page"]
                if pages:
                    self.ws_url = pages[0]["webSocketDebuggerUrl"]
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                self.close()
                raise AssertionError("chromium did not open its debugging endpoint")
            time.sleep(0.3)

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        return (await self._session([(method, params)]))[0]

    async def _session(self, calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
        """Several calls in one DevTools session (emulation overrides last a session)."""
        out = []
        async with aiohttp.ClientSession() as s, s.ws_connect(self.ws_url, max_msg_size=0) as ws:
            for method, params in calls:
                msg_id = next(self._ids)
                await ws.send_json({"id": msg_id, "method": method, "params": params})
                async for msg in ws:
                    doc = json.loads(msg.data)
                    if doc.get("id") == msg_id:
                        if "error" in doc:
                            raise AssertionError(f"{method}: {doc['error']}")
                        out.append(doc["result"])
                        break
                else:
                    raise AssertionError(f"{method}: no answer")
        return out

    def evaluate_at(self, width: int, height: int, expression: str) -> Any:
        """``expression`` evaluated with the page laid out in a ``width`` x ``height``
        viewport."""
        res = asyncio.run(self._session([
            ("Emulation.setDeviceMetricsOverride",
             {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False}),
            ("Runtime.evaluate", {"expression": "new Promise(r => setTimeout(r, 300))",
                                  "awaitPromise": True}),
            ("Runtime.evaluate", {"expression": expression, "returnByValue": True}),
        ]))
        return res[-1]["result"].get("value")

    def evaluate(self, expression: str) -> Any:
        res = asyncio.run(self._call("Runtime.evaluate",
                                     {"expression": expression, "returnByValue": True}))
        return res["result"].get("value")

    def screenshot(self, path: Path) -> None:
        res = asyncio.run(self._call("Page.captureScreenshot", {"format": "png"}))
        path.write_bytes(base64.b64decode(res["data"]))

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
