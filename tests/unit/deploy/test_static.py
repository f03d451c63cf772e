"""Static checks of the Docker, Prometheus and Grafana files (no Docker engine needed)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from kpi import catalog
from kpi.config import ALL_DIMENSIONS
from tests.support import ROOT, promtool

DASHBOARDS = sorted((ROOT / "deploy/grafana/dashboards").glob("*.json"))
PROMQL_FUNCS = {"sum", "by", "rate", "increase", "time", "max", "min", "histogram_quantile",
                "absent_over_time", "vector", "on", "and", "or", "le", "label_values"}


def test_compose_file_follows_the_compose_specification() -> None:
    import jsonschema

    schema_path = ROOT / ".cache/compose/compose_spec.json"
    if not schema_path.exists():
        pytest.skip("Compose schema not fetched: run scripts/bootstrap.sh (make setup)")
    schema = json.loads(schema_path.read_text())
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    # the spec names the 2019-09 metaschema by an id jsonschema does not resolve; say it outright
    jsonschema.Draft201909Validator(schema).validate(doc)


def test_compose_stack_shape() -> None:
    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = doc["services"]
    assert {"kafka", "redis", "worker", "simulator", "prometheus", "alertmanager",
            "grafana"} <= set(services)
    for name, svc in services.items():
        image = svc.get("image", "")
        if image and not image.startswith("support-kpi"):
            assert ":" in image and not image.endswith(":latest"), f"{name}: pin {image}"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services and cond["condition"].startswith("service_")
        for vol in svc.get("volumes", []):
            host = vol.split(":")[0]
            if host.startswith("./"):
                assert (ROOT / host).exists(), f"{name} mounts missing {host}"
    assert "healthcheck" in services["kafka"] and "healthcheck" in services["redis"]
    for name, svc in services.items():
        assert svc.get("restart") == "unless-stopped", f"{name} has no restart policy"
    assert "/ready" in " ".join(services["worker"]["healthcheck"]["test"])
    intake = services["intake"]  # opt-in: it refuses to start without a connector
    assert intake["profiles"] == ["intake"] and intake["command"] == ["intake"]
    assert intake["environment"]["SUPPORT_INTAKE_HOST"] == "0.0.0.0"
    text = (ROOT / "docker-compose.yml").read_text().lower()
    assert "password" not in text and "secret" not in text


def test_dockerfile_is_slim_and_non_root() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert "-slim" in text.splitlines()[1] and "\nUSER " in text


def test_prometheus_config_is_valid() -> None:
    proc = subprocess.run([promtool(), "check", "config",
                           str(ROOT / "deploy/prometheus/prometheus.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def _dashboard_exprs() -> list[tuple[str, str]]:
    out = []
    for path in DASHBOARDS:
        doc = json.loads(path.read_text())
        for panel in doc["panels"]:
            for t in panel.get("targets", []):
                out.append((f"{path.name}: {panel['title']}", t["expr"]))
    return out


def _concrete(expr: str) -> str:
    return expr.replace("$window", "15m").replace("$queue", ".+")


def test_grafana_provisioning_shape() -> None:
    assert {p.stem for p in DASHBOARDS} == {"wall", "ops", "agents"}
    wall = json.loads((ROOT / "deploy/grafana/dashboards/wall.json").read_text())
    titles = {p["title"] for p in wall["panels"]}
    assert {"First response p90", "First contact resolution", "Escalation rate", "CSAT",
            "Backlog (waiting now)", "Oldest waiting", "Queues"} <= titles
    assert {v["name"] for v in wall["templating"]["list"]} == {"window", "queue"}
    ds = yaml.safe_load((ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml")
                        .read_text())
    uid = ds["datasources"][0]["uid"]
    for _where, panel_ds in ((p["title"], p["datasource"]) for p in wall["panels"]):
        assert panel_ds["uid"] == uid


def _kpi_selectors(expr: str) -> list[str]:
    """The label selectors of windowed and live KPI series in an expression."""
    windowed = {m.metric for m in catalog.WINDOWED if not isinstance(m, catalog.Volume)}
    windowed |= {f"{m.metric}_count" for m in catalog.WINDOWED
                 if isinstance(m, catalog.Duration)}
    live = {g.metric for g in catalog.LIVE}
    out = []
    for name, sel in re.findall(r"\b(support_[a-z_]+)\{([^}]*)\}", expr):
        if name in windowed | live:
            out.append(sel)
    return out


def test_dashboards_and_rules_pin_every_dimension() -> None:
    """Turning a dimension on (agent) must not add series to any panel or rule, and every
    panel aggregates the replicas (max by ...), so scaling the workers changes nothing."""
    rules = yaml.safe_load((ROOT / "deploy/prometheus/support-kpi.rules.yml").read_text())
    exprs = _dashboard_exprs() + [(f"rule {r['alert']}", r["expr"])
                                  for g in rules["groups"] for r in g["rules"]]
    checked = 0
    for where, expr in exprs:
        for sel in _kpi_selectors(expr):
            labels = {re.match(r"\s*(\w+)", m).group(1) for m in sel.split(",")}  # type: ignore[union-attr]
            dims = set(ALL_DIMENSIONS) if "window=" in sel else {"queue", "channel", "agent"}
            assert dims <= labels, f"{where}: {sel} does not pin {dims - labels}"
            assert expr.lstrip("(").startswith(("max", "min", "sum", "histogram_quantile")), \
                f"{where}: {expr} does not aggregate the replicas"
            checked += 1
    assert checked > 20


def test_every_dashboard_expression_is_valid_promql(tmp_path: Path) -> None:
    exprs = _dashboard_exprs()
    assert len(exprs) > 15
    rules = {"groups": [{"name": "dashboards", "rules": [
        {"record": f"dashboard:check_{i}", "expr": _concrete(e)}
        for i, (_w, e) in enumerate(exprs)]}]}
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump(rules))
    proc = subprocess.run([promtool(), "check", "rules", str(path)], capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def exported_names() -> set[str]:
    """Every series name the worker's /metrics can expose (from describe(): no Redis)."""
    import redis
    from prometheus_client import CollectorRegistry

    from serve.metrics import KpiCollector, PipelineCollector
    from streams.telemetry import WorkerTelemetry
    from supportkpi.settings import load_settings
    from windows.keys import Keys
    from windows.reader import WindowReader

    settings = load_settings()
    cfg = settings.kpi_config()
    registry = CollectorRegistry(auto_describe=True)
    reader = WindowReader(redis.Redis(port=1), Keys("x"), cfg)  # never contacted
    collector = KpiCollector(reader, cfg, lambda: 0.0, alert_dims=["queue"], alert_rules=["r"])
    WorkerTelemetry(registry)
    names: set[str] = set()
    families = list(collector.describe()) + list(PipelineCollector(reader).describe())
    for fam in families + [m for c in [registry] for m in c.collect()]:
        suffixes = {"counter": ["_total"], "summary": ["", "_sum", "_count"],
                    "histogram": ["_bucket", "_sum", "_count"]}.get(fam.type, [""])
        names |= {fam.name + s for s in suffixes}
    return names


