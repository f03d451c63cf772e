"""The first-run mistakes of a new user, each one line naming what to change, said at once
and before anything is started (no Kafka or Redis listens on the ports used here)."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from supportkpi.cli import main

NOBODY = "127.0.0.1:1"  # nothing listens on port 1


def _one_line(output: str) -> str:
    assert output.count("\n") == 1, output
    assert output.startswith("Error: "), output
    return output.strip()


@pytest.mark.parametrize("cmd", [["simulate", "--duration", "1"], ["replay", "FILE"]])
def test_simulate_and_replay_without_kafka(cmd: list[str], tmp_path: Path) -> None:
    events = tmp_path / "events.jsonl"
    events.write_text('{"event_id": "a"}\n')
    cmd = [str(events) if c == "FILE" else c for c in cmd]
    t0 = time.monotonic()
    result = CliRunner().invoke(main, [*cmd, "--kafka", NOBODY])
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert line.startswith(f"Error: no Kafka broker listens at {NOBODY} (Connection refused)")
    assert "SUPPORT_KAFKA_BOOTSTRAP" in line and "services up" in line
    assert time.monotonic() - t0 < 10  # not kafka-python's half a minute of retries


def test_worker_without_kafka_says_nothing_listens(tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "faust"))
    monkeypatch.setenv("SUPPORT_REDIS_URL", "redis://127.0.0.1:1/0")
    result = CliRunner().invoke(main, ["worker", "--kafka", NOBODY, "--metrics-port", "0"])
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert line == (f"Error: no Kafka broker listens at {NOBODY} (Connection refused): start "
                    "Kafka, or set SUPPORT_KAFKA_BOOTSTRAP (--kafka) to a running broker")
    assert "refused the worker" not in line


@pytest.mark.parametrize("text, where", [
    ("rules: [\n", "at line 2, column 1: expected the node content, but found '<stream end>'"),
    ("rules:\n  - name: [x\n", "at line 3, column 1"),
])
def test_a_rules_file_that_is_not_yaml_is_one_line(text: str, where: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(text)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "faust"))
    for cmd in (["alerts", "check", str(rules)], ["worker", "--kafka", NOBODY]):
        monkeypatch.setenv("SUPPORT_ALERT_RULES", str(rules))
        result = CliRunner().invoke(main, cmd)
        assert result.exit_code == 1, result.output
        line = _one_line(result.output)
        assert f"{rules}: not valid YAML {where}" in line, line


def test_a_missing_rules_file_is_one_line(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_ALERT_RULES", str(tmp_path / "nope.yml"))
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "faust"))
    result = CliRunner().invoke(main, ["worker", "--kafka", NOBODY])
    assert _one_line(result.output) == (f"Error: cannot read alert rules {tmp_path}/nope.yml: "
                                        "No such file or directory")


def _demo(tmp_path: Path, *extra: str) -> list[str]:
    return ["demo", "--state-dir", str(tmp_path / "state"), "--kafka-port", "1",
            "--controller-port", "2", "--redis-port", "3", "--metrics-port", "4", *extra]


def test_demo_refuses_bad_settings_before_starting_anything(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_WINDOWS", "banana")
    result = CliRunner().invoke(main, _demo(tmp_path))
    assert _one_line(result.output) == (
        "Error: invalid configuration: SUPPORT_WINDOWS: not a duration: 'banana' (expected "
        "e.g. 30s, 5m, 1h, 7d)")
    assert not (tmp_path / "state").exists()  # no Kafka, no Redis, not even a directory


def test_demo_refuses_bad_options_before_starting_anything(tmp_path: Path) -> None:
    for extra, want in ((["--history", "forever"], "--history 'forever'"),
                        (["--incident", "nowhere@1h+5m"], "--incident: 'nowhere@1h+5m'")):
        result = CliRunner().invoke(main, _demo(tmp_path, *extra))
        assert want in _one_line(result.output)
        assert not (tmp_path / "state").exists()


def test_demo_refuses_a_busy_port(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        args = _demo(tmp_path)
        args[args.index("--redis-port") + 1] = str(port)
        result = CliRunner().invoke(main, args)
    assert _one_line(result.output) == (f"Error: port {port} is in use by another process; "
                                        "stop it or choose another with --redis-port")
    assert not (tmp_path / "state").exists()


def test_demo_refuses_to_start_twice(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "demo.pid").write_text(str(os.getpid()))  # a live process
    result = CliRunner().invoke(main, _demo(tmp_path))
    line = _one_line(result.output)
    assert line.startswith(f"Error: a demo is already running (pid {os.getpid()}, state in ")
    assert "Ctrl-C in its terminal" in line
    assert sorted(p.name for p in (tmp_path / "state").iterdir()) == ["demo.pid"]


def test_serving_beyond_loopback_without_a_token_warns(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from prometheus_client import CollectorRegistry

    from supportkpi.settings import load_settings
    from supportkpi.worker import serve_http
    from tests.unit.serve.fixed import FixedReader

    s = load_settings(metrics_host="0.0.0.0", metrics_port=0, wall_process=False)
    with caplog.at_level(logging.WARNING, logger="supportkpi.worker"):
        serve_http(s, CollectorRegistry(), FixedReader(), None, [], None)  # type: ignore[arg-type]
    assert any("on 0.0.0.0 without SUPPORT_HTTP_TOKEN: anyone who reaches this address can "
               "read them" in r.getMessage() for r in caplog.records), caplog.records


def test_probing_a_kafka_that_is_not_up_yet_logs_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    from devtools.services import kafka_ready

    with caplog.at_level(logging.DEBUG):
        assert kafka_ready(NOBODY) is False
    assert [r for r in caplog.records if r.name.startswith("kafka")] == []


def test_the_demo_banner_gives_a_query_command_that_runs_as_printed(tmp_path: Path) -> None:
    import shlex
    import subprocess

    from devtools.services import ServiceConfig
    from supportkpi.demo import DemoPlan, banner

    plan = DemoPlan(ServiceConfig(state_dir=tmp_path, redis_port=1), metrics_port=9464,
                    rate=10, history="1h", speed=0)
    line = next(ln for ln in banner(plan).splitlines() if "table:" in ln)
    env_part, *cmd = shlex.split(line.split("table:", 1)[1])
    assert env_part == "SUPPORT_REDIS_URL=redis://127.0.0.1:1/0"
    assert Path(cmd[0]).is_absolute()  # not relying on the venv being on PATH
    out = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=60,
                         env={"PATH": "/usr/bin:/bin"})
    assert out.returncode == 0 and "Usage:" in out.stdout, out.stderr


@pytest.mark.parametrize(("env", "says"), [
    ({}, "no connector configured: set SUPPORT_CONNECTORS"),
    ({"SUPPORT_CONNECTORS": "zendesk"}, "SUPPORT_ZENDESK_WEBHOOK_SECRET is not set"),
    ({"SUPPORT_CONNECTORS": "freshdesk"}, "SUPPORT_FRESHDESK_WEBHOOK_SECRET is not set"),
    ({"SUPPORT_CONNECTORS": "helpscout"}, "unknown connector 'helpscout'"),
])
def test_intake_settings_before_any_connection(env: dict[str, str], says: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SUPPORT_CONNECTORS", raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    result = CliRunner().invoke(main, ["intake", "--kafka", NOBODY])
    assert result.exit_code != 0
    assert says in result.output and "Kafka" not in result.output, result.output


@pytest.mark.parametrize("env, names", [
    ({"SUPPORT_CUSTOMER_KPIS": "true"}, ("SUPPORT_CUSTOMER_KPIS", "SUPPORT_CUSTOMER_SECRET")),
    ({"SUPPORT_CUSTOMER_KPIS": "true", "SUPPORT_CUSTOMER_SECRET": "short"},
     ("SUPPORT_CUSTOMER_SECRET", "16 characters")),
    ({"SUPPORT_FCR_DEFINITION": "customer"},
     ("SUPPORT_FCR_DEFINITION=customer", "SUPPORT_CUSTOMER_KPIS")),
    ({"SUPPORT_REPEAT_WINDOW": "24h,7days"}, ("SUPPORT_REPEAT_WINDOW", "'7days'")),
])
def test_customer_kpis_without_a_secret_are_one_line(env: dict[str, str], names: tuple[str, ...],
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused before the worker touches Kafka (none listens here) or Redis."""
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "faust"))
    result = CliRunner().invoke(main, ["worker", "--kafka", NOBODY, "--metrics-port", "0"])
    assert result.exit_code == 1
    line = _one_line(result.output)
    assert all(n in line for n in names), line
    assert "Kafka broker" not in line  # the settings are checked first
