"""The calendars file: the shipped example loads, and each mistake is one line naming the
file, the place and what to change (the settings wrap it with SUPPORT_CALENDARS)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kpi.calendars import load_calendars, parse_calendars
from kpi.errors import ConfigError
from supportkpi.settings import SettingsError, load_settings
from tests.support import ROOT

GOOD = """
calendars:
  emea: {timezone: Europe/Berlin, hours: {mon: ["09:00-17:00"]}}
queues: {billing: emea}
"""


def test_the_shipped_example_loads() -> None:
    cals = load_calendars(ROOT / "deploy" / "calendars.yml")
    assert cals.for_queue("billing") is not None and cals.for_queue("billing").zone == \
        "Europe/Berlin"
    assert cals.for_queue("sales") is None and cals.sla_business


@pytest.mark.parametrize(("text", "says"), [
    ("calendars: [", "not valid YAML at line 1"),
    (GOOD.replace("Europe/Berlin", "Europe/Berlinn"),
     "calendars.emea.timezone: unknown time zone 'Europe/Berlinn'"),
    (GOOD.replace("mon:", "monday:"), "calendars.emea.hours: unknown weekday 'monday'"),
    (GOOD.replace("09:00-17:00", "9-17"), "expected HH:MM-HH:MM"),
    (GOOD.replace('["09:00-17:00"]', '["09:00-17:00", "16:00-18:00"]'), "non-overlapping"),
    (GOOD.replace("billing: emea", "billing: apac"),
     "queues.billing: no calendar named 'apac' (defined: emea)"),
    (GOOD + "sla_clock: wall\n", "sla_clock: Input should be 'business' or 'calendar'"),
    (GOOD + "holiday: [2026-12-25]\n", "holiday: Extra inputs are not permitted"),
])
def test_each_mistake_is_one_line_saying_what_to_change(text: str, says: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_calendars(text, "cal.yml")
    assert says in str(err.value) and "\n" not in str(err.value)
    assert str(err.value).startswith("cal.yml: ")


def test_the_setting_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "c.yml"
    bad.write_text(GOOD.replace("billing: emea", "billing: apac"))
    with pytest.raises(SettingsError, match=r"^invalid configuration: SUPPORT_CALENDARS: "):
        load_settings(calendars=str(bad))
    with pytest.raises(SettingsError, match="cannot read the calendars file"):
        load_settings(calendars=str(tmp_path / "missing.yml"))