def _metric_names(expr: str) -> set[str]:
    return {n for n in re.findall(r"\b([a-z_][a-z0-9_]*)\b(?=\s*[{\[)]|\s*$|\s*[<>=!/*+-])", expr)
            if n.startswith("support_")}


def test_dashboards_and_rules_reference_only_exported_metrics() -> None:
    exported = exported_names()
    assert "support_first_response_seconds_count" in exported
    assert "support_events_processed_total" in exported
    used: dict[str, str] = {}
    for where, expr in _dashboard_exprs():
        for n in _metric_names(expr):
            used[n] = where
    rules = yaml.safe_load((ROOT / "deploy/prometheus/support-kpi.rules.yml").read_text())
    for g in rules["groups"]:
        for r in g["rules"]:
            for n in _metric_names(r["expr"]):
                used[n] = f"rule {r['alert']}"
    assert len(used) > 15
    missing = {n: w for n, w in used.items() if n not in exported}
    assert not missing, f"referenced but never exported: {missing}"


def test_the_name_check_catches_a_typo() -> None:
    assert _metric_names('support_fcr_ratoi{window="1h"} < 0.6') == {"support_fcr_ratoi"}
    assert "support_fcr_ratoi" not in exported_names()


def test_every_compose_command_is_one_the_cli_accepts() -> None:
    """A renamed or removed option must not leave the compose stack starting a command
    that exits at once (the parser rejects unknown options even with --help)."""
    from click.testing import CliRunner

    from supportkpi.cli import main

    doc = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    commands = {name: svc["command"] for name, svc in doc["services"].items()
                if svc.get("image") == "support-kpi:local" and "command" in svc}
    assert "simulator" in commands
    for name, command in commands.items():
        result = CliRunner().invoke(main, [*command, "--help"])
        assert result.exit_code == 0, (name, result.output)


def test_the_image_copies_every_package_it_installs() -> None:
    """A package missing from the image fails only at run time (a lazy import)."""
    import tomllib

    packages = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"][
        "packages"]
    text = (ROOT / "Dockerfile").read_text()
    for top in {p.split(".")[0] for p in packages}:
        assert f"COPY {top} ./{top}" in text, top


def test_the_committed_dashboards_are_what_the_generator_writes() -> None:
    """scripts/build_dashboards.py is how the dashboards change (README): a panel added to
    the JSON by hand would be deleted by its next run, so the two must agree."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_dashboards",
                                                  ROOT / "scripts/build_dashboards.py")
    assert spec is not None and spec.loader is not None
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    written = gen.dashboards()
    assert sorted(written) == [p.name for p in DASHBOARDS]
    for path in DASHBOARDS:
        assert path.read_text() == written[path.name], (
            f"{path.relative_to(ROOT)} differs from what scripts/build_dashboards.py writes: "
            "change the script and run it")
