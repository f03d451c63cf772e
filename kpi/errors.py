"""One base exception for the KPI core, and the one way a configuration mistake becomes a
line a person can act on (the YAML files and the settings all go through
:func:`describe_errors`)."""

from __future__ import annotations

from typing import Any

import yaml
from pydantic import ValidationError


class KpiError(Exception):
    """Base error of the KPI core; ``reason`` is a short, bounded label value."""

    reason = "kpi_error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason
        self.detail = detail


class ConfigError(KpiError, ValueError):
    """The KPI configuration is inconsistent (a window not divisible into buckets, a
    calendar or SLA policy file with a mistake): one line naming what to change."""

    reason = "config"


def read_yaml(text: str, source: str) -> Any:
    """A configuration file's YAML; a syntax error is one :class:`ConfigError` line
    naming the file, where the parser stopped and what it expected."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None)
        raise ConfigError(f"{source}: not valid YAML{where}{': ' + what if what else ''}"
                          ) from None


def describe_errors(exc: ValidationError, doc: Any = None) -> list[tuple[list[str], str]]:
    """Each of pydantic's errors as (location, message). A list index in the location is
    replaced by that element's ``name`` in ``doc`` where it has one (else, for an element
    of a top-level list, ``#<n>`` counted from 1), so a person reads which rule or policy is
    wrong; the message loses pydantic's ``Value error, `` prefix."""
    out = []
    for err in exc.errors():
        loc: list[str] = []
        node = doc
        for part in err["loc"]:
            if isinstance(part, int):
                named = node[part] if isinstance(node, list) and part < len(node) else None
                name = named.get("name") if isinstance(named, dict) else None
                top = not any(isinstance(x, int) for x in err["loc"][:len(loc)])
                loc.append(str(name) if name else f"#{part + 1}" if top else str(part))
            else:
                loc.append(str(part))
            node = _child(node, part)
        out.append((loc, str(err["msg"]).removeprefix("Value error, ")))
    return out


def _child(node: Any, part: str | int) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None
