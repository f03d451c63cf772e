"""Rules: validation errors name the rule and the field; rendering is promtool-clean."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from alerts.errors import RulesError
from alerts.render import render
from alerts.rules import parse_rules, parse_slos
from supportkpi.settings import gauge_label_dims, load_alerting, load_settings, window_label_dims
from tests.support import ROOT, promtool

GOOD = """
rules:
  - name: FrtHigh
    kpi: first_response
    statistic: p90
    window: 15m
    per: [queue]
    comparison: ">"
    threshold: 600
    for: 5m
"""


def error_of(text: str, **kw: object) -> str:
    with pytest.raises(RulesError) as info:
        parse_rules(text, "rules.yml", **kw)  # type: ignore[arg-type]
    return str(info.value)


def test_good_rule_parses() -> None:
    (r,) = parse_rules(GOOD)
    assert (r.name, r.for_ms, r.stat.key) == ("FrtHigh", 300_000, "frt_p90_seconds")


@pytest.mark.parametrize(("change", "expect"), [
    (("statistic: p90", "statistic: p42"), "rule FrtHigh, field (rule): kpi 'first_response' "
                                           "has no statistic 'p42'"),
    (("kpi: first_response", "kpi: happiness"), "unknown kpi 'happiness'"),
    (("for: 5m", "for: soon"), "rule FrtHigh, field for: not a duration"),
    (('comparison: ">"', 'comparison: "=>"'), "rule FrtHigh, field comparison"),
    (("threshold: 600", "threshold: lots"), "rule FrtHigh, field threshold"),
    (("per: [queue]", "per: [region]"), "rule FrtHigh, field per"),
    (("    window: 15m\n", ""), "needs a window"),
    (("    for: 5m", "    for: 5m\n    clear: 700"), "must be on the healthy side"),
    (("    for: 5m", "    for: 5m\n    summary: '{quueue} is bad'"), "unknown placeholder"),
    (("    for: 5m", "    for: 5m\n    treshold: 5"), "rule FrtHigh, field treshold: Extra inputs"),
])
def test_errors_name_rule_and_field(change: tuple[str, str], expect: str) -> None:
    assert expect in error_of(GOOD.replace(*change))


def test_window_and_dimensions_must_exist_in_the_export() -> None:
    assert "not a configured window" in error_of(GOOD, windows=["5m", "1h"])
    assert "rule FrtHigh, field per: kpi 'first_response' has no dimension combination " \
        "['queue']" in error_of(GOOD, dimension_sets=[(), ("channel",)])


LIVE = """
rules:
  - {name: Waiting, kpi: waiting, statistic: value, per: [team], comparison: ">", threshold: 3}
"""
RATIO = """
rules:
  - {name: FcrLow, kpi: fcr, statistic: ratio, window: 1h, comparison: "<", threshold: 0.6}
