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
from urllib.parse import urlencode

import redis.asyncio as aioredis

from alerts.evaluator import Observation, observe
from alerts.notify import HttpNotifier, Publisher, iso
from alerts.rules import Rule, format_value, render_template
from alerts.state import AlertState, Transition, past, step
from alerts.store import AsyncAlertStore, split_key
from windows.keys import Keys
from windows.reader import WindowReader

log = logging.getLogger(__name__)


def _lua(name: str) -> str:
    return resources.files("alerts").joinpath("lua", name).read_text(encoding="utf-8")


def _ago(ms: int) -> str:
    return f"{ms / 86_400_000:.1f} d" if ms >= 86_400_000 else f"{ms / 60_000:.0f} min"


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
                 owner: str | None = None, public_url: str = "") -> None:
        self.rules = list(rules)
        self._by_name = {r.name: r for r in rules}
        self._reader = reader
        self._keys = keys
        self._store = AsyncAlertStore(client, keys)
        self._renew = client.register_script(_lua("renew_lease.lua"))
        self._release = client.register_script(_lua("release_lease.lua"))
        self._clock = clock
        self._publish = publish
        self._notifier = notifier
        self._interval_ms = int(interval_s * 1000)
        self._resend_ms = int(resend_s * 1000)
        self.owner = owner or uuid.uuid4().hex
        self._public_url = public_url.rstrip("/")
        self.leader = False
        self.catching_up = False

    async def _lease(self) -> bool:
        ttl = max(3 * self._interval_ms, 3000)
        got = await self._renew(keys=[self._keys.alert_lease], args=[self.owner, ttl])
        was, self.leader = self.leader, bool(got)
        if self.leader != was:
            log.info("alert evaluation %s on this worker (%s)",
                     "starts" if self.leader else "stops", self.owner[:8])
        return self.leader

    async def release(self) -> None:
        """Give the lease back (a graceful stop): another worker takes over at its next
        evaluation instead of after the lease's time to live."""
        if self.leader:
            await self._release(keys=[self._keys.alert_lease], args=[self.owner])
            self.leader = False
            log.info("alert evaluation lease released (%s)", self.owner[:8])

    def _read(self) -> tuple[int, dict[str, Any], dict[str, Any]] | None:
        """The evaluation time and the rows the rules look at, by the read clock; None
        while catching up. On the event clock (SUPPORT_READ_CLOCK=event) history is what
        is being looked at: it never pauses, and ``for`` durations pass in event time, so
        a replay (or the compressed demo) pages as the floor would have then."""
        t = self._reader.read_time()
        paused = t.catching_up and not t.event_windows
        if paused != self.catching_up:
            self.catching_up = paused
            log.warning("alert evaluation %s: the event clock is %s behind the wall clock",
                        "paused while the worker catches up on history (nothing pages)"
                        if paused else "resumes", _ago(t.now_ms - t.event_ms))
        if paused:
            return None
        windows = {}
        for name in {r.window for r in self.rules if r.window}:
            windows[name] = self._reader.window(self._reader.config.window(name),
                                                t.window_end_ms).rows
        gauges = self._reader.gauges(t.live_ms, own_clocks=True) \
            if any(r.live for r in self.rules) else {}
        now = t.event_ms if t.event_windows else int(self._clock() * 1000)
        return now, windows, gauges

    async def tick(self) -> list[dict[str, Any]]:
        """One evaluation; returns the transition documents it published."""
        if not self.rules or not await self._lease():
            return []
        rows = await asyncio.to_thread(self._read)
        if rows is None:
            return []
        now, windows, gauges = rows
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
                        self._am_alert(obs, tr.started_ms or now, now, tr.value, False))
            if new.status == "firing" and (new.last_sent_ms is None
                                           or now - new.last_sent_ms >= self._resend_ms):
                ends = now + 4 * max(self._resend_ms, self._interval_ms)
                out.to_alertmanager.append(self._am_alert(obs, new.fired_ms or now, ends,
                                                          new.value, True))
                new = replace(new, last_sent_ms=now)
            if new.status == "ok" and new.value is None and key in states:
                out.gone.append(key)  # nothing to remember about a quiet, healthy alert
            elif new != old or key not in states:
                out.changed[key] = new
        return out

    def _annotations(self, obs: Observation, value: float | None,
                     firing: bool) -> dict[str, str]:
        """Summary and description of one alert at ``value``.

        While hysteresis holds a firing alert, ``{threshold}`` is the clear line it has to
        cross to resolve (so "FCR is 0.62 (below 0.65)", never "(below 0.6)"). An absent
        value is never printed as a number: the summary says there is no data."""
        r = obs.rule
        if value is None:
            where = ", ".join(f"{k}={v}" for k, v in obs.dims.items()) or "the floor"
            values = {"window": r.window or "now", "rule": r.name, "severity": r.severity,
                      **obs.dims}
            return {"summary": f"{r.name} ({where}): no data now, nothing to measure",
                    "description": "",
                    **{k: render_template(v, values) for k, v in r.annotations.items()}}
        line = r.threshold
        if firing and r.clear is not None and not past(r.comparison, value, r.threshold):
            line = r.clear
        values = {"value": format_value(value, r.unit), "threshold": format_value(line, r.unit),
                  "window": r.window or "now", "rule": r.name, "severity": r.severity,
                  "comparison": r.comparison, **obs.dims}
        return {"summary": render_template(r.summary, values),
                "description": render_template(r.description, values),
                **{k: render_template(v, values) for k, v in r.annotations.items()}}

    def _document(self, obs: Observation, tr: Transition) -> dict[str, Any]:
        r = obs.rule
        text = self._annotations(obs, tr.value, tr.kind == "firing")
        return {"rule": r.name, "state": tr.kind, "severity": r.severity,
                "dimensions": obs.dims, "value": tr.value, "threshold": r.threshold,
                "window": r.window, "at": iso(tr.at_ms),
                "started_at": iso(tr.started_ms) if tr.started_ms else None,
                **text, "labels": r.labels}

    def _am_alert(self, obs: Observation, starts_ms: int, ends_ms: int,
                  value: float | None, firing: bool) -> dict[str, Any]:
        r = obs.rule
        doc = {"labels": alert_labels(r, obs.dims),
               "annotations": self._annotations(obs, value, firing),
               "startsAt": iso(starts_ms), "endsAt": iso(ends_ms)}
        if self._public_url:
            doc["generatorURL"] = generator_url(self._public_url, r, obs.dims)
        return doc


def generator_url(base: str, rule: Rule, dims: Mapping[str, str]) -> str:
    """Where an alert's row is seen: the wall at the rule's window (the live gauges' "now"
    on the shortest window), with its dimensions, so a page links to what it is about."""
    query = {"window": rule.window or "", "rule": rule.name, **dims}
    return f"{base}/wall?" + urlencode({k: v for k, v in query.items() if v})


def alert_labels(rule: Rule, dims: Mapping[str, str]) -> dict[str, str]:
    """The labels of an alert, the same as the rendered Prometheus rule gives it
    (:func:`alerts.render.rule_expr` keeps exactly ``window`` and the ``per`` dimensions),
    so Alertmanager sees one alert when both paths run."""
    labels = {"alertname": rule.name, "severity": rule.severity, **rule.labels, **dims}
    if rule.window:
        labels["window"] = rule.window
    return labels
