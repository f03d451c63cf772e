"""Alert rules: one YAML file, validated at start-up with errors naming rule and field."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts import catalog
from alerts.errors import RulesError
from windows.config import ALL_DIMENSIONS, parse_duration_ms

Comparison = Literal[">", ">=", "<", "<="]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# labels every alert gets from its rule: a rule's own labels cannot override them
# (Alertmanager would then group, route or deduplicate the wrong alerts)
RESERVED_LABELS = frozenset({"alertname", "severity", "alertstate"})
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")  # {name} in summaries and descriptions
TEMPLATE_FIELDS = {"value", "threshold", "window", "rule", "severity", *ALL_DIMENSIONS}


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    kpi: str
    statistic: str
    window: str | None = None
    per: list[str] = Field(default_factory=list, description="dimensions to alert per")
    comparison: Comparison
    threshold: float
    clear: float | None = Field(None, description="hysteresis: firing until this is crossed")
    for_: str = Field("0s", alias="for")
    min_samples: int = Field(0, ge=0)
    no_data: Literal["keep", "resolve"] | None = Field(
        None, description="what a firing alert does when its value is absent; default by "
                          "kind: live gauges resolve, windowed KPIs keep")
    severity: str = "warning"
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = "{rule}: {value} {comparison} {threshold}"
    description: str = ""

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        if not _NAME.match(v):
            raise ValueError("must be letters, digits and underscores (a Prometheus alert name)")
        return v

    @field_validator("for_")
    @classmethod
    def _for(cls, v: str) -> str:
        parse_duration_ms(v)
        return v

    @field_validator("per")
    @classmethod
    def _per(cls, v: list[str]) -> list[str]:
        for d in v:
            if d not in ALL_DIMENSIONS:
                raise ValueError(f"unknown dimension {d!r}; known: {', '.join(ALL_DIMENSIONS)}")
        return v

    @field_validator("summary", "description")
    @classmethod
    def _template(cls, v: str) -> str:
        for name in PLACEHOLDER.findall(v):
            if name not in TEMPLATE_FIELDS | {"comparison"}:
                raise ValueError(f"unknown placeholder {{{name}}}; use {sorted(TEMPLATE_FIELDS)}")
        return v

    @field_validator("threshold", "clear")
    @classmethod
    def _finite(cls, v: float | None) -> float | None:
        if v is not None and not math.isfinite(v):
            raise ValueError(f"must be a finite number, not {v}: such a rule could never "
                             "fire, or would flap on every evaluation")
        return v

    @field_validator("labels")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by the rule itself and cannot be "
                                 "overridden")
            if not _LABEL.match(name):
                raise ValueError(f"label {name!r} is not a Prometheus label name")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        try:
            _stat, live = catalog.lookup(self.kpi, self.statistic)
        except KeyError as exc:
            raise ValueError(exc.args[0]) from None
        if live and self.window is not None:
            raise ValueError(f"kpi {self.kpi!r} is a live gauge: it has no window")
        if not live and self.window is None:
            raise ValueError(f"kpi {self.kpi!r} needs a window (e.g. 15m)")
        if self.statistic == "ratio":
            for name, v in (("threshold", self.threshold), ("clear", self.clear)):
                if v is not None and not 0 <= v <= 1:
                    raise ValueError(f"{name} {v:g} is outside [0, 1], the range of a ratio "
                                     "(write 0.8 for 80%)")
        if self.clear is not None:
            worse = self.comparison in (">", ">=")
            if (worse and self.clear > self.threshold) or (
                    not worse and self.clear < self.threshold):
                raise ValueError(f"clear {self.clear:g} must be on the healthy side of "
                                 f"threshold {self.threshold:g} for comparison "
                                 f"{self.comparison!r}")
        taken = set(self.labels) & {*self.per, *(["window"] if self.window else [])}
        if taken:
            raise ValueError(f"labels {sorted(taken)} would override the alert's own "
                             "window or dimension labels")
        if self.no_data is None:
            # an empty queue resolves a live-gauge alert; a quiet window keeps a real problem
            self.no_data = "resolve" if live else "keep"
        return self

    @property
    def for_ms(self) -> int:
        return parse_duration_ms(self.for_)

    @property
    def live(self) -> bool:
        return catalog.lookup(self.kpi, self.statistic)[1]

    @property
    def stat(self) -> catalog.Statistic:
        return catalog.lookup(self.kpi, self.statistic)[0]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        seen: set[str] = set()
        for r in self.rules:
            if r.name in seen:
                raise ValueError(f"rule name {r.name!r} is used twice")
            seen.add(r.name)
        return self


def parse_rules(text: str, source: str = "<rules>", windows: list[str] | None = None,
                dimension_sets: list[tuple[str, ...]] | None = None,
                gauge_dimension_sets: list[tuple[str, ...]] | None = None) -> list[Rule]:
    """Parse and validate; raises :class:`RulesError` naming the rule and field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:  # one line: where, and what the parser expected
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or type(exc).__name__
        raise RulesError(f"{source}: not valid YAML{where}: {what}") from None
    if not isinstance(doc, dict) or "rules" not in doc:
        raise RulesError(f"{source}: expected a mapping with a 'rules' list")
    try:
        rules = RuleSet.model_validate(doc).rules
    except ValidationError as exc:
        raw = doc.get("rules") or []
        lines = []
        for err in exc.errors():
            loc = list(err["loc"])
            where = source
            if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
                idx = loc[1]
                name = raw[idx].get("name") if idx < len(raw) and isinstance(raw[idx], dict) \
                    else None
                where = f"{source}: rule {name or f'#{idx + 1}'}"
                loc = loc[2:]
            field = ".".join(str(p) for p in loc if p != "for_") or "(rule)"
            if loc and loc[0] == "for_":
                field = "for"
            msg = err["msg"].removeprefix("Value error, ")
            lines.append(f"{where}, field {field}: {msg}")
        if len(lines) == 1:
            raise RulesError(f"invalid alert rules: {lines[0]}") from None
        raise RulesError("invalid alert rules:\n  " + "\n  ".join(lines)) from None
    for r in rules:
        if windows is not None and r.window is not None and r.window not in windows:
            raise RulesError(f"{source}: rule {r.name}, field window: {r.window!r} is not a "
                             f"configured window ({', '.join(windows)})")
        sets, variable = ((dimension_sets, "SUPPORT_DIMENSIONS") if not r.live
                          else (gauge_dimension_sets, "SUPPORT_GAUGE_DIMENSIONS"))
        if sets is not None and tuple(r.per) not in {tuple(ds) for ds in sets}:
            have = ", ".join("[" + ", ".join(ds) + "]" for ds in sets)
            raise RulesError(f"{source}: rule {r.name}, field per: kpi {r.kpi!r} has no "
                             f"dimension combination {r.per} (exported: {have}; "
                             f"{variable})")
    return rules


def load_rules(path: Path, windows: list[str] | None = None,
               dimension_sets: list[tuple[str, ...]] | None = None,
               gauge_dimension_sets: list[tuple[str, ...]] | None = None) -> list[Rule]:
    try:
        text = path.read_text()
    except OSError as exc:
        raise RulesError(f"cannot read alert rules {path}: {exc.strerror}") from None
    return parse_rules(text, str(path), windows, dimension_sets, gauge_dimension_sets)


def render_template(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