"""


@pytest.mark.parametrize(("text", "expect"), [
    (GOOD.replace("threshold: 600", "threshold: .nan"),
     "invalid alert rules: rules.yml: rule FrtHigh, field threshold: must be a finite number"),
    (GOOD.replace("threshold: 600", "threshold: .inf"),
     "rule FrtHigh, field threshold: must be a finite number, not inf"),
    (GOOD.replace("    for: 5m", "    for: 5m\n    clear: .nan"),
     "rule FrtHigh, field clear: must be a finite number, not nan"),
    (GOOD.replace("    for: 5m", "    for: 5m\n    clear: -.inf"),
     "rule FrtHigh, field clear: must be a finite number"),
    (RATIO.replace("threshold: 0.6", "threshold: 5"),
     "rule FcrLow, field (rule): threshold 5 is outside [0, 1], the range of a ratio"),
    (RATIO.replace("threshold: 0.6}", "threshold: 0.6, clear: 1.5}"),
     "rule FcrLow, field (rule): clear 1.5 is outside [0, 1]"),
    (RATIO.replace("threshold: 0.6}", "threshold: 0.6, clear: 0.5}"),
     "rule FcrLow, field (rule): clear 0.5 must be on the healthy side of threshold 0.6"),
    (RATIO.replace("threshold: 0.6}", "threshold: 0.6, labels: {alertname: Other}}"),
     "rule FcrLow, field labels: label 'alertname' is set by the rule itself"),
    (RATIO.replace("threshold: 0.6}", "threshold: 0.6, labels: {severity: page}}"),
     "rule FcrLow, field labels: label 'severity' is set by the rule itself"),
    (RATIO.replace("threshold: 0.6}", "threshold: 0.6, labels: {window: 5m}}"),
     "rule FcrLow, field (rule): labels ['window'] would override"),
    (GOOD.replace("name: FrtHigh", "name: Watchdog"),
     "rule Watchdog, field name: 'Watchdog' is a built-in rule of the rendered rules"),
    (GOOD.replace("name: FrtHigh", "name: SupportRedisDown"),
     "field name: 'SupportRedisDown' is a built-in rule"),
    (GOOD + '    severity: ""\n', "rule FrtHigh, field severity: severity '' must be a "
                                   "non-empty word"),
    (GOOD.replace("per: [queue]", "per: []") + '    summary: "FRT in {queue} is {value}"\n',
     "rule FrtHigh, field (rule): summary: {queue} is not one of the rule's dimensions"),
    (GOOD + "    annotations: {summary: x}\n",
     "rule FrtHigh, field annotations: annotation 'summary' has its own field"),
    (GOOD + '    annotations: {runbook_url: "x/{team}"}\n',
     "field (rule): annotations.runbook_url: {team} is not one of the rule's dimensions"),
])
def test_rules_that_cannot_work_are_refused_with_one_line(text: str, expect: str) -> None:
    message = error_of(text, windows=["1h", "15m"], dimension_sets=[(), ("queue",)],
                       gauge_dimension_sets=[(), ("queue",)])
    assert expect in message
    assert "\n" not in message


def test_a_live_rule_per_a_dimension_the_gauges_do_not_have() -> None:
    message = error_of(LIVE, gauge_dimension_sets=[(), ("queue",), ("queue", "channel")])
    assert message == ("rules.yml: rule Waiting, field per: kpi 'waiting' has no dimension "
                       "combination ['team'] (exported: [], [queue], [queue, channel]; "
                       "SUPPORT_GAUGE_DIMENSIONS)")


def test_no_data_defaults_by_kind() -> None:
    assert parse_rules(LIVE)[0].no_data == "resolve"
    assert parse_rules(RATIO)[0].no_data == "keep"
    assert parse_rules(RATIO.replace("0.6}", "0.6, no_data: resolve}"))[0].no_data == "resolve"


def test_duplicate_names_and_bad_yaml() -> None:
    assert "used twice" in error_of(GOOD + GOOD.split("rules:")[1])
    assert "not valid YAML" in error_of("rules: [")


def test_shipped_rules_are_valid_and_the_rendered_file_is_current() -> None:
    settings = load_settings(alert_rules=ROOT / "deploy/alerts.yml")
    rules, slos = load_alerting(settings)
    assert slos and any(r.within for r in rules)
    text = render(rules, window_label_dims(settings), gauge_label_dims(settings), slos)
    shipped = (ROOT / "deploy/prometheus/support-kpi.rules.yml").read_text()
    assert text == shipped, "run: support-kpi alerts render deploy/alerts.yml " \
                            "--out deploy/prometheus/support-kpi.rules.yml"


def test_promtool_accepts_the_rendered_rules() -> None:
    proc = subprocess.run([promtool(), "check", "rules",
                           str(ROOT / "deploy/prometheus/support-kpi.rules.yml")],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_promtool_rule_tests_pass() -> None:
    tests = ROOT / "deploy/prometheus/support-kpi.rules.test.yml"
    proc = subprocess.run([promtool(), "test", "rules", str(tests)], capture_output=True,
                          text=True, cwd=tests.parent)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_rule_tests_cover_every_rendered_alert() -> None:
    import yaml

    rules = yaml.safe_load(Path(ROOT / "deploy/prometheus/support-kpi.rules.yml").read_text())
    names = {r["alert"] for g in rules["groups"] for r in g["rules"]}
    tests = yaml.safe_load(Path(ROOT / "deploy/prometheus/support-kpi.rules.test.yml")
                           .read_text())
    fired = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", [])
             if a.get("exp_alerts")}
    quiet = {a["alertname"] for t in tests["tests"] for a in t.get("alert_rule_test", [])
             if not a.get("exp_alerts")}
    assert names <= fired, f"never shown firing: {names - fired}"
    assert names - {"Watchdog"} <= quiet, f"never shown quiet: {names - quiet - {'Watchdog'}}"


AT_RISK = """
rules:
  - {name: Imminent, kpi: at_risk, statistic: value, within: 300s, per: [queue],
     comparison: ">", threshold: 3}
