from __future__ import annotations

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
