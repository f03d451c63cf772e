"""One base exception for the alerts package."""

from __future__ import annotations


class AlertsError(Exception):
    reason = "alerts_error"


class RulesError(AlertsError):
    """The rules file is invalid; the message names the rule and the field."""

    reason = "bad_rules"
