"""Alert rules: one YAML file, validated at start-up with errors naming rule and field."""

from __future__ import annotations

import dataclasses
import math
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from alerts import catalog
from alerts.errors import RulesError
from kpi.config import ALL_DIMENSIONS, parse_duration_ms
from kpi.durations import duration_name, human_duration
from kpi.errors import ConfigError, describe_errors, read_yaml
from kpi.kinds import Statistic, within_key

Comparison = Literal[">", ">=", "<", "<="]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_LABEL = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# labels every alert gets from its rule: a rule's own labels cannot override them
# (Alertmanager would then group, route or deduplicate the wrong alerts)
RESERVED_LABELS = frozenset({"alertname", "severity", "alertstate"})
PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")  # {name} in summaries and descriptions
TEMPLATE_FIELDS = {"value", "threshold", "window", "rule", "severity", *ALL_DIMENSIONS}
# the rendered rules every deployment gets (alerts.render.PIPELINE_RULES): a rule of the
# same name would be one alert to Alertmanager, and silencing one would silence both
BUILT_IN_NAMES = frozenset({"SupportPipelineSilent", "SupportEventsStale", "SupportConsumerLag",
                            "SupportRedisDown", "SupportStoreEvicting", "SupportStoreIncomplete",
                            "SupportStoreLostOffsets", "Watchdog"})
# annotations with their own fields
OWN_ANNOTATIONS = frozenset({"summary", "description"})
_SEVERITY = re.compile(r"^[A-Za-z0-9_.-]+$")


def _check_name(v: str) -> str:
    if not _NAME.match(v):
        raise ValueError("must be letters, digits and underscores (a Prometheus alert name)")
    if v in BUILT_IN_NAMES:
        raise ValueError(f"{v!r} is a built-in rule of the rendered rules (alerts render): "
                         "pick another name")
    return v


def _check_severity(v: str) -> str:
    if not _SEVERITY.match(v):
        raise ValueError(f"severity {v!r} must be a non-empty word (page, warning, ticket): "
                         "Alertmanager routes on it")
    return v


def _check_labels(v: dict[str, str], own: set[str]) -> dict[str, str]:
    for name in v:
        if name in RESERVED_LABELS or name in own:
            raise ValueError(f"label {name!r} is set by the rule itself and cannot be "
                             "overridden")
        if not _LABEL.match(name):
            raise ValueError(f"label {name!r} is not a Prometheus label name")
    return v


def _check_template(v: str, fields: set[str]) -> str:
    for name in PLACEHOLDER.findall(v):
        if name not in fields:
            raise ValueError(f"unknown placeholder {{{name}}}; use {sorted(fields)}")
    return v


def _check_dims_used(per: list[str], *texts: tuple[str, str]) -> None:
    """A dimension placeholder needs the dimension among ``per``: otherwise the
    in-stream text would print ``{queue}`` as is and Prometheus an empty string."""
    for field, text in texts:
        stray = sorted(n for n in PLACEHOLDER.findall(text)
                       if n in ALL_DIMENSIONS and n not in per)
        if stray:
            raise ValueError(f"{field}: {{{stray[0]}}} is not one of the rule's dimensions "
                             f"(per: {per}): it would print as is")


def format_value(value: float, unit: str) -> str:
    """A value as a page says it: durations in human units, ratios as percentages."""
    if unit == "duration":
        return human_duration(value)
    if unit == "ratio":
        return f"{value * 100:.3g}%"
    return f"{value:.4g}"


class Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str
    kpi: str
    statistic: str
    window: str | None = None
    within: str | None = Field(None, description="at_risk: the horizon (one of "
                               "SUPPORT_SLA_AT_RISK); repeat_contact: the repeat window (one "
                               "of SUPPORT_REPEAT_WINDOW); default the longest")
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
    annotations: dict[str, str] = Field(
        default_factory=dict, description="more annotations (runbook_url, dashboard, ...), "
        "templated like the summary, on both paths")

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _check_name(v)

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        return _check_severity(v)

    @field_validator("annotations")
    @classmethod
    def _annotations(cls, v: dict[str, str]) -> dict[str, str]:
        for name, text in v.items():
            if name in OWN_ANNOTATIONS:
                raise ValueError(f"annotation {name!r} has its own field: write {name}: …")
            if not _LABEL.match(name):
                raise ValueError(f"annotation {name!r} is not a Prometheus label name")
            _check_template(text, TEMPLATE_FIELDS | {"comparison"})
        return v

    @field_validator("for_")
    @classmethod
    def _for(cls, v: str) -> str:
        parse_duration_ms(v)
        return v

    @field_validator("within")
    @classmethod
    def _within(cls, v: str | None) -> str | None:
        return None if v is None else duration_name(parse_duration_ms(v))

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
        return _check_template(v, TEMPLATE_FIELDS | {"comparison"})

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
        return _check_labels(v, set())

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
        if self.within is not None and not (catalog.has_horizons(self.kpi)
                                            or catalog.has_repeat_windows(self.kpi)):
            raise ValueError(f"kpi {self.kpi!r} has no horizons: 'within' is for at_risk "
                             "and repeat_contact")
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
        _check_dims_used(self.per, ("summary", self.summary),
                         ("description", self.description),
                         *(("annotations." + k, v) for k, v in self.annotations.items()))
        if self.no_data is None:
            # an empty queue resolves a live-gauge alert; a quiet window keeps a real problem
            self.no_data = "resolve" if live else "keep"
        return self

    @property
    def unit(self) -> str:
        """How its values read: ``duration`` (seconds), ``ratio`` or ``number``."""
        stat = catalog.lookup(self.kpi, self.statistic)[0]
        if self.statistic == "ratio":
            return "ratio"
        return "duration" if "_seconds" in stat.metric and self.statistic != "count" \
            else "number"

    @property
    def for_ms(self) -> int:
        return parse_duration_ms(self.for_)

    @property
    def live(self) -> bool:
        return catalog.lookup(self.kpi, self.statistic)[1]

    @property
    def stat(self) -> Statistic:
        """Where the value is; a horizon picks its own row key and ``within`` series."""
        stat = catalog.lookup(self.kpi, self.statistic)[0]
        if self.within is None:
            return stat
        return dataclasses.replace(stat, key=within_key(stat.key, self.within),
                                   extra=(*stat.extra, ("within", self.within)))


