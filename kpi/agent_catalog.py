"""The agent and staffing entries of the KPI catalog (:mod:`kpi.catalog` lists them among
the others): kept apart only to keep the catalog file readable. Their values come from the
agents' events (:mod:`kpi.agents`, :mod:`kpi.staffing`), evaluated at read time.

Pure declarations: no Redis, no Faust, no configuration.
"""

from __future__ import annotations

from kpi.kinds import Count, Duration, Live, Ratio, Show, Windowed

HANDLE_TIME = Duration(
    "handle_time",
    "aht",
    "handle_time",
    "support_handle_time_seconds",
    "Handle time per contact (agent.contact_started to agent.wrapup_ended: talk and "
    "after-contact work), placed at its end; quantiles within 2% relative error.",
    (0.5, 0.9),
    shows=(("mean", Show("aht", "duration", label="Handle time (mean)", column="AHT",
                         when="agents")),),
    sparse=True,
)

AGENTS_WINDOWED: tuple[Windowed, ...] = (
    Count(
        "agent_productive_seconds",
        "ag_p",
        "support_agent_productive_seconds",
        "Agent time available, on contact or in after-contact work in the window, in "
        "seconds (occupancy's denominator).",
        sparse=True,
        divisor=1000,
    ),
    Ratio(
        "occupancy",
        "occupancy_ratio",
        "ag_h",
        "ag_p",
        "agent_productive_seconds",
        "support_agent_occupancy_ratio",
        "Occupancy: agent time on contact or in after-contact work / that time plus "
        "available (idle) time, in the window.",
        show=Show("occ", "percent", label="Occupancy", when="agents"),
    ),
    HANDLE_TIME,
)


def _gauge(kpi: str, metric: str, help_: str, show: Show | None = None) -> Live:
    return Live(kpi, kpi, metric, help_, show, agents=True)


AGENTS_LIVE: tuple[Live, ...] = (
    _gauge("agents_online", "support_agents_online", "Agents online now (not offline)."),
    _gauge("agents_available", "support_agents_available",
           "Agents available now: online, no contact open, ready for one.",
           Show("avail", "count", label="Agents available", tile=True, queue_column=True,
                column="Avail", better="higher", when="agents")),
    _gauge("agents_on_contact", "support_agents_on_contact",
           "Agents with a contact open now."),
    _gauge("agents_after_contact_work", "support_agents_after_contact_work",
           "Agents in after-contact work (wrap-up) now, no contact open."),
    _gauge("agents_away", "support_agents_away", "Agents online but away (not productive)."),
    _gauge("agents_staffed", "support_agents_staffed",
           "Agents staffed now: available, on contact or in after-contact work.",
           Show("staffed", "count", label="Staffed", queue_column=True, when="agents")),
    _gauge("agent_open_slots", "support_agent_open_slots",
           "Open chat slots now: over available agents, capacity minus open contacts."),
    Live("staffing_agents_needed", "staffing_agents_needed", "support_staffing_agents_needed",
         "Agents the queue needs for its service-level target (SUPPORT_STAFFING) by Erlang "
         "C, from the staffing window's arrival rate and handle time.",
         Show("needed", "count", label="Agents needed", queue_column=True, column="Need",
              when="agents"),
         agents=True, samples="staffing_handled_contacts",
         samples_metric="support_staffing_handled_contacts"),
    Live("staffing_gap", "staffing_gap_agents", "support_staffing_gap_agents",
         "Agents needed minus agents staffed now (positive: short of agents).",
         Show("gap", "count", label="Staffing gap", tile=True, queue_column=True,
              column="Gap", better="lower", when="agents"),
         agents=True, samples="staffing_handled_contacts",
         samples_metric="support_staffing_handled_contacts"),
    Live("staffing_traffic", "staffing_traffic_erlangs", "support_staffing_traffic_erlangs",
         "Traffic offered to the queue in the staffing window: arrival rate x handle time "
         "/ concurrency, in erlangs.", agents=True),
    Live("staffing_service_level_predicted", "staffing_service_level_predicted",
         "support_staffing_service_level_predicted",
         "Erlang C's service level with the agents staffed now, against the queue's target "
         "time.", agents=True, samples="staffing_handled_contacts",
         samples_metric="support_staffing_handled_contacts"),
    Live("staffing_handled_contacts", "staffing_handled_contacts",
         "support_staffing_handled_contacts",
         "Contacts whose handle time the staffing need rests on (staffing window).",
         agents=True),
)
