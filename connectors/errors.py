"""One base exception for the connectors; ``reason`` is the DLQ reason and metric label."""

from __future__ import annotations

# Every reason a vendor payload cannot be mapped for. Bounded, so safe as a label.
REASONS: tuple[str, ...] = (
    "not_json",           # the body is not a JSON object
    "unknown_payload",    # not an event the vendor sends (wrong webhook pointed here?)
    "missing_field",      # an event it maps lacks the id or time it needs
    "bad_timestamp",      # a time it cannot read
    "wrong_account",      # another account's payload than the configured one
    "needs_setting",      # the vendor did not send what a KPI needs: the detail says what to set
)


class ConnectorError(Exception):
    """A payload that cannot be mapped; it goes to the DLQ with ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail
