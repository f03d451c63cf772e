"""The compiled KPI core: mypyc compiles these modules, from the same sources, into C
extensions when the project is installed (``make setup``). Nothing else is built here;
everything else about the package is in pyproject.toml.

The sources stay the only implementation: an interpreter without the extensions (a
build skipped with ``SUPPORT_KPI_PURE=1``) runs the very same files, only slower. Each
build records the sources' hashes beside them (``kpi/_compiled.json``) so that an
edited source cannot run as its stale extension (``kpi/_core.py`` refuses it).
"""

from __future__ import annotations

import hashlib
import json
import os
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from setuptools import setup

# the per-event path: decode and validate, the KPI arithmetic and what it calls, and the
# planning of a batch's script call (windows/plan.py)
CORE = [
    "streams/schema.py",
    "kpi/events.py",
    "kpi/conversation.py",
    "kpi/fcr.py",
    "kpi/customers.py",
    "kpi/fold.py",
    "kpi/dims.py",
    "kpi/deltas.py",
    "kpi/rows.py",
    "kpi/sla.py",
    "kpi/calendar.py",
    "kpi/histogram.py",
    "kpi/kinds.py",
    "kpi/catalog.py",
    "kpi/span.py",
    "windows/keys.py",
    "windows/ops.py",
    "windows/plan.py",
    "windows/customer_plan.py",
]
MANIFEST = Path("kpi/_compiled.json")
COMPILED_PACKAGES = ("kpi", "windows", "streams")  # as kpi/_core.py scans them


def _remove_extensions() -> None:
    """A pure build leaves no extension behind: Python would prefer it to the source."""
    MANIFEST.unlink(missing_ok=True)
    for suffix in EXTENSION_SUFFIXES:
        for pattern in (*(f"{pkg}/*{suffix}" for pkg in COMPILED_PACKAGES),
                        f"*__mypyc{suffix}"):
            for ext in Path().glob(pattern):
                ext.unlink()


def _ext_modules() -> list[object]:
    _remove_extensions()  # also what an earlier build made of since moved sources
    if os.environ.get("SUPPORT_KPI_PURE") == "1":
        return []
    from mypyc.build import mypycify

    MANIFEST.write_text(json.dumps(
        {src: hashlib.sha256(Path(src).read_bytes()).hexdigest() for src in CORE},
        indent=1) + "\n")
    return list(mypycify(CORE, opt_level="3"))


setup(ext_modules=_ext_modules())
