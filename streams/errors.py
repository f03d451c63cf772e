"""One base exception for the streams package; ``reason`` is the DLQ reason and metric label."""

from __future__ import annotations

# Every reason code an event can be rejected with. Bounded, so it is safe as a label.
REASONS: tuple[str, ...] = (
    "oversized",
    "not_json",
    "not_object",
    "missing_field",
    "wrong_type",
    "field_too_long",
    "unknown_type",
    "bad_timestamp",
    "before_1970",
    "future_timestamp",
    "bad_text",
    "bad_actor",
    "bad_status",
    "missing_score",
    "score_out_of_range",
    "processing_error",
    "bad_contact",  # a customers-topic message that is not a contact (streams.customers)
    "bad_capacity",  # an agent's capacity that is not an integer 1..100 (schema v1.3)
    "wrong_topic",  # an agent event on a conversation topic, or the other way round
)


class StreamError(Exception):
    """Base error of the streams package."""

    reason = "stream_error"

    def __init__(self, detail: str, *, reason: str | None = None) -> None:
        super().__init__(detail)
        if reason is not None:
            self.reason = reason
        self.detail = detail


class InvalidEvent(StreamError):
    """The message cannot be counted; it goes to the dead-letter topic with ``reason``."""

    def __init__(self, reason: str, detail: str) -> None:
        assert reason in REASONS, reason
        super().__init__(detail, reason=reason)


class DeadLetterUnavailable(StreamError):
    """The DLQ write failed (broker down, refused): retried like a Redis outage, since
    acknowledging the batch without its dead letters would lose them."""

    reason = "dlq_unavailable"


class CustomerTopicUnavailable(StreamError):
    """A batch's contacts could not be written to the customers topic: retried like a Redis
    outage, since applying the batch without them would lose them for the customer path."""

    reason = "customer_topic_unavailable"