SLO_KPIS = ("frt_sla", "sla_first_reply", "sla_next_reply", "sla_resolution")
_SLO_FIELDS = {"value", "objective", "long", "short", "factor", "slo", "severity",
               *ALL_DIMENSIONS}


class BurnRate(BaseModel):
    """One window pair of the SRE workbook's multi-window burn-rate alerts: fire when the
    error budget burns ``factor`` times too fast over both windows (the long one proves it
    matters, the short one that it is still happening, so the alert resolves quickly)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    long: str
    short: str
    factor: float = Field(gt=0, allow_inf_nan=False)
    severity: str = "page"
    for_: str = Field("2m", alias="for")

    @field_validator("for_")
    @classmethod
    def _for(cls, v: str) -> str:
        parse_duration_ms(v)
        return v

    @field_validator("severity")
    @classmethod
    def _severity(cls, v: str) -> str:
        return _check_severity(v)

    @model_validator(mode="after")
    def _ordered(self) -> BurnRate:
        if parse_duration_ms(self.short) >= parse_duration_ms(self.long):
            raise ValueError(f"short window {self.short} must be shorter than long {self.long}")
        return self


class Slo(BaseModel):
    """An SLA objective over a windowed achievement ratio, alerted by burn rate
    (rendered for Prometheus: ``support-kpi alerts render``)."""

    model_config = ConfigDict(extra="forbid")

    name: str
    kpi: str
    objective: float = Field(gt=0, lt=1, description="e.g. 0.95: 95% of targets met")
    per: list[str] = Field(default_factory=list)
    min_samples: int = Field(0, ge=0, description="on the long window")
    burn_rates: list[BurnRate] = Field(min_length=1)
    labels: dict[str, str] = Field(default_factory=dict)
    summary: str = ("{slo}: the error budget burns {value}x too fast over {long} and {short} "
                    "(objective {objective})")
    annotations: dict[str, str] = Field(default_factory=dict, description="more "
                                        "annotations (runbook_url, ...), templated alike")

    _name = field_validator("name")(Rule._name.__func__)  # type: ignore[attr-defined]
    _per = field_validator("per")(Rule._per.__func__)  # type: ignore[attr-defined]

    @model_validator(mode="after")
    def _own_labels(self) -> Slo:
        """Its labels cannot take the ones each rendered alert sets (the dimensions, the
        window pair, severity): two alerts would then carry the same labels."""
        _check_labels(self.labels, {*self.per, "long_window", "short_window", "severity"})
        for name, text in self.annotations.items():
            if name in OWN_ANNOTATIONS or not _LABEL.match(name):
                raise ValueError(f"annotation {name!r}: not a label name other than "
                                 "summary and description")
            _check_template(text, _SLO_FIELDS)
        _check_dims_used(self.per, ("summary", self.summary),
                         *(("annotations." + k, v) for k, v in self.annotations.items()))
        return self

    @field_validator("kpi")
    @classmethod
    def _kpi(cls, v: str) -> str:
        if v not in SLO_KPIS:
            raise ValueError(f"burn rates need an achievement ratio; one of {', '.join(SLO_KPIS)}")
        return v

    @field_validator("summary")
    @classmethod
    def _template(cls, v: str) -> str:
        return _check_template(v, _SLO_FIELDS)

    @property
    def stat(self) -> Statistic:
        return catalog.lookup(self.kpi, "ratio")[0]


class RuleSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule] = Field(default_factory=list)
    slos: list[Slo] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> RuleSet:
        seen: set[str] = set()
        for name in [*(r.name for r in self.rules), *(o.name for o in self.slos)]:
            if name in seen:
                raise ValueError(f"rule name {name!r} is used twice")
            seen.add(name)
        return self


def _document(text: str, source: str) -> RuleSet:
    """The file, validated; raises :class:`RulesError` naming the rule and field."""
    try:
        doc = read_yaml(text, source)
    except ConfigError as exc:  # one line: where, and what the parser expected
        raise RulesError(str(exc)) from None
    if not isinstance(doc, dict) or not ({"rules", "slos"} & set(doc)):
        raise RulesError(f"{source}: expected a mapping with a 'rules' list (and/or 'slos')")
    try:
        return RuleSet.model_validate(doc)
    except ValidationError as exc:
        lines = [_error_line(loc, msg, source) for loc, msg in describe_errors(exc, doc)]
        if len(lines) == 1:
            raise RulesError(f"invalid alert rules: {lines[0]}") from None
        raise RulesError("invalid alert rules:\n  " + "\n  ".join(lines)) from None


def _error_line(loc: list[str], msg: str, source: str) -> str:
    where = source
    if len(loc) >= 2 and loc[0] in ("rules", "slos"):
        where = f"{source}: {'rule' if loc[0] == 'rules' else 'slo'} {loc[1]}"
        loc = loc[2:]
    field = ".".join(p.removesuffix("_") if p == "for_" else p for p in loc)
    return f"{where}, field {field or '(rule)'}: {msg}"


def _check_dims(source: str, name: str, per: list[str], kpi: str,
                sets: list[tuple[str, ...]] | None, variable: str) -> None:
    if sets is not None and tuple(per) not in {tuple(ds) for ds in sets}:
        have = ", ".join("[" + ", ".join(ds) + "]" for ds in sets)
        raise RulesError(f"{source}: rule {name}, field per: kpi {kpi!r} has no "
                         f"dimension combination {per} (exported: {have}; {variable})")


def _check_window(source: str, name: str, field: str, window: str,
                  windows: list[str] | None) -> None:
    if windows is not None and window not in windows:
        raise RulesError(f"{source}: rule {name}, field {field}: {window!r} is not a "
                         f"configured window ({', '.join(windows)})")


def parse_rules(text: str, source: str = "<rules>", windows: list[str] | None = None,
                dimension_sets: list[tuple[str, ...]] | None = None,
                gauge_dimension_sets: list[tuple[str, ...]] | None = None,
                horizons: list[str] | None = None,
                repeat_windows: list[str] | None = None) -> list[Rule]:
    """The threshold rules, validated against what is exported; raises :class:`RulesError`
    naming the rule and field."""
    rules = _document(text, source).rules
    for r in rules:
        if r.window is not None:
            _check_window(source, r.name, "window", r.window, windows)
        if r.live:
            _check_dims(source, r.name, r.per, r.kpi, gauge_dimension_sets,
                        "SUPPORT_GAUGE_DIMENSIONS")
        else:
            _check_dims(source, r.name, r.per, r.kpi, dimension_sets, "SUPPORT_DIMENSIONS")
        if r.within is not None and horizons is not None and catalog.has_horizons(r.kpi) \
                and r.within not in horizons:
            raise RulesError(f"{source}: rule {r.name}, field within: {r.within!r} is not "
                             f"an at-risk horizon ({', '.join(horizons)}; "
                             "SUPPORT_SLA_AT_RISK)")
        if r.within is not None and repeat_windows is not None \
                and catalog.has_repeat_windows(r.kpi) and r.within not in repeat_windows:
            raise RulesError(f"{source}: rule {r.name}, field within: {r.within!r} is not "
                             f"a repeat window ({', '.join(repeat_windows)}; "
                             "SUPPORT_REPEAT_WINDOW)")
        if repeat_windows and r.within == repeat_windows[-1] \
                and catalog.has_repeat_windows(r.kpi):
            r.within = None  # the longest is the row's own key (and Prometheus' max)
    return rules


def parse_slos(text: str, source: str = "<rules>", windows: list[str] | None = None,
               dimension_sets: list[tuple[str, ...]] | None = None) -> list[Slo]:
    """The burn-rate objectives, validated against the configured windows and dimensions."""
    slos = _document(text, source).slos
    for o in slos:
        for pair in o.burn_rates:
            _check_window(source, o.name, "burn_rates.long", pair.long, windows)
            _check_window(source, o.name, "burn_rates.short", pair.short, windows)
        _check_dims(source, o.name, o.per, o.kpi, dimension_sets, "SUPPORT_DIMENSIONS")
    return slos


def read_rules_file(path: Path) -> str:
    try:
        return path.read_text()
    except OSError as exc:
        raise RulesError(f"cannot read alert rules {path}: {exc.strerror}") from None


def load_rules(path: Path, windows: list[str] | None = None,
               dimension_sets: list[tuple[str, ...]] | None = None,
               gauge_dimension_sets: list[tuple[str, ...]] | None = None,
               horizons: list[str] | None = None) -> list[Rule]:
    return parse_rules(read_rules_file(path), str(path), windows, dimension_sets,
                       gauge_dimension_sets, horizons)


def render_template(template: str, values: dict[str, str]) -> str:
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)
