"""Refuses a stale compiled core: an extension built from a source that has changed since,
or one that no build of the current sources made.

``setup.py`` compiles the per-event path with mypyc and records each source's hash in
``kpi/_compiled.json``. Python prefers an extension to the ``.py`` beside it, so after an
edit without ``make setup`` the old code would run, silently, in tests and in the worker;
so would an extension left behind by a pure build (``SUPPORT_KPI_PURE=1``, which removes
them) or by a source that was moved or deleted.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MANIFEST = Path(__file__).resolve().parent / "_compiled.json"
# the packages whose modules setup.py may compile
COMPILED_PACKAGES = ("kpi", "windows", "streams")


def extensions(root: Path = ROOT) -> dict[str, Path]:
    """Compiled module files of the compiled packages, by the source path they stand for
    (``kpi/events.py``), whether or not that source exists."""
    out = {}
    for pkg in COMPILED_PACKAGES:
        for ext in (root / pkg).iterdir() if (root / pkg).is_dir() else ():
            # the longest suffix that fits (".cpython-311-x86_64-linux-gnu.so" before ".so")
            suffix = max((s for s in importlib.machinery.EXTENSION_SUFFIXES
                          if ext.name.endswith(s)), key=len, default=None)
            if suffix is not None:
                out[f"{pkg}/{ext.name.removesuffix(suffix)}.py"] = ext
    return out


def stale_sources(manifest: Path = MANIFEST, root: Path = ROOT) -> list[str]:
    """The sources whose extension is present but was not built from their contents."""
    built = json.loads(manifest.read_text()) if manifest.exists() else {}
    stale = []
    for src in sorted(extensions(root)):
        path = root / src
        digest = built.get(src)
        if digest is None or not path.exists() \
                or hashlib.sha256(path.read_bytes()).hexdigest() != digest:
            stale.append(src)
    return stale


def check_compiled() -> None:
    stale = stale_sources()
    if stale:
        raise ImportError(
            f"{', '.join(stale)}: the compiled KPI core was not built from these sources: run "
            "`make setup` to rebuild it (or `SUPPORT_KPI_PURE=1 make setup` to run the "
            "sources interpreted)")
