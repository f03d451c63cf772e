"""What can be alerted on: KPI × statistic → the value in a window row (or a live gauge)
and the exported Prometheus series that carries the same number."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Statistic:
    row_key: str  # key in windows.kpi.summarize() output or a gauge row
    samples_key: str | None  # row key counting the samples behind the value
    metric: str  # exported series
    extra: tuple[tuple[str, str], ...] = ()  # extra label matchers (quantile)
    divide_by: str | None = None  # mean = metric / divide_by
    samples_metric: str | None = None


def _durations(prefix: str, metric: str, quantiles: tuple[str, ...]) -> dict[str, Statistic]:
    out = {
        f"p{_qkey(q)}": Statistic(
            row_key=f"{prefix}_p{_qkey(q)}_seconds", samples_key=f"{prefix}_count",
            metric=metric, extra=(("quantile", q),), samples_metric=f"{metric}_count")
        for q in quantiles
    }
    out["mean"] = Statistic(row_key=f"{prefix}_mean_seconds", samples_key=f"{prefix}_count",
                            metric=f"{metric}_sum", divide_by=f"{metric}_count",
                            samples_metric=f"{metric}_count")
    out["count"] = Statistic(row_key=f"{prefix}_count", samples_key=None,
                             metric=f"{metric}_count")
    return out


def _qkey(q: str) -> str:
    return f"{float(q) * 100:g}".replace(".", "_")


def _ratio(key: str, samples: str, metric: str, samples_metric: str) -> Statistic:
    return Statistic(row_key=key, samples_key=samples, metric=metric,
                     samples_metric=samples_metric)


WINDOWED: dict[str, dict[str, Statistic]] = {
    "first_response": _durations("frt", "support_first_response_seconds",
                                 ("0.5", "0.9", "0.95", "0.99")),
    "resolution": _durations("resolution", "support_resolution_seconds", ("0.5", "0.9", "0.99")),
    "response": _durations("response", "support_response_seconds", ("0.5", "0.9")),
    "frt_sla": {"ratio": _ratio("frt_sla_ratio", "frt_count", "support_first_response_sla_ratio",
                                "support_first_response_seconds_count")},
    "fcr": {"ratio": _ratio("fcr_ratio", "completed", "support_fcr_ratio",
                            "support_completed_conversations")},
    "escalation": {"ratio": _ratio("escalation_ratio", "completed", "support_escalation_ratio",
                                   "support_completed_conversations")},
    "csat": {"ratio": _ratio("csat_ratio", "csat_responses", "support_csat_ratio",
                             "support_csat_responses"),
             "mean": _ratio("csat_mean", "csat_responses", "support_csat_score_mean",
                            "support_csat_responses")},
    "nps": {"value": _ratio("nps_score", "nps_responses", "support_nps_score",
                            "support_nps_responses")},
    "ces": {"mean": _ratio("ces_mean", "ces_responses", "support_ces_score_mean",
                           "support_ces_responses")},
    "abandonment": {"ratio": _ratio("abandonment_ratio", "queued", "support_abandonment_ratio",
                                    "support_queued_conversations")},
    "handoff": {"ratio": _ratio("handoff_ratio", "chats_started", "support_chat_handoff_ratio",
                                "support_chat_conversations")},
}

LIVE: dict[str, dict[str, Statistic]] = {
    "open": {"value": Statistic("open", None, "support_open_conversations")},
    "waiting": {"value": Statistic("waiting", None, "support_waiting_conversations")},
    "oldest_waiting": {"value": Statistic("oldest_waiting_seconds", None,
                                          "support_oldest_waiting_seconds")},
    "breaching": {"value": Statistic("breaching", None, "support_sla_breaching_conversations")},
}


def lookup(kpi: str, statistic: str) -> tuple[Statistic, bool]:
    """(statistic, is_live) or KeyError with the known choices."""
    if kpi in WINDOWED:
        table, live = WINDOWED[kpi], False
    elif kpi in LIVE:
        table, live = LIVE[kpi], True
    else:
        raise KeyError(f"unknown kpi {kpi!r}; known: {', '.join([*WINDOWED, *LIVE])}")
    if statistic not in table:
        raise KeyError(f"kpi {kpi!r} has no statistic {statistic!r}; known: {', '.join(table)}")
    return table[statistic], live
