"""The compiled KPI core: mypyc compiles these modules, from the same sources, into C
extensions when the project is installed (``make setup``). Nothing else is built here;
everything else about the package is in pyproject.toml.

The sources stay the only implementation: an interpreter without the extensions (a
build skipped with ``SUPPORT_KPI_PURE=1``) runs the very same files, only slower. Each
build records the sources' hashes beside them (``windows/_compiled.json``) so that an
edited source cannot run as its stale extension (``windows/_core.py`` refuses it).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from setuptools import setup

# the per-event path: decode and validate, the KPI arithmetic and what it calls, and the
# planning of a batch's script call (windows/plan.py)
CORE = [
    "streams/schema.py",
    "windows/events.py",
    "windows/kpi.py",
    "windows/sla.py",
    "windows/calendar.py",
    "windows/histogram.py",
    "windows/catalog.py",
    "windows/span.py",
    "windows/keys.py",
    "windows/plan.py",
]
MANIFEST = Path("windows/_compiled.json")


def _ext_modules() -> list[object]:
    if os.environ.get("SUPPORT_KPI_PURE") == "1":
        MANIFEST.unlink(missing_ok=True)
        return []
    from mypyc.build import mypycify

    MANIFEST.write_text(json.dumps(
        {src: hashlib.sha256(Path(src).read_bytes()).hexdigest() for src in CORE},
        indent=1) + "\n")
    return list(mypycify(CORE, opt_level="3"))


setup(ext_modules=_ext_modules())
