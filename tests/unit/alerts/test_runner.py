"""The alert runner's decisions without I/O (``AlertRunner.evaluate``), the evaluator's
observations, and the notifier against a real HTTP server on loopback."""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import web

from alerts.evaluator import observe
from alerts.notify import HttpNotifier
from alerts.rules import parse_rules
from alerts.runner import AlertRunner
from alerts.state import AlertState
from alerts.store import alert_key, encode, split_key
from tests.support import free_port
from windows.keys import Keys

RULES = parse_rules("""
rules:
  - name: EscalationHigh
    kpi: escalation
    statistic: ratio
    window: 15m
    per: [queue]
    comparison: ">"
    threshold: 0.5
    for: 10s
    min_samples: 4
    severity: page
    labels: {team: tier1}
    summary: "{queue}: escalation {value} over {threshold}"
  - {name: Waiting, kpi: waiting, statistic: value, comparison: ">", threshold: 3}
""")
ESC, WAIT = RULES
S = 1000


def runner() -> AlertRunner:
    async def publish(_doc: dict[str, Any]) -> None:
        return None

    # an unconnected client: evaluate() does no I/O, so it is never used
    return AlertRunner(RULES, None, aioredis.Redis(), Keys("unit"), lambda: 0.0,  # type: ignore[arg-type]
                       publish, HttpNotifier(None, None), interval_s=5, resend_s=60)


def windows(esc: float | None, completed: int) -> dict[str, Any]:
    return {"15m": {"queue=billing": {"escalation_ratio": esc, "completed": completed},
                    "*": {"escalation_ratio": 0.9, "completed": 100}}}


def test_observe_takes_the_rules_dimension_rows_only() -> None:
    obs = observe(RULES, windows(0.6, 10), {"*": {"waiting": 5}, "queue=billing": {"waiting": 2}})
    by_key = {o.key: (o.value, o.samples) for o in obs}
    assert by_key == {alert_key("EscalationHigh", "queue=billing"): (0.6, 10),
                      alert_key("Waiting", "*"): (5.0, None)}


def test_pending_then_firing_then_resolved_with_documents_and_alertmanager_pushes() -> None:
    r = runner()
    key = alert_key("EscalationHigh", "queue=billing")
    states: dict[str, AlertState] = {}
    kinds = []
    pushes = []
    for i, value in enumerate([0.6, 0.6, 0.7, 0.2]):
        out = r.evaluate(observe([ESC], windows(value, 10), {}), states, i * 5 * S)
        kinds += [d["state"] for d in out.published]
        pushes += out.to_alertmanager
        states = {**states, **out.changed}
        for k in out.gone:
            states.pop(k)
    assert kinds == ["pending", "firing", "resolved"]
    fired = [d for d in pushes if d["endsAt"] > d["startsAt"]]
    assert fired[0]["labels"] == {"alertname": "EscalationHigh", "severity": "page",
                                  "team": "tier1", "queue": "billing", "window": "15m"}
    assert fired[0]["annotations"]["summary"] == "billing: escalation 70% over 50%"
    assert pushes[-1]["endsAt"] == "1970-01-01T00:00:15Z"  # the resolve ends it now
    assert states[key].status == "ok"


def test_too_few_samples_is_no_data_and_never_pages() -> None:
    r = runner()
    out = r.evaluate(observe([ESC], windows(1.0, 3), {}), {}, 0)
    assert out.published == [] and out.to_alertmanager == []


def test_a_known_alert_without_a_row_is_observed_as_no_data() -> None:
    r = runner()
    key = alert_key("EscalationHigh", "queue=billing")
    pending = {key: AlertState(status="pending", since_ms=0, value=0.6, severity="page")}
    out = r.evaluate([], pending, 5 * S)
    assert [d["state"] for d in out.published] == ["cancelled"]
    assert out.gone == [key] and out.changed == {}  # a quiet, healthy alert is forgotten


def test_firing_alerts_are_re_sent_every_resend_interval() -> None:
    r = runner()
    key = alert_key("Waiting", "*")
    st = {key: AlertState(status="firing", since_ms=0, fired_ms=0, value=5, last_sent_ms=0,
                          severity="warning")}
    assert r.evaluate(observe([WAIT], {}, {"*": {"waiting": 5}}), st, 30 * S).to_alertmanager == []
    again = r.evaluate(observe([WAIT], {}, {"*": {"waiting": 5}}), st, 60 * S)
    assert len(again.to_alertmanager) == 1 and again.changed[key].last_sent_ms == 60 * S


def test_state_format_round_trips() -> None:
    st = AlertState(status="firing", since_ms=1, fired_ms=2, value=0.5, last_sent_ms=3,
                    severity="page")
    assert AlertState.from_json(json.loads(encode(st))) == st
    assert split_key(alert_key("R", "queue=a,channel=b")) == ("R", "queue=a,channel=b")


