"""The customer KPIs' entries of the KPI catalog (:mod:`kpi.catalog` lists them among the
others, in the query table's order): kept apart only to keep the catalog file readable.

Pure declarations: no Redis, no Faust, no configuration.
"""

from __future__ import annotations

from kpi.kinds import Count, Mean, Ratio, Show, Windowed

# The customer's view (kpi.customers): written by the customer path, only with
# SUPPORT_CUSTOMER_KPIS on; without it every one is absent (sparse counts).
CUSTOMERS: tuple[Windowed, ...] = (
    Count(
        "customer_completed",
        "rep_d",
        "support_customer_completed_conversations",
        "Completed conversations (first completion) of identified customers (with a "
        "customer_id), in the window: the repeat contact rate's denominator.",
        sparse=True,
    ),
    Count(
        "repeat_contacts",
        "rep_n",
        "support_repeat_contact_conversations",
        "Completed conversations of identified customers whose customer started another "
        "conversation within the repeat window `within` (each of SUPPORT_REPEAT_WINDOW) "
        "after the completion, placed at the completion.",
        sparse=True,
        within=True,
    ),
    Ratio(
        "repeat_contact",
        "repeat_ratio",
        "rep_n",
        "rep_d",
        "customer_completed",
        "support_repeat_contact_ratio",
        "Repeat contact rate: completed conversations followed by another conversation of "
        "the same customer within the repeat window `within` (each of "
        "SUPPORT_REPEAT_WINDOW) / completed conversations of identified customers (on any "
        "channel; a completion counts as not repeated until the repeat arrives, like a "
        "reopen retracts FCR).",
        show=Show("repeat", "percent", label="Repeat contacts", tile=True,
                  queue_column=True, column="Repeat", better="lower", when="customers"),
        interval=True,
        within=True,
    ),
    Count(
        "customer_fcr_eligible",
        "cfcr_d",
        "support_customer_fcr_eligible_conversations",
        "Completed conversations of identified customers a human replied to (customer "
        "FCR's denominator).",
        sparse=True,
    ),
    Ratio(
        "customer_fcr",
        "cfcr_ratio",
        "cfcr_n",
        "cfcr_d",
        "customer_fcr_eligible",
        "support_customer_fcr_ratio",
        "Customer FCR: completed conversations a human replied to whose customer did not "
        "start another conversation within SUPPORT_REPEAT_WINDOW (its longest window) / "
        "such conversations.",
        show=Show("cfcr", "percent", label="Customer FCR", better="higher",
                  when="customers"),
        interval=True,
    ),
    Ratio(
        "channel_switch",
        "switch_ratio",
        "rep_sw",
        "rep_n",
        "repeat_contacts",
        "support_repeat_channel_switch_ratio",
        "Channel switching: repeated conversations whose repeat came on another channel / "
        "repeated conversations (within SUPPORT_REPEAT_WINDOW's longest window).",
        show=Show("switch", "percent", when="customers"),
        interval=True,
    ),
    Count(
        "customer_episodes",
        "cpc_n",
        "support_customer_first_contacts",
        "Identified customers' first contacts (no contact of theirs in the "
        "SUPPORT_REPEAT_WINDOW, its longest window, before), placed at the first contact.",
        sparse=True,
    ),
    Mean(
        "contacts_per_customer",
        "cpc_mean",
        "cpc_sm",
        "cpc_n",
        "customer_episodes",
        "support_contacts_per_customer_mean",
        "Contacts per customer: conversations a customer started from a first contact "
        "through SUPPORT_REPEAT_WINDOW (its longest) after it (the first included), "
        "averaged over the "
        "first contacts in the window.",
        show=Show("cpc", "score", when="customers"),
    ),
)
