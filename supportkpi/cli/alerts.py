"""``support-kpi alerts check|render``: validate the alert rules, render them for
Prometheus (:mod:`alerts`)."""

from __future__ import annotations

from pathlib import Path

import click

from alerts.rules import Rule, Slo
from supportkpi.cli.common import settings
from supportkpi.settings import Settings, SettingsError


@click.group()
def alerts() -> None:
    """Alert rules: validate them, and render them as a Prometheus rule file."""


def _load_rules(path: Path | None) -> tuple[Settings, list[Rule], list[Slo]]:
    """Settings with RULES (or SUPPORT_ALERT_RULES), the validated rules and SLOs, or a
    clear exit."""
    from supportkpi.settings import load_alerting

    s = settings(alert_rules=path)
    if s.alert_rules is None:
        raise click.UsageError("no rules file: pass RULES or set SUPPORT_ALERT_RULES")
    try:
        return (s, *load_alerting(s))
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


@alerts.command("check")
@click.argument("rules", type=click.Path(dir_okay=False, path_type=Path), required=False)
def alerts_check(rules: Path | None) -> None:
    """Validate RULES (default SUPPORT_ALERT_RULES) and print them.

    KPIs and statistics: first_response, resolution, response, bot_time,
    frt_after_handoff (p50 p90 [p95 p99] mean count); frt_sla, fcr, escalation, reopen,
    abandonment, handoff, bot_containment, sla_first_reply, sla_next_reply,
    sla_resolution (ratio); csat (ratio mean); nps (value); ces (mean); live gauges open,
    waiting, oldest_waiting, oldest_waiting_business, breaching, at_risk (value; at_risk
    takes `within`: one of the
    SUPPORT_SLA_AT_RISK horizons). SLOs (`slos:`) alert on burn rate over window pairs
    and are rendered for Prometheus only. A rule that could not work (a NaN or infinite
    threshold, a ratio outside [0, 1], a dimension the KPI does not have, a label that
    overrides alertname or severity) is refused with one line naming rule and field.
    """
    s, loaded, slos = _load_rules(rules)
    for r in loaded:
        per = ",".join(r.per) or "floor"
        clear = f" (clear {r.clear:g})" if r.clear is not None else ""
        within = f" within {r.within}" if r.within else ""
        click.echo(f"{r.name:28} {r.severity:8} {r.kpi}.{r.statistic}{within} "
                   f"{r.window or 'now':>4} per {per:14} {r.comparison} {r.threshold:g}"
                   f"{clear} for {r.for_} min {r.min_samples}")
    for o in slos:
        per = ",".join(o.per) or "floor"
        pairs = ", ".join(f"{b.factor:g}x {b.long}/{b.short} {b.severity}"
                          for b in o.burn_rates)
        click.echo(f"{o.name:28} slo      {o.kpi} objective {o.objective:g} per {per:14} "
                   f"burn {pairs}")
    click.echo(f"{len(loaded)} rules, {len(slos)} SLOs OK ({s.alert_rules})", err=True)


@alerts.command("render")
@click.argument("rules", type=click.Path(dir_okay=False, path_type=Path), required=False)
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Write here instead of standard output.")
def alerts_render(rules: Path | None, out: Path | None) -> None:
    """Render RULES as a Prometheus rule file: the threshold rules, the SLOs' multi-window
    burn-rate rules, and the pipeline-silent and Watchdog rules."""
    from alerts.render import render
    from supportkpi.settings import gauge_label_dims, window_label_dims

    s, loaded, slos = _load_rules(rules)
    text = render(loaded, window_label_dims(s), gauge_label_dims(s), slos)
    if out is None:
        click.echo(text, nl=False)
    else:
        out.write_text(text)
        click.echo(f"wrote {out}", err=True)
