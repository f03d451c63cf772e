"""Window and KPI parameters, as plain values (the settings object builds them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from kpi import catalog
from kpi.calendar import BusinessCalendar
from kpi.calendars import NONE, Calendars
from kpi.durations import duration_name, parse_duration_ms
from kpi.errors import ConfigError
from kpi.events import HANDOFF, TIER_ESCALATION_TYPES
from kpi.policies import NO_POLICIES, SlaPolicies
from kpi.staffing import NO_STAFFING, Staffing


@dataclass(frozen=True)
class WindowSpec:
    """A sliding window of ``length_ms``, stored in buckets of ``length_ms / buckets``.

    Evaluated at ``t`` it counts the event times in ``[t − length, t)``: its own buckets in
    the middle, its edges refined with finer bucket sizes (:mod:`kpi.span`), so a read
    touches about ``buckets`` keys whatever the length, plus a few dozen at the edges.
    """

    name: str
    length_ms: int
    buckets: int

    @property
    def bucket_ms(self) -> int:
        return self.length_ms // self.buckets


ALL_DIMENSIONS = ("channel", "queue", "team", "priority", "agent")

# Selectable definitions (docs/kpis.md names each one's source); kpi.conversation implements
# them, devtools.oracle re-implements them independently.
# (each per-conversation definition is a rule in kpi.fcr; "customer" is the customer path's,
# kpi.customers: no repeat contact of the customer within SUPPORT_REPEAT_WINDOW)
CONVERSATION_FCR_DEFINITIONS = ("project", "zendesk_one_touch", "intercom_one_teammate",
                                "freshservice")
FCR_DEFINITIONS = (*CONVERSATION_FCR_DEFINITIONS, "customer")
SERVICE_LEVEL_DEFINITIONS = ("first_response", "amazon_connect", "talkdesk")

DEFAULT_DIMENSION_SETS: tuple[tuple[str, ...], ...] = (
    (),
    ("queue",),
    ("channel",),
    ("queue", "channel"),
)


@dataclass(frozen=True)
class KpiConfig:
    """Everything the pure KPI arithmetic needs to know."""

    windows: tuple[WindowSpec, ...]
    dimension_sets: tuple[tuple[str, ...], ...] = DEFAULT_DIMENSION_SETS
    frt_sla_ms: int = 3_600_000
    # horizons of the predicted-breach gauges, shortest first: a conversation is "at risk
    # within h" when its running SLA target falls due within h unless answered; the longest
    # is the wall's "at risk" tile
    at_risk_ms: tuple[int, ...] = (300_000, 900_000)
    reopen_window_ms: int = 7 * 86_400_000
    count_bot_replies: bool = False
    csat_satisfied_min: float = 4.0
    allowed_lateness_ms: int = 3_600_000
    conversation_ttl_ms: int = 8 * 86_400_000
    bucket_ttl_margin_ms: int = 600_000
    # (priority or "*", channel or "*") -> first-response target; most specific wins,
    # then frt_sla_ms.
    frt_sla_targets: tuple[tuple[tuple[str, str], int], ...] = ()
    agent_allowlist: frozenset[str] = frozenset()
    max_dimension_values: int = 50
    # events kept per conversation: past it the older messages fold into a summary
    # (kpi.fold.fold); 0 keeps every event
    max_conversation_events: int = 200
    gauge_dimension_sets: tuple[tuple[str, ...], ...] = DEFAULT_DIMENSION_SETS
    fcr_definition: str = "project"
    service_level_definition: str = "first_response"
    escalation_includes_handoffs: bool = False
    # talkdesk service level: a conversation abandoned within this is left out of it
    short_abandon_ms: int = 10_000
    # the customer path (kpi.customers): on when a customer-hash key is configured; a
    # conversation completed counts as repeated when its customer starts another one
    # within repeat_window_ms (SUPPORT_REPEAT_WINDOW, its longest window: customer FCR,
    # channel switching and contacts per customer use it); the repeat contact rate is
    # also kept within each shorter window listed (repeat_also_ms, shortest first)
    customer_kpis: bool = False
    repeat_window_ms: int = 7 * 86_400_000
    repeat_also_ms: tuple[int, ...] = ()
    # business calendars per queue (SUPPORT_CALENDARS); none: calendar time only
    calendars: Calendars = NONE
    # SLA policies (SUPPORT_SLA_POLICIES): first reply, next reply, resolution targets
    policies: SlaPolicies = NO_POLICIES
    # the agents path (schema v1.3 agent events, kpi.agents): on when an agents topic is
    # configured (SUPPORT_TOPIC_AGENTS); the wall shows its tiles only then
    agent_kpis: bool = False
    # the staffing need (SUPPORT_STAFFING, SUPPORT_STAFFING_WINDOW, kpi.staffing)
    staffing: Staffing = NO_STAFFING
    # what kpi.conversation looks up by a conversation's labels (targets, calendars, policy),
    # memoized per distinct labels; not part of the configuration's value
    dims_cache: dict[tuple[str, ...], Any] = field(
        default_factory=dict, init=False, compare=False, repr=False, hash=False)

    @property
    def customer_ttl_ms(self) -> int:
        """How long a customer's contacts are kept after their last change: a repeat can
        arrive up to the repeat window after a completion, and the customer path may lag
        the main path by up to the allowed lateness."""
        return self.repeat_window_ms + self.allowed_lateness_ms + self.bucket_ttl_margin_ms

    @property
    def capped_dimensions(self) -> list[str]:
        """The dimensions whose values are capped (the agent's has an allow-list)."""
        dims: list[str] = []
        for ds in (*self.dimension_sets, *self.gauge_dimension_sets):
            for d in ds:
                if d != "agent" and d not in dims:
                    dims.append(d)
        return dims

    @property
    def stored_values_cap(self) -> int:
        """Values of a dimension stored under their own label, store-wide (first come):
        the guard against a label flood. The read side shows the ``max_dimension_values``
        earliest of them (:func:`kpi.dims.admitted_values`); ten times as many are kept so
        that the choice does not depend on which partition stored a value first."""
        return 10 * self.max_dimension_values

    @property
    def live_horizon_ms(self) -> int:
        """How far back a wait or a due time can lie and still be live work: the
        conversation TTL. A live conversation idle that long has expired; one whose open
        state only history left (a backfill, a replay of last year) is not live either,
        on the first live event or ever after (docs/alerts.md, "History never pages")."""
        return self.conversation_ttl_ms

    def __post_init__(self) -> None:
        if self.fcr_definition not in FCR_DEFINITIONS:
            raise ConfigError(f"unknown FCR definition {self.fcr_definition!r}; "
                              f"one of {', '.join(FCR_DEFINITIONS)}")
        if self.service_level_definition not in SERVICE_LEVEL_DEFINITIONS:
            raise ConfigError(f"unknown service-level definition "
                              f"{self.service_level_definition!r}; "
                              f"one of {', '.join(SERVICE_LEVEL_DEFINITIONS)}")
        if not self.windows:
            raise ConfigError("at least one window is required")
        if self.fcr_definition == "customer" and not self.customer_kpis:
            raise ConfigError("the customer FCR definition needs the customer KPIs on "
                              "(SUPPORT_CUSTOMER_KPIS=true with SUPPORT_CUSTOMER_SECRET)")
        if self.repeat_window_ms <= 0:
            raise ConfigError("the repeat window must be positive")
        also = list(self.repeat_also_ms)
        if also != sorted(set(also)) or (also and (also[0] <= 0
                                                   or also[-1] >= self.repeat_window_ms)):
            raise ConfigError("the shorter repeat windows must be positive, distinct, "
                              "shortest first and shorter than the repeat window")
        if not self.at_risk_ms or list(self.at_risk_ms) != sorted(set(self.at_risk_ms)) \
                or self.at_risk_ms[0] <= 0:
            raise ConfigError("at-risk horizons must be positive, distinct and shortest first")
        for w in self.windows:
            if w.buckets <= 0 or w.length_ms % w.buckets:
                raise ConfigError(
                    f"window {w.name}: {w.length_ms} ms is not divisible into {w.buckets} buckets"
                )
        reserved = sorted(self.agent_allowlist & {"all", "other", "unknown", "none"})
        if reserved:
            raise ConfigError(f"agent ids {reserved} in the allow-list are reserved label "
                              "values (all, other, unknown, none); rename them")
        for dims in (*self.dimension_sets, *self.gauge_dimension_sets):
            for d in dims:
                if d not in ALL_DIMENSIONS:
                    raise ConfigError(f"unknown dimension {d!r} in dimension sets")
                if d == "agent" and not self.agent_allowlist:
                    raise ConfigError("the agent dimension needs an allow-list of agent ids")

    @property
    def repeat_windows(self) -> tuple[tuple[str, int], ...]:
        """(``within`` label, ms) of each repeat window (SUPPORT_REPEAT_WINDOW), shortest
        first: the repeat contact rate is kept within each."""
        return tuple((duration_name(ms), ms) for ms in (*self.repeat_also_ms,
                                                        self.repeat_window_ms))

    @property
    def repeat_shorter(self) -> tuple[tuple[str, int], ...]:
        """The repeat windows but the longest: each keeps its own repeat counts (stored
        ``rep_n:<w>``); the longest's are the plain ones (``rep_n``)."""
        return self.repeat_windows[:-1]

    @property
    def horizons(self) -> tuple[tuple[str, int], ...]:
        """(``within`` label, ms) of each at-risk horizon, shortest first."""
        return tuple((duration_name(ms), ms) for ms in self.at_risk_ms)

    # Quantiles are declared with their KPI in the catalog; these name them for the oracle.
    @property
    def quantiles_frt(self) -> tuple[float, ...]:
        return catalog.FRT.quantiles

    @property
    def quantiles_resolution(self) -> tuple[float, ...]:
        return catalog.RESOLUTION.quantiles

    @property
    def quantiles_other(self) -> tuple[float, ...]:
        return catalog.RESPONSE.quantiles

    def frt_target_ms(self, priority: str, channel: str) -> int:
        """First-response target of a conversation: (priority, channel) > (priority, *) >
        (*, channel) > default."""
        table = self._frt_table
        for key in ((priority, channel), (priority, "*"), ("*", channel), ("*", "*")):
            if key in table:
                return table[key]
        return self.frt_sla_ms

    def calendar_for(self, queue: str) -> BusinessCalendar | None:
        return self.calendars.for_queue(queue)

    def sla_calendar(self, queue: str) -> BusinessCalendar | None:
        """The calendar a queue's SLA targets count in (None: calendar time)."""
        return self.calendars.for_queue(queue) if self.calendars.sla_business else None

    @cached_property  # read per event: computed once per config
    def escalation_types(self) -> frozenset[str]:
        """Event types that make a conversation escalated (the escalation rate)."""
        if self.escalation_includes_handoffs:
            return TIER_ESCALATION_TYPES | {HANDOFF}
        return TIER_ESCALATION_TYPES

    @cached_property  # read per event: computed once per config
    def storage_dimensions(self) -> tuple[str, ...]:
        """The one dimension combination stored in buckets: every configured set is a
        roll-up of it (all bucket fields are additive), summed on read."""
        return dimensions_of(self.dimension_sets)

    @cached_property  # read per event: computed once per config
    def gauge_dimensions(self) -> tuple[str, ...]:
        return dimensions_of(self.gauge_dimension_sets)

    @cached_property  # read per event: computed once per config
    def resolutions_ms(self) -> tuple[int, ...]:
        """Distinct bucket sizes, one set of bucket keys per size."""
        return tuple(sorted({w.bucket_ms for w in self.windows}))

    @property
    def staffing_window(self) -> WindowSpec:
        """The window the staffing need reads: the one named (SUPPORT_STAFFING_WINDOW, which
        the settings check when it is set), else the shortest of at least 15 minutes (an
        Erlang C interval), else the longest."""
        for w in self.windows:
            if w.name == self.staffing.window:
                return w
        ordered = sorted(self.windows, key=lambda w: w.length_ms)
        return next((w for w in ordered if w.length_ms >= 900_000), ordered[-1])

    def window(self, name: str) -> WindowSpec:
        for w in self.windows:
            if w.name == name:
                return w
        raise ConfigError(f"unknown window {name!r}; configured: {[w.name for w in self.windows]}")

    def bucket_ttl_ms(self, bucket_ms: int) -> int:
        return self._bucket_ttls[bucket_ms]

    def retire_after_ms(self, bucket_ms: int) -> int | None:
        """How long after its start (event time) no window reads a bucket of this size any
        more: the store retires it once a partition's clock passes that (windows.plan), so
        a backfill does not keep a whole day of 5-s and 1-min buckets for their TTL. None
        for the coarsest size, which keeps its TTL from the write: a replayed past stays
        readable with ``query --at`` at that size for the retention."""
        return self._retire_after.get(bucket_ms)

    @cached_property
    def _retire_after(self) -> dict[int, int]:
        coarsest = max(self.resolutions_ms)
        return {res: ttl - self.bucket_ttl_margin_ms
                for res, ttl in self._bucket_ttls.items() if res != coarsest}

    @cached_property
    def _bucket_ttls(self) -> dict[int, int]:
        longest: dict[int, int] = {}
        for w in self.windows:
            longest[w.bucket_ms] = max(longest.get(w.bucket_ms, 0), w.length_ms)
        return {res: n + res + self.bucket_ttl_margin_ms for res, n in longest.items()}

    @cached_property
    def _frt_table(self) -> dict[tuple[str, str], int]:
        return dict(self.frt_sla_targets)


def dimensions_of(sets: tuple[tuple[str, ...], ...]) -> tuple[str, ...]:
    """Every dimension used by the sets, in first-use order (the export's label order)."""
    out: list[str] = []
    for ds in sets:
        for d in ds:
            if d not in out:
                out.append(d)
    return tuple(out)


def windows_from_text(text: str, buckets: int = 60) -> tuple[WindowSpec, ...]:
    """``"5m,15m,1h,24h"`` → window specs of at most ``buckets`` buckets each, sharing
    bucket sizes where they can (:func:`share_resolutions`)."""
    specs = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        specs.append(WindowSpec(name=part, length_ms=parse_duration_ms(part), buckets=buckets))
    return share_resolutions(tuple(specs), max(1, buckets // 4))


def share_resolutions(specs: tuple[WindowSpec, ...], min_buckets: int
                      ) -> tuple[WindowSpec, ...]:
    """Every event is written into a bucket of every distinct bucket size, so a size only
    one window reads costs a write per event for that window alone. Such a window reads the
    coarsest size another window keeps instead, if that divides its length into at least
    ``min_buckets`` buckets; its edges are still refined with the finer sizes
    (:mod:`kpi.span`), so it stays exact to the finest, which is never given up (by
    default the 15m window reads the 1h window's minutes: 15 buckets, and a quarter fewer
    writes per event). A window with no such size keeps its own."""
    out = list(specs)
    finest = min((w.bucket_ms for w in specs), default=0)
    for i, w in sorted(enumerate(specs), key=lambda iw: iw[1].length_ms):
        others = {x.bucket_ms for j, x in enumerate(out) if j != i}
        if w.bucket_ms == finest or w.bucket_ms in others:
            continue
        shared = [r for r in others if r > w.bucket_ms and w.length_ms % r == 0
                  and w.length_ms // r >= min_buckets]
        if shared:
            out[i] = WindowSpec(w.name, w.length_ms, w.length_ms // max(shared))
    return tuple(out)


def horizons_from_text(text: str) -> tuple[int, ...]:
    """``"15m,5m"`` → ``(300000, 900000)``: at-risk horizons, shortest first."""
    out = sorted({parse_duration_ms(p) for p in text.split(",") if p.strip()})
    if not out or out[0] <= 0:
        raise ConfigError(f"expected one or more positive durations, e.g. 5m,15m; got {text!r}")
    return tuple(out)


def dimension_sets_from_text(text: str) -> tuple[tuple[str, ...], ...]:
    """``"all,queue,channel,queue*channel"`` → dimension sets."""
    out: list[tuple[str, ...]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        out.append(() if part == "all" else tuple(p.strip() for p in part.split("*")))
    return tuple(out)


def sla_targets_from_text(text: str) -> tuple[tuple[tuple[str, str], int], ...]:
    """``"urgent=15m, chat=2m, high:email=2h, *=4h"`` → targets.

    A key is ``priority:channel``, ``priority`` or ``channel`` alone (matched against
    both; priorities are low/normal/high/urgent, anything else is taken as a channel),
    or ``*``.
    """
    priorities = {"low", "normal", "high", "urgent"}
    out: list[tuple[tuple[str, str], int]] = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            raise ConfigError(f"SLA target {part!r} is not key=duration")
        key, _, dur = part.partition("=")
        key = key.strip()
        if ":" in key:
            pr, _, ch = key.partition(":")
            k = (pr.strip() or "*", ch.strip() or "*")
        elif key == "*":
            k = ("*", "*")
        elif key in priorities:
            k = (key, "*")
        else:
            k = ("*", key)
        out.append((k, parse_duration_ms(dur.strip())))
    return tuple(out)
