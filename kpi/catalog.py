"""The KPI catalog: every KPI declared once.

Each entry names the fields its arithmetic stores in the buckets (written by
:mod:`kpi.conversation`), the keys of the summary row it produces, the exported Prometheus
series and their help, the statistics an alert rule may use, and how the wall and the
``query`` table show it. The summary (:func:`kpi.rows.summarize`), the Prometheus
collector, the alert catalog, the wall tiles and the query columns all iterate this one
table, so adding a KPI is one entry here plus its arithmetic in :mod:`kpi.conversation`
(the kinds of entry are in :mod:`kpi.kinds`).

Pure declarations: no Redis, no Faust, no configuration.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from kpi.agent_catalog import AGENTS_LIVE, AGENTS_WINDOWED
from kpi.customer_catalog import CUSTOMERS
from kpi.kinds import (
    Count,
    Duration,
    Fields,
    Live,
    Mean,
    NetScore,
    Ratio,
    Row,
    Show,
    Statistic,
    Volume,
    Windowed,
)
from kpi.policies import TARGETS

FRT = Duration(
    "first_response",
    "frt",
    "frt",
    "support_first_response_seconds",
    "First response time (created/started to first human agent reply), sliding window; "
    "quantiles within 2% relative error.",
    (0.5, 0.9, 0.95, 0.99),
    shows=(
        ("count", Show("frt_n", "count")),
        ("mean", Show("frt_mean", "duration")),
        ("p50", Show("frt_p50", "duration")),
        (
            "p90",
            Show("frt_p90", "duration", label="First response p90", tile=True, queue_column=True,
                 column="FRT p90",
                 better="lower"),
        ),
    ),
)
RESOLUTION = Duration(
    "resolution",
    "res",
    "resolution",
    "support_resolution_seconds",
    "Resolution time (created to first solved/ended), sliding window.",
    (0.5, 0.9, 0.99),
    shows=(("p50", Show("res_p50", "duration")),),
)
RESPONSE = Duration(
    "response",
    "resp",
    "response",
    "support_response_seconds",
    "Response time: each human reply to a pending customer message, from the oldest "
    "unanswered customer message.",
    (0.5, 0.9),
    shows=(("p90", Show("resp_p90", "duration")),),
)
BOT_TIME = Duration(
    "bot_time",
    "bot",
    "bot_time",
    "support_bot_time_seconds",
    "Time a chat spent with the bot before its first handoff to a human.",
    (0.5, 0.9),
)
FRT_AFTER_HANDOFF = Duration(
    "frt_after_handoff",
    "frah",
    "frt_after_handoff",
    "support_first_response_after_handoff_seconds",
    "Time from a chat's first handoff to the first human reply.",
    (0.5, 0.9),
)
# Business-time twins (kpi.calendar): written only for queues with a calendar.
FRT_BUSINESS = Duration(
    "first_response_business",
    "frtb",
    "frt_business",
    "support_first_response_business_seconds",
    "First response time in business hours (the queue's calendar, SUPPORT_CALENDARS); "
    "only for queues with a calendar.",
    (0.5, 0.9),
    shows=(("p90", Show("frtb_p90", "duration", label="First response p90 (business "
                        "hours)", queue_column=True, column="FRT p90 (business hours)",
                        when="calendars")),),
    sparse=True,
)
RESOLUTION_BUSINESS = Duration(
    "resolution_business",
    "resb",
    "resolution_business",
    "support_resolution_business_seconds",
    "Resolution time in business hours (created to first solved/ended, the queue's "
    "calendar); only for queues with a calendar.",
    (0.5, 0.9),
    shows=(("p50", Show("resb_p50", "duration", label="Resolution p50 (business hours)")),),
    sparse=True,
)
RESPONSE_BUSINESS = Duration(
    "response_business",
    "respb",
    "response_business",
    "support_response_business_seconds",
    "Response time in business hours (the queue's calendar); only for queues with a "
    "calendar.",
    (0.5, 0.9),
    sparse=True,
)

_TARGET_HELP = {
    "first_reply": "first reply (created to the first human reply)",
    "next_reply": "next reply (each later customer message to the human reply answering "
                  "it; paused while pending on the customer)",
    "resolution": "resolution (created to solved, less the time pending on the customer "
                  "or solved before a reopen)",
}


# the wall shows the first-reply achievement (a tile and a queue column) where SLA
# policies are configured; the other targets are in query and on Grafana
_WALL = {"first_reply": {"tile": True, "queue_column": True, "column": "SLA 1st reply",
                         "when": "policies"}}


def _policy_target(name: str) -> tuple[Windowed, ...]:
    """One SLA policy target (SUPPORT_SLA_POLICIES): met, breached and achievement."""
    prefix = dict(TARGETS)[name]
    label = name.replace("_", " ")
    what = _TARGET_HELP[name]
    return (
        Count(f"sla_{name}_samples", f"{prefix}_n", f"support_sla_{name}_samples",
              f"SLA policy targets for {what} fulfilled in the window, met or breached."),
        Count(f"sla_{name}_met", f"{prefix}_ok", f"support_sla_{name}_met",
              f"SLA policy targets for {what} met, placed at the fulfilling event."),
        Count(f"sla_{name}_breached", f"{prefix}_bad", f"support_sla_{name}_breached",
              f"SLA policy targets for {what} breached, placed at the fulfilling event."),
        Ratio(f"sla_{name}", f"sla_{name}_ratio", f"{prefix}_ok", f"{prefix}_n",
              f"sla_{name}_samples", f"support_sla_{name}_achievement_ratio",
              f"SLA achievement for {what}: met / (met + breached), Zendesk-style.",
              show=Show(f"sla_{name}", "percent", label=f"SLA {label}", better="higher",
                        **_WALL.get(name, {})),  # type: ignore[arg-type]
              interval=True),
    )


# In declaration order: this is the order of the query table's columns.
WINDOWED: tuple[Windowed, ...] = (
    Volume("created", Show("created", "count", label="Created", queue_column=True)),
    FRT,
    Count(
        "sla_samples",
        "sla_n",
        "support_service_level_samples",
        "Conversations the service level counted in the window (its denominator, by "
        "SUPPORT_SERVICE_LEVEL).",
    ),
    Ratio(
        "frt_sla",
        "frt_sla_ratio",
        "sla_ok",
        "sla_n",
        "sla_samples",
        "support_first_response_sla_ratio",
        "Service level: share within the first-response target, by SUPPORT_SERVICE_LEVEL "
        "(first_response: first responses; amazon_connect: left the queue, answered or "
        "abandoned; talkdesk: answered, of answered and abandoned).",
        show=Show("frt_sla", "percent", label="First response in SLA", tile=True,
                  better="higher"),
        interval=True,
    ),
    Count(
        "completed",
        "done_n",
        "support_completed_conversations",
        "Conversations solved or ended (first completion) in the window.",
        Show("done", "count"),
    ),
    RESOLUTION,
    Count(
        "fcr_eligible",
        "fcr_d",
        "support_fcr_eligible_conversations",
        "Completed conversations a human replied to (FCR's denominator: abandoned and "
        "bot-only conversations are left out).",
    ),
    Count(
        "fcr_resolved",
        "fcr_n",
        "support_fcr_conversations",
        "Completed conversations resolved at first contact (by SUPPORT_FCR_DEFINITION), "
        "in the window.",
    ),
    Ratio(
        "fcr",
        "fcr_ratio",
        "fcr_n",
        "fcr_d",
        "fcr_eligible",
        "support_fcr_ratio",
        "First contact resolution: FCR conversations / completed conversations a human "
        "replied to.",
        show=Show("fcr", "percent", label="First contact resolution", tile=True, queue_column=True,
                  column="FCR",
                  better="higher"),
        interval=True,
    ),
    Count(
        "escalated_completed",
        "esc_n",
        "support_escalated_conversations",
        "Completed conversations that were escalated or transferred (and handed off from "
        "the bot, with SUPPORT_ESCALATION_INCLUDES_HANDOFFS).",
    ),
    Ratio(
        "escalation",
        "escalation_ratio",
        "esc_n",
        "done_n",
        "completed",
        "support_escalation_ratio",
        "Escalated completed conversations / completed conversations (bot handoffs are "
        "support_chat_handoff_ratio unless SUPPORT_ESCALATION_INCLUDES_HANDOFFS).",
        show=Show(
            "esc", "percent", label="Escalation rate", tile=True, queue_column=True,
            column="Escalations",
            id="escalation", better="lower"
        ),
        interval=True,
    ),
    Count(
        "reopened_completed",
        "reopen_n",
        "support_reopened_conversations",
        "Completed conversations reopened within SUPPORT_REOPEN_WINDOW of their first "
        "completion.",
    ),
    Ratio(
        "reopen",
        "reopen_ratio",
        "reopen_n",
        "done_n",
        "completed",
        "support_reopen_ratio",
        "Reopen rate: completed conversations reopened / completed conversations.",
        show=Show("reopen", "percent"),
    ),
    *CUSTOMERS,
    *AGENTS_WINDOWED,
    Count(
        "csat_responses",
        "csat_n",
        "support_csat_responses",
        "CSAT survey responses in the window.",
        Show("csat_n", "count"),
    ),
    Count(
        "csat_satisfied",
        "csat_pos",
        "support_csat_satisfied_responses",
        "CSAT responses at or above the satisfied score.",
    ),
    Ratio(
        "csat",
        "csat_ratio",
        "csat_pos",
        "csat_n",
        "csat_responses",
        "support_csat_ratio",
        "CSAT: satisfied responses / responses.",
        show=Show("csat", "percent", label="CSAT", tile=True, queue_column=True, better="higher"),
        interval=True,
    ),
    Mean(
        "csat",
        "csat_mean",
        "csat_sm",
        "csat_n",
        "csat_responses",
        "support_csat_score_mean",
        "Mean CSAT score in the window.",
        show=Show("csat_avg", "score"),
    ),
    NetScore(
        "nps",
        "nps_score",
        "nps_pro",
        "nps_det",
        "nps_n",
        "nps_responses",
        "support_nps_score",
        "NPS: % promoters - % detractors (-100..100).",
        show=Show("nps", "score"),
    ),
    Count("nps_responses", "nps_n", "support_nps_responses", "NPS survey responses in the window."),
    Mean(
        "ces",
        "ces_mean",
        "ces_sm",
        "ces_n",
        "ces_responses",
        "support_ces_score_mean",
        "Mean customer effort score in the window.",
    ),
    Count("ces_responses", "ces_n", "support_ces_responses", "CES survey responses in the window."),
    Volume("solved"),
    Volume("reopened", Show("reopened", "count")),
    Volume("escalated"),
    RESPONSE,
    Count(
        "queued",
        "queue_in",
        "support_queued_conversations",
        "Conversations that entered the human queue in the window (tickets at creation, "
        "chats at handoff).",
    ),
    Count(
        "abandoned",
        "abandoned",
        "support_abandoned_conversations",
        "Conversations that ended while still waiting for a first human reply.",
    ),
    Ratio(
        "abandonment",
        "abandonment_ratio",
        "abandoned",
        "queue_in",
        "queued",
        "support_abandonment_ratio",
        "Abandoned conversations / conversations that entered the human queue.",
        show=Show("aband", "percent"),
        interval=True,
    ),
    Count("chats_started", "chat_n", "support_chat_conversations", "Chats started in the window."),
    Count(
        "handoffs",
        "handoff_n",
        "support_chat_handoffs",
        "Chats handed off from the bot to a human.",
    ),
    Ratio(
        "handoff",
        "handoff_ratio",
        "handoff_n",
        "chat_n",
        "chats_started",
        "support_chat_handoff_ratio",
        "Bot-to-human handoffs / chats started.",
        show=Show("handoff", "percent"),
    ),
    Count(
        "chats_completed",
        "chat_done",
        "support_chat_completed_conversations",
        "Chats ended (first end) in the window.",
    ),
    Count(
        "bot_contained",
        "bot_contained",
        "support_bot_contained_conversations",
        "Chats that ended with the bot alone: no handoff, no human reply.",
    ),
    Ratio(
        "bot_containment",
        "bot_containment_ratio",
        "bot_contained",
        "chat_done",
        "chats_completed",
        "support_bot_containment_ratio",
        "Bot containment: chats ended without a handoff or a human reply / chats ended.",
        show=Show("contained", "percent"),
    ),
    BOT_TIME,
    FRT_AFTER_HANDOFF,
    FRT_BUSINESS,
    RESOLUTION_BUSINESS,
    RESPONSE_BUSINESS,
    *(m for name, _ in TARGETS for m in _policy_target(name)),
)

LIVE: tuple[Live, ...] = (
    Live(
        "open",
        "open",
        "support_open_conversations",
        "Open conversations now.",
        Show("open", "count"),
    ),
    Live(
        "waiting",
        "waiting",
        "support_waiting_conversations",
        "Open conversations waiting for a first human response now.",
        Show("waiting", "count", label="Waiting now", tile=True, queue_column=True,
             better="lower"),
    ),
    Live(
        "oldest_waiting",
        "oldest_waiting_seconds",
        "support_oldest_waiting_seconds",
        "Age of the oldest conversation waiting for a first human response.",
        Show(
            "oldest_wait",
            "duration",
            label="Oldest waiting",
            tile=True,
            queue_column=True,
            id="oldest_waiting",
            better="lower",
        ),
    ),
    Live(
        "oldest_waiting_business",
        "oldest_waiting_business_seconds",
        "support_oldest_waiting_business_seconds",
        "Business-hours age of the oldest conversation waiting for a first human response; "
        "only for queues with a calendar (SUPPORT_CALENDARS).",
        Show("oldest_wait_bh", "duration", label="Oldest waiting (business hours)",
             when="calendars"),
    ),
    Live(
        "breaching",
        "breaching",
        "support_sla_breaching_conversations",
        "Conversations already past the deadline of a running SLA target: the "
        "first-response target of waiting ones, or their SLA policy's earliest running "
        "target (SUPPORT_SLA_POLICIES).",
        Show("breaching", "count", label="Breaching SLA", tile=True, better="lower"),
    ),
    Live(
        "at_risk",
        "at_risk",
        "support_sla_at_risk_conversations",
        "Predicted breaches: conversations whose running SLA target (as for breaching) "
        "falls due within the horizon `within` (SUPPORT_SLA_AT_RISK) unless answered.",
        Show("at_risk", "count", label="At risk", tile=True, queue_column=True,
             better="lower"),
        within=True,
    ),
    *(Live(f"sla_running_{name}", f"sla_running_{name}", f"support_sla_{name}_active",
           f"Open conversations whose SLA policy target for {_TARGET_HELP[name]} is "
           "running now (not met yet, not paused).") for name, _ in TARGETS),
    *AGENTS_LIVE,
)

VOLUME_EXPORT = (
    "support_window_events",
    "Events in the window by kind (created, solved, "
    "reopened, escalated incl. handoffs and transfers).",
)


def summarize(fields: Fields) -> Row:
    """Every windowed KPI value of one dimension combination; ``None`` means absent."""
    out: Row = {}
    for m in WINDOWED:
        m.summarize(fields, out)
    return out


def _metric_of_key() -> dict[str, str]:
    """Summary key → the exported series carrying it (for samples metrics)."""
    out = {m.key: m.metric for m in WINDOWED if isinstance(m, Count | Ratio | Mean | NetScore)}
    out |= {f"{d.key}_count": f"{d.metric}_count" for d in WINDOWED if isinstance(d, Duration)}
    return out


def windowed_statistics() -> dict[str, dict[str, Statistic]]:
    """KPI → statistic → :class:`Statistic`, for alert rules over windows."""
    metric_of = _metric_of_key()
    out: dict[str, dict[str, Statistic]] = {}
    for m in WINDOWED:
        if isinstance(m, Duration):
            out.setdefault(m.kpi, {}).update(m.statistics())
        elif isinstance(m, Ratio | Mean | NetScore):
            out.setdefault(m.kpi, {})[m.stat] = Statistic(
                m.key, m.samples, m.metric, samples_metric=metric_of[m.samples]
            )
    return out


def live_statistics() -> dict[str, dict[str, Statistic]]:
    """KPI → statistic → :class:`Statistic`, for alert rules over the live gauges."""
    return {g.kpi: {g.stat: Statistic(g.key, g.samples, g.metric,
                                      samples_metric=g.samples_metric)} for g in LIVE}


@dataclass(frozen=True)
class Shown:
    """One statistic as people see it (a query column, maybe a wall tile)."""

    kpi: str
    statistic: str
    key: str
    show: Show
    live: bool = False
    samples_key: str | None = None  # the row key counting the samples behind the value


def _shown_windowed() -> Iterator[Shown]:
    for m in WINDOWED:
        if isinstance(m, Duration):
            stats = m.statistics()
            for stat, key, show in m.shown():
                yield Shown(m.kpi, stat, key, show, samples_key=stats[stat].samples_key)
        elif m.show is not None:
            if isinstance(m, Count | Volume):
                yield Shown("volume" if isinstance(m, Volume) else m.key, "count", m.key, m.show)
            else:
                yield Shown(m.kpi, m.stat, m.key, m.show, samples_key=m.samples)


COLUMNS: tuple[Shown, ...] = tuple(_shown_windowed())
# live row keys exported once per at-risk horizon (the row's own key: the longest)
WITHIN_KEYS = frozenset(g.key for g in LIVE if g.within)
LIVE_COLUMNS: tuple[Shown, ...] = tuple(
    Shown(g.kpi, g.stat, g.key, g.show, live=True) for g in LIVE if g.show is not None
)
# The wall's floor tiles, then its queue-table columns, in catalog order.
TILES: tuple[Shown, ...] = tuple(s for s in (*COLUMNS, *LIVE_COLUMNS) if s.show.tile)
QUEUE_COLUMNS: tuple[Shown, ...] = tuple(
    s for s in (*COLUMNS, *LIVE_COLUMNS) if s.show.queue_column
)


# Series one dimension combination exports per window, and per live-gauge row: what the
# series budget (SUPPORT_MAX_SERIES) divides by.
def _series(entries: tuple[Windowed, ...], repeat_windows: int = 1) -> int:
    """(``repeat_windows``: how many SUPPORT_REPEAT_WINDOW lists; a ``within`` entry and
    its bounds export one series per window)."""
    def each(m: Windowed) -> int:
        return repeat_windows if getattr(m, "within", False) else 1

    return sum(len(m.quantiles) + 2 if isinstance(m, Duration) else each(m)
               for m in entries) + sum(each(m) * len(m.extras()) for m in entries
                                       if isinstance(m, Ratio | NetScore))


SERIES_PER_ROW = _series(tuple(m for m in WINDOWED if m not in CUSTOMERS))


def customer_series_per_row(repeat_windows: int) -> int:
    """What the customer KPIs add to a row (counted only when they are on), with that many
    repeat windows."""
    return _series(CUSTOMERS, repeat_windows)


def live_series_per_row(horizons: int) -> int:
    """Series of one live-gauge row: one per gauge, one per horizon for the ``within`` ones."""
    return sum(horizons if g.within else 1 for g in LIVE)
