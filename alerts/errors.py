"""One base exception for the alerts package."""

from __future__ import annotations


class AlertsError(Exception):
    """Base error of the alerts package."""


class RulesError(AlertsError):
    """The rules file is invalid; the message names the rule and the field."""