def test_notifier_posts_to_alertmanager_and_webhook_and_survives_errors() -> None:
    received: list[tuple[str, Any]] = []

    async def alerts(req: web.Request) -> web.Response:
        received.append((req.path, await req.json()))
        return web.Response(status=200)

    async def broken(_req: web.Request) -> web.Response:
        return web.Response(status=500, text="nope")

    async def go() -> None:
        app = web.Application()
        app.router.add_post("/api/v2/alerts", alerts)
        app.router.add_post("/hook", alerts)
        app.router.add_post("/broken", broken)
        runner_ = web.AppRunner(app)
        await runner_.setup()
        port = free_port()
        await web.TCPSite(runner_, "127.0.0.1", port).start()
        base = f"http://127.0.0.1:{port}"
        ok = HttpNotifier(base + "/", base + "/hook")
        await ok.alertmanager([{"labels": {"alertname": "X"}}])
        await ok.webhook({"rule": "X"})
        await HttpNotifier(None, base + "/broken").webhook({"rule": "X"})  # logged, not raised
        await HttpNotifier(None, f"http://127.0.0.1:{free_port()}/").webhook({})  # refused
        await runner_.cleanup()

    asyncio.run(go())
    assert received == [("/api/v2/alerts", [{"labels": {"alertname": "X"}}]),
                        ("/hook", {"rule": "X"})]


FCR = parse_rules("""
rules:
  - {name: FcrLow, kpi: fcr, statistic: ratio, window: 1h, per: [queue], comparison: "<",
     threshold: 0.6, clear: 0.65, summary: "FCR in {queue} is {value} (below {threshold})"}
  - {name: OldestWaiting, kpi: oldest_waiting, statistic: value, comparison: ">",
     threshold: 600, summary: "waited {value}s"}
""")


def fcr_obs(value: float | None) -> list[Any]:
    return observe(FCR[:1], {"1h": {"queue=billing": {"fcr_ratio": value, "completed": 50}}},
                   {})


def test_summaries_held_by_hysteresis_name_the_clear_line() -> None:
    r = AlertRunner(FCR, None, aioredis.Redis(), Keys("unit"), lambda: 0.0,  # type: ignore[arg-type]
                    lambda _d: None, HttpNotifier(None, None), resend_s=0.001)  # type: ignore[arg-type, return-value]
    out = r.evaluate(fcr_obs(0.5), {}, 0)
    assert out.published[-1]["summary"] == "FCR in billing is 50% (below 60%)"
    held = r.evaluate(fcr_obs(0.62), out.changed, 5 * S)
    assert held.published == []
    assert held.to_alertmanager[0]["annotations"]["summary"] == \
        "FCR in billing is 62% (below 65%)"


def test_no_data_is_never_printed_as_a_number() -> None:
    r = AlertRunner(FCR, None, aioredis.Redis(), Keys("unit"), lambda: 0.0,  # type: ignore[arg-type]
                    lambda _d: None, HttpNotifier(None, None))  # type: ignore[arg-type, return-value]
    key = alert_key("OldestWaiting", "*")
    firing = {key: AlertState(status="firing", since_ms=0, fired_ms=0, value=900.0)}
    out = r.evaluate([], firing, 5 * S)  # a live gauge without a row: resolves (no_data)
    (doc,) = out.published
    assert doc["state"] == "resolved"
    assert doc["summary"] == "OldestWaiting (the floor): no data now, nothing to measure"
    assert "no datas" not in json.dumps(out.to_alertmanager)


def test_history_is_not_evaluated_while_catching_up() -> None:
    from tests.unit.serve.fixed import NOW_MS, FixedReader

    old = FixedReader(last_event_ms=NOW_MS - 365 * 86_400_000)
    r = AlertRunner(FCR, old, aioredis.Redis(), Keys("unit"), lambda: 0.0,  # type: ignore[arg-type]
                    lambda _d: None, HttpNotifier(None, None))  # type: ignore[arg-type, return-value]
    assert r._read() is None and r.catching_up
    live = AlertRunner(FCR, FixedReader(), aioredis.Redis(), Keys("unit"),  # type: ignore[arg-type]
                       lambda: 0.0, lambda _d: None, HttpNotifier(None, None))  # type: ignore[arg-type, return-value]
    assert live._read() is not None and not live.catching_up


def test_on_the_event_clock_history_is_evaluated_at_its_own_time() -> None:
    """SUPPORT_READ_CLOCK=event (a replay, the compressed demo): no pause while catching
    up, and the state machines step on the event clock, so ``for`` passes in event time."""
    from tests.unit.serve.fixed import NOW_MS, FixedReader

    year_ago = NOW_MS - 365 * 86_400_000
    old = FixedReader(last_event_ms=year_ago, event_windows=True)
    r = AlertRunner(FCR, old, aioredis.Redis(), Keys("unit"), lambda: NOW_MS / 1000,  # type: ignore[arg-type]
                    lambda _d: None, HttpNotifier(None, None))  # type: ignore[arg-type, return-value]
    read = r._read()
    assert read is not None and not r.catching_up
    assert read[0] == year_ago + 1000  # the event clock: last event + time since applied


