"""The compiled core cannot run stale: an extension is refused unless the last build made
it from the source as it is now (kpi/_core.py), and a pure build leaves none behind
(setup.py), so an edited source never silently runs as its old compiled self."""

from __future__ import annotations

import hashlib
import importlib.machinery
import json
import subprocess
import sys
from pathlib import Path

from kpi._core import stale_sources
from tests.support import ROOT

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


def _tree(tmp_path: Path, built_from: str | None) -> tuple[Path, Path]:
    (tmp_path / "kpi").mkdir()
    src = tmp_path / "kpi" / "events.py"
    src.write_text("X = 1\n")
    (tmp_path / "kpi" / f"events{SUFFIX}").write_bytes(b"\x7fELF")
    manifest = tmp_path / "kpi" / "_compiled.json"
    if built_from is not None:
        digest = hashlib.sha256(built_from.encode()).hexdigest()
        manifest.write_text(json.dumps({"kpi/events.py": digest}))
    return manifest, src


def test_an_extension_built_from_the_current_source_is_accepted(tmp_path: Path) -> None:
    manifest, _ = _tree(tmp_path, "X = 1\n")
    assert stale_sources(manifest, tmp_path) == []


def test_an_edited_source_is_stale(tmp_path: Path) -> None:
    manifest, src = _tree(tmp_path, "X = 1\n")
    src.write_text("X = 2\n")
    assert stale_sources(manifest, tmp_path) == ["kpi/events.py"]


def test_an_extension_without_a_manifest_is_stale(tmp_path: Path) -> None:
    """What `SUPPORT_KPI_PURE=1 pip install -e .` used to leave: no manifest, old .so."""
    manifest, _ = _tree(tmp_path, None)
    assert stale_sources(manifest, tmp_path) == ["kpi/events.py"]


def test_an_extension_of_a_moved_source_is_stale(tmp_path: Path) -> None:
    manifest, src = _tree(tmp_path, "X = 1\n")
    src.unlink()
    assert stale_sources(manifest, tmp_path) == ["kpi/events.py"]


def test_a_pure_build_removes_every_extension(tmp_path: Path) -> None:
    """setup.py's pure mode, run in a copy of the tree: the manifest and each extension of
    the compiled packages (and mypyc's shared library) are gone."""
    for pkg in ("kpi", "windows", "streams"):
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / f"mod{SUFFIX}").write_bytes(b"\x7fELF")
    (tmp_path / f"abc__mypyc{SUFFIX}").write_bytes(b"\x7fELF")
    (tmp_path / "kpi" / "_compiled.json").write_text("{}")
    code = ("import runpy, sys; sys.argv = ['setup.py', '--name']; "
            f"runpy.run_path({str(ROOT / 'setup.py')!r}, run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True,
                          text=True, env={"SUPPORT_KPI_PURE": "1", "PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    assert not list(tmp_path.rglob(f"*{SUFFIX}"))
    assert not (tmp_path / "kpi" / "_compiled.json").exists()


def test_the_install_stamp_covers_the_build_mode() -> None:
    """`SUPPORT_KPI_PURE=1 make setup` on a compiled environment (and back) reinstalls."""
    text = (ROOT / "scripts/bootstrap.sh").read_text()
    assert 'build_mode="pure=${SUPPORT_KPI_PURE:-0}"' in text
    assert 'cat pyproject.toml setup.py; echo "$build_mode"' in text
