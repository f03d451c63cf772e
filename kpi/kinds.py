"""The kinds of KPI the catalog declares (a count, a volume, a duration with quantiles, a
ratio with its Wilson bounds, a mean, a net score, a live gauge): what each stores, how it
is summarized, exported, alerted on and shown. Pure declarations."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kpi import histogram

Fields = Mapping[str, int]
Row = dict[str, float | None]


def qname(q: float) -> str:
    """``0.9`` → ``"90"``, ``0.995`` → ``"99_5"``: the quantile part of a summary key."""
    return f"{q * 100:g}".replace(".", "_")


@dataclass(frozen=True)
class Statistic:
    """One alertable number: where it is in a summary row, and the exported series that
    carries the same number (for the rendered Prometheus rules)."""

    key: str  # summary row key (or live gauge row key)
    samples_key: str | None  # row key counting the samples behind the value
    metric: str  # exported series
    extra: tuple[tuple[str, str], ...] = ()  # extra label matchers (quantile)
    divide_by: str | None = None  # mean = metric / divide_by
    samples_metric: str | None = None


@dataclass(frozen=True)
class Show:
    """How a person sees one statistic: a ``query`` column, optionally a wall tile."""

    header: str  # query column header
    unit: str  # duration | percent | count | score
    label: str = ""  # what a person reads on the wall; the header when empty
    tile: bool = False  # a tile of the wall's floor row
    queue_column: bool = False  # also a column of the wall's queue table
    id: str = ""  # element id on the wall; the header when empty
    better: str = ""  # "higher" or "lower": which way a tile's trend is good news
    column: str = ""  # the queue table's shorter header; the label when empty
    # shown on the wall only where configured: "calendars" (SUPPORT_CALENDARS),
    # "policies" (SUPPORT_SLA_POLICIES) or "customers" (SUPPORT_CUSTOMER_SECRET); "" always
    when: str = ""

    @property
    def ident(self) -> str:
        return self.id or self.header

    @property
    def title(self) -> str:
        return self.label or self.header

    @property
    def column_title(self) -> str:
        return self.column or self.title


def _ratio(num: int, den: int) -> float | None:
    return num / den if den > 0 else None


Z95 = 1.959963984540054  # the standard normal's 97.5% quantile: two-sided 95%


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float] | None:
    """The Wilson score interval of ``k`` successes in ``n`` trials: unlike p ± z·se it
    stays inside [0, 1] and is honest at 2 of 2 (0.34–1, not 1–1). A window can count
    more numerators than denominators (an abandon whose queue entry fell before the
    window): the share is taken as at most 1."""
    if n <= 0:
        return None
    p = min(1.0, max(0.0, k / n))
    z2 = z * z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = z / (1 + z2 / n) * (p * (1 - p) / n + z2 / (4 * n * n)) ** 0.5
    return max(0.0, centre - half), min(1.0, centre + half)


def nps_margin(promoters: int, detractors: int, n: int, z: float = Z95) -> float | None:
    """The NPS's 95% margin of error in points: each response scores +1, 0 or −1, so the
    variance is (P + D) − (P − D)²."""
    if n <= 0:
        return None
    p, d = promoters / n, detractors / n
    return 100.0 * z * max(0.0, (p + d - (p - d) ** 2) / n) ** 0.5


@dataclass(frozen=True)
class Extra:
    """A series derived alongside a KPI (a confidence bound): its summary key and export."""

    key: str
    metric: str
    help: str
    within: bool = False  # exported per repeat window, as its KPI (see Ratio.within)


def within_names(fields: Fields, field: str) -> Iterator[tuple[str, int]]:
    """(window, value) of each ``<field>:<window>`` in a row's fields (the repeat counts
    kept within each repeat window, :func:`kpi.customers.within_field`)."""
    p = f"{field}:"
    for k, v in fields.items():
        if k.startswith(p):
            yield k[len(p):], v


@dataclass(frozen=True)
class Count:
    """A stored counter, exported as a gauge of the window."""

    key: str
    field: str
    metric: str
    help: str
    show: Show | None = None
    # an optional path's count (the customer KPIs): absent rather than 0, so that a floor
    # without it exports none of its series; a count that retractions brought back to 0
    # reads absent too, whatever the arrival order was
    sparse: bool = False
    # also kept within each shorter repeat window (SUPPORT_REPEAT_WINDOW): the row holds
    # each under within_key(key, window); ``key`` is the longest; all exported with the
    # label ``within``
    within: bool = False
    # the stored unit per shown unit (agent time is stored in ms, shown in seconds)
    divisor: int = 1

    def summarize(self, f: Fields, out: Row) -> None:
        out[self.key] = (f.get(self.field) or None) if self.sparse else f.get(self.field, 0)
        if self.divisor != 1 and out[self.key] is not None:
            out[self.key] = (out[self.key] or 0) / self.divisor
        if self.within:
            for name, n in within_names(f, self.field):
                out[within_key(self.key, name)] = n or None


@dataclass(frozen=True)
class Volume:
    """Events of one kind in the window: ``support_window_events{kind}``."""

    kind: str
    show: Show | None = None

    @property
    def key(self) -> str:
        return f"volume_{self.kind}"

    @property
    def field(self) -> str:
        return f"vol_{self.kind}"

    def summarize(self, f: Fields, out: Row) -> None:
        out[self.key] = f.get(self.field, 0)


@dataclass(frozen=True)
class Duration:
    """A duration: count, sum and a log-binned histogram per bucket; exported as a
    Prometheus summary (quantiles within the histogram's 2% relative error)."""

    kpi: str
    field: str  # stored prefix: <field>_s, <field>_h:<bin> (stores before 2026-12 also
    # hold <field>_n, always the sum of the bins: it is no longer written, nor read)
    key: str  # summary prefix: <key>_count, _sum_seconds, _mean_seconds, _p<q>_seconds
    metric: str
    help: str
    quantiles: tuple[float, ...]
    shows: tuple[tuple[str, Show], ...] = ()  # (statistic, how it is shown)
    # exported only for rows with samples: business time exists only where a calendar is
    # configured (SUPPORT_CALENDARS), so the other rows carry no zero series for it
    sparse: bool = False

    def quantile_key(self, q: float) -> str:
        return f"{self.key}_p{qname(q)}_seconds"

    def summarize(self, f: Fields, out: Row) -> None:
        p = f"{self.field}_h:"
        bins = {k[len(p) :]: v for k, v in f.items() if k.startswith(p)}
        n = sum(bins.values())  # one bin per sample: the count
        total = f.get(f"{self.field}_s", 0) / 1000.0
        out[f"{self.key}_count"] = n
        out[f"{self.key}_sum_seconds"] = total
        out[f"{self.key}_mean_seconds"] = total / n if n > 0 else None
        for q in self.quantiles:
            out[self.quantile_key(q)] = histogram.quantile(bins, q)

    def statistics(self) -> dict[str, Statistic]:
        count = f"{self.key}_count"
        out = {
            f"p{qname(q)}": Statistic(
                self.quantile_key(q),
                count,
                self.metric,
                extra=(("quantile", f"{q:g}"),),
                samples_metric=f"{self.metric}_count",
            )
            for q in self.quantiles
        }
        out["mean"] = Statistic(
            f"{self.key}_mean_seconds",
            count,
            f"{self.metric}_sum",
            divide_by=f"{self.metric}_count",
            samples_metric=f"{self.metric}_count",
        )
        out["count"] = Statistic(count, None, f"{self.metric}_count")
        return out

    def shown(self) -> Iterator[tuple[str, str, Show]]:
        """(statistic, row key, show) of each shown statistic."""
        stats = self.statistics()
        for stat, show in self.shows:
            yield stat, stats[stat].key, show


@dataclass(frozen=True)
class Ratio:
    """``num / den`` of two stored counters; absent (never 0) without a denominator."""

    kpi: str
    key: str
    num: str
    den: str
    samples: str  # the summary key counting the denominator
    metric: str
    help: str
    stat: str = "ratio"
    show: Show | None = None
    interval: bool = False  # also export its Wilson 95% interval (<metric>_lower/_upper)
    # also kept within each shorter repeat window (SUPPORT_REPEAT_WINDOW): ``<num>:<w>``
    # over ``<den>:<w>``, under within_key(key, w) in the row; ``key`` is the longest
    # window. Every one is exported with the label ``within`` (serve.metrics)
    within: bool = False

    def summarize(self, f: Fields, out: Row) -> None:
        self._put(f.get(self.num, 0), f.get(self.den, 0), out, "")
        if self.within:
            for name, den in within_names(f, self.den):
                self._put(f.get(f"{self.num}:{name}", 0), den, out, name)

    def _put(self, num: int, den: int, out: Row, window: str) -> None:
        def at(key: str) -> str:
            return within_key(key, window) if window else key

        out[at(self.key)] = _ratio(num, den)
        if self.interval:
            bounds = wilson(num, den)
            out[at(f"{self.key}_lower")] = bounds[0] if bounds else None
            out[at(f"{self.key}_upper")] = bounds[1] if bounds else None

    def extras(self) -> tuple[Extra, ...]:
        if not self.interval:
            return ()
        return tuple(Extra(f"{self.key}_{b}", f"{self.metric}_{b}",
                           f"{b.capitalize()} bound of the Wilson 95% interval of "
                           f"{self.metric}.", self.within) for b in ("lower", "upper"))


@dataclass(frozen=True)
class Mean:
    """Mean of a score stored as a sum of thousandths and a count."""

    kpi: str
    key: str
    total: str
    n: str
    samples: str
    metric: str
    help: str
    stat: str = "mean"
    show: Show | None = None

    def summarize(self, f: Fields, out: Row) -> None:
        n = f.get(self.n, 0)
        out[self.key] = f.get(self.total, 0) / 1000.0 / n if n > 0 else None


@dataclass(frozen=True)
class NetScore:
    """``100 × (plus − minus) / n``: the net promoter score."""

    kpi: str
    key: str
    plus: str
    minus: str
    n: str
    samples: str
    metric: str
    help: str
    stat: str = "value"
    show: Show | None = None

    def summarize(self, f: Fields, out: Row) -> None:
        n, plus, minus = f.get(self.n, 0), f.get(self.plus, 0), f.get(self.minus, 0)
        out[self.key] = 100.0 * (plus - minus) / n if n else None
        out[f"{self.key}_margin"] = nps_margin(plus, minus, n)

    def extras(self) -> tuple[Extra, ...]:
        return (Extra(f"{self.key}_margin", f"{self.metric}_margin",
                      f"95% margin of error of {self.metric}, in points."),)


@dataclass(frozen=True)
class Live:
    """A live queue gauge ("now"), read from the live sets, not from buckets."""

    kpi: str
    key: str
    metric: str
    help: str
    show: Show | None = None
    stat: str = "value"
    # one series per at-risk horizon (label ``within``); the row holds each under
    # :func:`within_key` and the longest under ``key``
    within: bool = False
    # read from the agents' events (kpi.agents, kpi.staffing), not the live sets
    agents: bool = False
    samples: str | None = None  # the row key counting what the value rests on (alerts)
    samples_metric: str | None = None


def within_key(key: str, horizon: str) -> str:
    """The row key of a per-horizon gauge (``at_risk_within_5m``) or of a KPI kept within
    one repeat window (``repeat_ratio_within_1d``)."""
    return f"{key}_within_{horizon}"


Windowed = Count | Volume | Duration | Ratio | Mean | NetScore
Single = Ratio | Mean | NetScore  # one alertable statistic each
