"""The batch oracle's customer KPIs (docs/kpis.md, "Customers"), from the accepted events
alone and independent of :mod:`kpi.customers`: each customer's conversations are listed
and every question is answered by looking at all of them at once (quadratic, plainly).

A contact is an identified conversation that has a start event: its customer is the one
on its earliest event carrying one, its channel its own label, its completion the first
solved or ended, and it is eligible for customer FCR when the oracle's FCR counts it
(a human replied before the completion).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from devtools.oracle_facts import RANK, Facts, Labels
from kpi.config import KpiConfig
from kpi.events import Event


@dataclass(frozen=True)
class _Contact:
    cid: str
    start: int
    channel: str
    done: int | None
    eligible: bool


def _contact(evs: Sequence[Event], f: Facts, cfg: KpiConfig) -> tuple[str, _Contact] | None:
    ordered = sorted(evs, key=lambda e: (e.t_ms, RANK.get(e.type, 7), e.event_id))
    customer = next((e.customer for e in ordered if e.customer), None)
    starts = [e.t_ms for e in ordered if e.type in ("ticket.created", "chat.started")]
    if customer is None or not starts:
        return None
    labels = Labels()
    channel = "unknown"
    for e in ordered:
        channel = labels.add(e)["channel"]
    done = f.counts["done"][0][0] if f.counts.get("done") else None
    human = any(e.type in ("ticket.message", "chat.message") and e.t_ms <= done
                and (e.actor == "agent" or (cfg.count_bot_replies and e.actor == "bot"))
                for e in ordered) if done is not None else False
    return customer, _Contact(ordered[0].conversation_id, min(starts), channel, done, human)


def customer_facts(by_conv: Mapping[str, Sequence[Event]], facts: Mapping[str, Facts],
                   cfg: KpiConfig) -> list[Facts]:
    """One more Facts per identified conversation, under its labels, with the customer
    counts placed where docs/kpis.md places them (FCR's too with the customer FCR
    definition)."""
    repeat_ms = cfg.repeat_window_ms
    mine: dict[str, list[_Contact]] = defaultdict(list)
    for cid, evs in by_conv.items():
        found = _contact(evs, facts[cid], cfg)
        if found is not None:
            mine[found[0]].append(found[1])
    out: list[Facts] = []
    for contacts in mine.values():
        for c in contacts:
            f = Facts(labels=dict(facts[c.cid].labels))
            _completion(f, c, contacts, repeat_ms, cfg.fcr_definition == "customer")
            _within_windows(f, c, contacts, cfg.repeat_shorter)
            _episode(f, c, contacts, repeat_ms)
            out.append(f)
    return out


def _completion(f: Facts, c: _Contact, contacts: Sequence[_Contact], repeat_ms: int,
                as_fcr: bool) -> None:
    if c.done is None:
        return
    d = c.done
    later = sorted((o.start, o.cid, o) for o in contacts
                   if o.cid != c.cid and d < o.start <= d + repeat_ms)
    f.counts["rep_d"].append((d, 1))
    if later:
        f.counts["rep_n"].append((d, 1))
        f.counts["rep_sw"].append((d, int(later[0][2].channel != c.channel)))
    if c.eligible:
        f.counts["cfcr_d"].append((d, 1))
        f.counts["cfcr_n"].append((d, int(not later)))
        if as_fcr:
            f.counts["fcr_d"].append((d, 1))
            f.counts["fcr"].append((d, int(not later)))


def _within_windows(f: Facts, c: _Contact, contacts: Sequence[_Contact],
                    windows: Sequence[tuple[str, int]]) -> None:
    """The repeat contact rate's parts within each shorter repeat window (``rep_d@1d``)."""
    if c.done is None:
        return
    d = c.done
    for name, ms in windows:
        f.counts[f"rep_d@{name}"].append((d, 1))
        if any(o.cid != c.cid and d < o.start <= d + ms for o in contacts):
            f.counts[f"rep_n@{name}"].append((d, 1))


def _episode(f: Facts, c: _Contact, contacts: Sequence[_Contact], repeat_ms: int) -> None:
    me = (c.start, c.cid)
    if any((o.start, o.cid) < me and o.start >= c.start - repeat_ms for o in contacts):
        return
    n = sum(1 for o in contacts if (o.start, o.cid) >= me and o.start <= c.start + repeat_ms)
    f.counts["cpc_n"].append((c.start, 1))
    f.counts["cpc_contacts"].append((c.start, n))