def test_a_query_string_stays_a_query_and_an_echoed_credential_stays_out_of_the_log(
        caplog: pytest.LogCaptureFixture) -> None:
    """An Alertmanager URL behind a proxy that wants ``?token=``: the API path goes before
    the query. A receiver that echoes the request's Authorization header in its error
    body: the warning line carries neither the password nor its base64 form."""
    seen: list[str] = []

    async def alerts(req: web.Request) -> web.Response:
        seen.append(str(req.rel_url))
        return web.Response(status=200)

    async def echo(req: web.Request) -> web.Response:
        return web.Response(status=401, text=f"denied {req.headers.get('Authorization')}")

    async def go() -> None:
        app = web.Application()
        app.router.add_post("/am/api/v2/alerts", alerts)
        app.router.add_post("/echo", echo)
        runner_ = web.AppRunner(app)
        await runner_.setup()
        port = free_port()
        await web.TCPSite(runner_, "127.0.0.1", port).start()
        await HttpNotifier(f"http://127.0.0.1:{port}/am/?token=T0k", None).alertmanager(
            [{"labels": {"alertname": "X"}}])
        await HttpNotifier(None, f"http://ops:S3cret-pw@127.0.0.1:{port}/echo").webhook({})
        await runner_.cleanup()

    with caplog.at_level(logging.WARNING):
        asyncio.run(go())
    assert seen == ["/am/api/v2/alerts?token=T0k"]
    text = caplog.text
    assert "answered 401" in text
    assert "S3cret-pw" not in text and base64.b64encode(b"ops:S3cret-pw").decode() not in text


def test_values_read_as_people_read_them_and_a_page_links_to_its_row() -> None:
    """A duration in human units, a ratio as a percentage; the runbook annotation on
    the page; the generator URL is the wall at the rule's window and row."""
    rules = parse_rules("""
rules:
  - {name: OldestWaitingTooOld, kpi: oldest_waiting, statistic: value, per: [queue],
     comparison: ">", threshold: 1800, summary: "{queue} has waited {value} (over {threshold})",
     annotations: {runbook_url: "https://wiki/runbooks/oldest#{queue}"}}
""")
    runner = AlertRunner(rules, None, aioredis.Redis(), Keys("t"),  # type: ignore[arg-type]
                         lambda: 0.0,
                         lambda _d: None, HttpNotifier(None, None),  # type: ignore[arg-type, return-value]
                         public_url="https://kpi.example/")
    obs = observe(rules, {}, {"queue=billing": {"oldest_waiting_seconds": 34_567_796.0}})
    out = runner.evaluate(obs, {}, 1_000)
    alert = out.to_alertmanager[0]
    assert alert["annotations"]["summary"] == "billing has waited 400 d (over 30 min)"
    assert alert["annotations"]["runbook_url"] == "https://wiki/runbooks/oldest#billing"
    assert alert["generatorURL"] == \
        "https://kpi.example/wall?rule=OldestWaitingTooOld&queue=billing"


def test_the_shipped_sla_rules_hand_over_at_the_breach_in_stream() -> None:
    """SlaBreachImminent firing on 25 conversations at risk; they breach: at the same
    evaluation it resolves and SlaBreachingNow fires (no 'for'), so the page never goes
    quiet while the SLA is breached (the rendered rules: promtool test)."""
    from alerts.rules import load_rules
    from tests.support import ROOT

    rules = [r for r in load_rules(ROOT / "deploy/alerts.yml")
             if r.name in ("SlaBreachImminent", "SlaBreachingNow")]
    runner = AlertRunner(rules, None, aioredis.Redis(), Keys("t"),  # type: ignore[arg-type]
                         lambda: 0.0, lambda _d: None,  # type: ignore[arg-type, return-value]
                         HttpNotifier(None, None))
    from kpi.kinds import within_key

    soon = within_key("at_risk", "5m")
    at_risk = {"queue=billing": {soon: 25.0},
               "queue=billing,channel=email": {"breaching": 0.0}}
    states: dict[str, AlertState] = {}
    for now in (0, 60_000, 120_000, 180_000):  # past its 2m 'for'
        out = runner.evaluate(observe(rules, {}, at_risk), states, now)
        states = {**states, **out.changed}
    assert states["SlaBreachImminent|queue=billing"].status == "firing"
    breached = {"queue=billing": {soon: 0.0},
                "queue=billing,channel=email": {"breaching": 25.0}}
    out = runner.evaluate(observe(rules, {}, breached), states, 240_000)
    moved = {(d["rule"], d["state"]) for d in out.published}
    assert {("SlaBreachImminent", "resolved"), ("SlaBreachingNow", "firing")} <= moved, moved