"""


def test_an_at_risk_rule_reads_its_horizon() -> None:
    (r,) = parse_rules(AT_RISK, horizons=["5m", "15m"])
    assert r.within == "5m"  # 300s, spelled as the exported label
    assert r.stat.key == "at_risk_within_5m" and ("within", "5m") in r.stat.extra
    assert "field within: '5m' is not an at-risk horizon (15m, 1h; SUPPORT_SLA_AT_RISK)" in \
        error_of(AT_RISK, horizons=["15m", "1h"])
    assert "'within' is for at_risk" in error_of(AT_RISK.replace("at_risk", "waiting"))


REPEAT = """
rules:
  - {name: RepeatSameDay, kpi: repeat_contact, statistic: ratio, window: 24h, within: 24h,
     comparison: ">", threshold: 0.2}
"""


def test_a_repeat_contact_rule_reads_its_repeat_window() -> None:
    (r,) = parse_rules(REPEAT, repeat_windows=["1d", "7d"])
    assert r.within == "1d"  # 24h, spelled as the exported label
    assert r.stat.key == "repeat_ratio_within_1d" and ("within", "1d") in r.stat.extra
    assert "field within: '1d' is not a repeat window (7d; SUPPORT_REPEAT_WINDOW)" in \
        error_of(REPEAT, repeat_windows=["7d"])
    # without it, the longest window: the row's own key (and on Prometheus the largest
    # rate over the windows, which is the longest's)
    for text in (REPEAT.replace(" within: 24h,", ""), REPEAT.replace("within: 24h", "within: 7d")):
        (r,) = parse_rules(text, repeat_windows=["1d", "7d"])
        assert r.stat.key == "repeat_ratio" and not r.stat.extra


SLO = """
slos:
  - name: ReplyBurn
    kpi: sla_first_reply
    objective: 0.99
    per: [queue]
    burn_rates:
      - {long: 1h, short: 5m, factor: 14.4}
"""


def slo_error(text: str, **kw: object) -> str:
    with pytest.raises(RulesError) as info:
        parse_slos(text, "rules.yml", **kw)  # type: ignore[arg-type]
    return str(info.value)


def test_the_built_in_names_are_the_rendered_built_in_rules() -> None:
    from alerts.render import PIPELINE_RULES
    from alerts.rules import BUILT_IN_NAMES

    assert {r["alert"] for r in PIPELINE_RULES} == BUILT_IN_NAMES


def test_slos_parse_and_their_mistakes_are_one_line() -> None:
    (o,) = parse_slos(SLO)
    assert (o.burn_rates[0].severity, o.burn_rates[0].for_) == ("page", "2m")
    assert parse_rules(SLO) == []  # a file of SLOs only has no threshold rules
    for change, says in [
        (("objective: 0.99", "objective: 99"), "slo ReplyBurn, field objective"),
        (("kpi: sla_first_reply", "kpi: fcr"), "burn rates need an achievement ratio"),
        (("short: 5m", "short: 2h"), "must be shorter than long 1h"),
        (("factor: 14.4", "factor: 0"), "field burn_rates.0.factor"),
        (("per: [queue]", "per: [region]"), "slo ReplyBurn, field per"),
        (("factor: 14.4", "factor: .inf"), "field burn_rates.0.factor"),
        (("factor: 14.4}", "factor: 14.4, severity: ''}"), "field burn_rates.0.severity"),
        (("per: [queue]", "per: [queue]\n    labels: {queue: x}"),
         "label 'queue' is set by the rule itself"),
        (("per: [queue]", "per: [queue]\n    labels: {long_window: 6h}"),
         "label 'long_window' is set by the rule itself"),
        (("per: [queue]", "per: []\n    summary: 'burn in {queue}'"),
         "summary: {queue} is not one of the rule's dimensions"),
        (("name: ReplyBurn", "name: Watchdog"), "'Watchdog' is a built-in rule"),
    ]:
        assert says in slo_error(SLO.replace(*change)), change
    assert "rule ReplyBurn, field burn_rates.long: '1h' is not a configured window" in \
        slo_error(SLO, windows=["5m", "24h"])
    assert "used twice" in slo_error(SLO + GOOD.replace("FrtHigh", "ReplyBurn"))


def test_a_burn_rate_rule_divides_by_the_error_budget() -> None:
    from alerts.render import burn_expr

    (o,) = parse_slos(SLO)
    expr = burn_expr(o, o.burn_rates[0], ["channel", "queue"])
    assert '"}) / 0.01) > 14.4 and on(queue)' in expr
    assert 'support_sla_first_reply_achievement_ratio{window="1h",channel="all",queue!="all"' \
        in expr and '{window="5m",' in expr
    assert expr.endswith("unless on() (max(support_catching_up) > 0)")
