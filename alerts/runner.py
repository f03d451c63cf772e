"""The alert runner: one evaluator at a time (a Redis lease), state kept in Redis.

Each tick: take or renew the lease; read the windows and gauges; step every
(rule, dimensions) state machine; publish transitions (topic, webhook, Alertmanager),
then store the states. Publishing before storing means a crash in between re-sends a
transition after the restart rather than losing a page; Alertmanager dedups by labels.
Firing alerts are re-sent to Alertmanager every ``resend_ms`` with ``endsAt`` in the
future, as Prometheus does, so Alertmanager resolves them by itself if we go silent.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources
from typing import Any

import redis.asyncio as aioredis

from alerts.evaluator import Observation, observe
from alerts.notify import HttpNotifier, Publisher, iso
from alerts.rules import Rule, render_template
from alerts.state import AlertState, Transition, step
from alerts.store import AsyncAlertStore, split_key
from windows.keys import Keys
from windows.reader import WindowReader

log = logging.getLogger(__name__)


@dataclass
class Outcome:
    """What one evaluation decided, before any I/O."""

    published: list[dict[str, Any]] = field(default_factory=list)  # transition documents
    to_alertmanager: list[dict[str, Any]] = field(default_factory=list)
    changed: dict[str, AlertState] = field(default_factory=dict)  # states to store
    gone: list[str] = field(default_factory=list)  # states to forget


class AlertRunner:
    def __init__(self, rules: Sequence[Rule], reader: WindowReader, client: aioredis.Redis,
                 keys: Keys, clock: Callable[[], float], publish: Publisher,
                 notifier: HttpNotifier, *, interval_s: float = 5.0, resend_s: float = 60.0,
                 owner: str | None = None) -> None:
        self.rules = list(rules)
        self._by_name = {r.name: r for r in rules}
        self._reader = reader
        self._keys = keys
        self._store = AsyncAlertStore(client, keys)
        self._renew = client.register_script(
            resources.files("alerts").joinpath("lua", "renew_lease.lua").read_text())
        self._clock = clock
        self._publish = publish
        self._notifier = notifier
        self._interval_ms = int(interval_s * 1000)
        self._resend_ms = int(resend_s * 1000)
        self.owner = owner or uuid.uuid4().hex
        self.leader = False

    async def _lease(self) -> bool:
        ttl = max(3 * self._interval_ms, 3000)
        got = await self._renew(keys=[self._keys.alert_lease], args=[self.owner, ttl])
        was, self.leader = self.leader, bool(got)
        if self.leader != was:
            log.info("alert evaluation %s on this worker (%s)",
                     "starts" if self.leader else "stops", self.owner[:8])
        return self.leader

    def _read(self, at_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
        windows = {}
        for name in {r.window for r in self.rules if r.window}:
            windows[name] = self._reader.window(self._reader.config.window(name), at_ms).rows
        gauges = self._reader.gauges(at_ms) if any(r.live for r in self.rules) else {}
        return windows, gauges

    async def tick(self) -> list[dict[str, Any]]:
        """One evaluation; returns the transition documents it published."""
        if not self.rules or not await self._lease():
            return []
        now = int(self._clock() * 1000)
        windows, gauges = await asyncio.to_thread(self._read, now)
        states = await self._store.read()
        outcome = self.evaluate(observe(self.rules, windows, gauges), states, now)
        for doc in outcome.published:
            await self._publish(doc)
            await self._notifier.webhook(doc)
        if outcome.to_alertmanager and self._notifier.enabled:
            await self._notifier.alertmanager(outcome.to_alertmanager)
        await self._store.write(outcome.changed, outcome.gone)
        for doc in outcome.published:
            log.info("alert %s %s %s value=%s", doc["rule"], doc["dimensions"], doc["state"],
                     doc["value"])
        return outcome.published

    def evaluate(self, observed: Sequence[Observation], states: Mapping[str, AlertState],
                 now: int) -> Outcome:
        """Step every state machine (pure): what to publish, to push to Alertmanager and
        to store. Known alerts without a row now are observed as no data."""
        observations = {o.key: o for o in observed}
        for key in states:
            if key not in observations:
                name, dimkey = split_key(key)
                if name in self._by_name:
                    observations[key] = Observation(self._by_name[name], dimkey, None, None)
        out = Outcome()
        for key, obs in observations.items():
            old = states.get(key, AlertState(severity=obs.rule.severity))
            new, transitions = step(obs.rule, old, obs.value, obs.samples, now)
            new = replace(new, severity=obs.rule.severity,
                          last_sent_ms=old.last_sent_ms if new.status == "firing" else None)
            for tr in transitions:
                out.published.append(self._document(obs, tr))
                if tr.kind == "resolved":
                    out.to_alertmanager.append(
                        self._am_alert(obs, tr.started_ms or now, now, tr.value))
            if new.status == "firing" and (new.last_sent_ms is None
                                           or now - new.last_sent_ms >= self._resend_ms):
                ends = now + 4 * max(self._resend_ms, self._interval_ms)
                out.to_alertmanager.append(self._am_alert(obs, new.fired_ms or now, ends,
                                                          new.value))
                new = replace(new, last_sent_ms=now)
            if new.status == "ok" and new.value is None and key in states:
                out.gone.append(key)  # nothing to remember about a quiet, healthy alert
            elif new != old or key not in states:
                out.changed[key] = new
        return out

    def _values(self, obs: Observation, value: float | None) -> dict[str, str]:
        r = obs.rule
        v = "no data" if value is None else f"{value:.4g}"
        return {"value": v, "threshold": f"{r.threshold:g}", "window": r.window or "now",
                "rule": r.name, "severity": r.severity, "comparison": r.comparison,
                **obs.dims}

    def _document(self, obs: Observation, tr: Transition) -> dict[str, Any]:
        r = obs.rule
        values = self._values(obs, tr.value)
        return {"rule": r.name, "state": tr.kind, "severity": r.severity,
                "dimensions": obs.dims, "value": tr.value, "threshold": r.threshold,
                "window": r.window, "at": iso(tr.at_ms),
                "started_at": iso(tr.started_ms) if tr.started_ms else None,
                "summary": render_template(r.summary, values),
                "description": render_template(r.description, values), "labels": r.labels}

    def _am_alert(self, obs: Observation, starts_ms: int, ends_ms: int,
                  value: float | None) -> dict[str, Any]:
        r = obs.rule
        values = self._values(obs, value)
        labels = {"alertname": r.name, "severity": r.severity, **r.labels, **obs.dims}
        if r.window:
            labels["window"] = r.window
        return {"labels": labels,
                "annotations": {"summary": render_template(r.summary, values),
                                "description": render_template(r.description, values)},
                "startsAt": iso(starts_ms), "endsAt": iso(ends_ms)}

