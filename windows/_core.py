"""Refuses a stale compiled core: an extension built from a source that has changed since.

``setup.py`` compiles the per-event path with mypyc and records each source's hash in
``_compiled.json``. Python prefers an extension to the ``.py`` beside it, so after an edit
without ``make setup`` the old code would run, silently, in tests and in the worker.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().parent / "_compiled.json"


def stale_sources(manifest: Path = MANIFEST, root: Path = ROOT) -> list[str]:
    """The compiled sources whose extension is present but built from other contents."""
    if not manifest.exists():
        return []
    stale = []
    for src, digest in json.loads(manifest.read_text()).items():
        path = root / src
        built = any(path.with_suffix(s).exists()
                    for s in importlib.machinery.EXTENSION_SUFFIXES)
        if built and (not path.exists()
                      or hashlib.sha256(path.read_bytes()).hexdigest() != digest):
            stale.append(src)
    return stale


def check_compiled() -> None:
    stale = stale_sources()
    if stale:
        raise ImportError(
            f"{', '.join(stale)} changed since the compiled KPI core was built: run "
            "`make setup` to rebuild it (or delete the .so files to run the sources "
            "interpreted)")
