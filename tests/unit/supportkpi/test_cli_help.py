from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from supportkpi.cli import main

COMMANDS = [[], ["services"], ["services", "up"], ["services", "down"], ["services", "status"],
            ["services", "fetch"], ["worker"], ["simulate"], ["query"], ["oracle"], ["replay"],
            ["demo"]]


@pytest.mark.parametrize("cmd", COMMANDS, ids=lambda c: " ".join(c) or "main")
def test_every_command_explains_itself(cmd: list[str]) -> None:
    result = CliRunner().invoke(main, [*cmd, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output and len(result.output.splitlines()) > 3


def test_bad_configuration_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_WINDOWS", "5m,eternity")
    result = CliRunner().invoke(main, ["query"])
    assert result.exit_code != 0
    assert "SUPPORT_WINDOWS" in result.output and "eternity" in result.output


def test_unknown_window_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["query", "--window", "7m"])
    assert result.exit_code != 0 and "unknown window" in result.output


BAD_RULE = """
rules:
  - {name: FcrLow, kpi: fcr, statistic: ratio, window: 1h, comparison: "<", threshold: .nan}
"""


def test_an_invalid_rule_is_one_line_at_check_and_at_worker_start_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rules = tmp_path / "alerts.yml"
    rules.write_text(BAD_RULE)
    check = CliRunner().invoke(main, ["alerts", "check", str(rules)])
    assert check.exit_code == 1
    want = (f"Error: invalid alert rules: {rules}: rule FcrLow, field threshold: must be a "
            "finite number, not nan")
    assert check.output.startswith(want) and check.output.count("\n") == 1, check.output
    # the worker refuses before it touches Kafka or Redis (nothing listens on these)
    monkeypatch.setenv("SUPPORT_ALERT_RULES", str(rules))
    monkeypatch.setenv("SUPPORT_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "faust"))
    worker = CliRunner().invoke(main, ["worker"])
    assert worker.exit_code == 1 and worker.output.startswith(want), worker.output
    assert worker.output.count("\n") == 1


def test_a_busy_metrics_port_is_one_line_naming_the_setting(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("SUPPORT_KAFKA_BOOTSTRAP", "127.0.0.1:1")  # never reached
        monkeypatch.setenv("SUPPORT_DATA_DIR", str(tmp_path / "faust"))
        result = CliRunner().invoke(main, ["worker", "--metrics-port", str(port)])
    assert result.exit_code == 1, result.output
    assert result.output.startswith(f"Error: cannot serve on 127.0.0.1:{port}")
    assert "SUPPORT_METRICS_PORT (--metrics-port)" in result.output
    assert result.output.count("\n") == 1


def test_an_empty_http_token_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SUPPORT_HTTP_TOKEN", "")
    result = CliRunner().invoke(main, ["query"])
    assert result.exit_code != 0
    assert "SUPPORT_HTTP_TOKEN" in result.output and "is empty" in result.output
