"""Plain configuration of the stream side, handed down by the composition root.

``streams`` never reads the environment or the settings object: the worker builds a
:class:`StreamConfig` from the settings and passes it in, so the Faust app, the topic
check and the tests all configure the stream the same way.
"""

from __future__ import annotations

import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kpi.config import KpiConfig
from streams.replay_point import ReplayPoint
from streams.schema import SchemaConfig


@dataclass(frozen=True)
class KafkaAccess:
    """Where the broker is and how to authenticate to it, for Faust and kafka-python."""

    bootstrap: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)  # never in a repr or a log
    ssl_cafile: str | None = None

    def kafka_python_options(self) -> dict[str, Any]:
        """Security options for kafka-python clients (admin, offsets, producers)."""
        opts: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol.startswith("SASL_"):
            opts |= {"sasl_mechanism": self.sasl_mechanism,
                     "sasl_plain_username": self.username,
                     "sasl_plain_password": self.password}
        if self.security_protocol in ("SSL", "SASL_SSL") and self.ssl_cafile:
            opts["ssl_cafile"] = self.ssl_cafile
        return opts

    def faust_credentials(self) -> Any:
        """Faust's credentials for the protocol (None for PLAINTEXT)."""
        import faust

        context = None
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
        if self.security_protocol.startswith("SASL_"):
            return faust.SASLCredentials(username=self.username, password=self.password,
                                         mechanism=self.sasl_mechanism, ssl_context=context)
        if self.security_protocol == "SSL":
            return faust.SSLCredentials(context)
        return None


@dataclass(frozen=True)
class StreamConfig:
    """Everything the Faust app, its agents and its timers need."""

    app_id: str
    kafka: KafkaAccess
    redis_url: str
    key_prefix: str
    topic_tickets: str
    topic_chats: str
    topic_dlq: str
    topic_alerts: str
    topic_marks: str  # the store's applied offsets, marked outside it (streams.marks)
    kpi: KpiConfig
    schema: SchemaConfig
    redis_options: Mapping[str, Any] = field(default_factory=dict)
    topic_partitions: int = 4
    data_dir: Path = Path(".cache/faust")
    session_timeout: float = 10.0
    batch_max: int = 4000
    batch_within: float = 0.2
    replay_point: ReplayPoint = field(default_factory=lambda: ReplayPoint("earliest"))
    liveness_timeout: float = 120.0
    test_crash_at: str = ""  # test-only fault injection (streams.faults)
    # (vendor, raw topic) of each helpdesk connector whose payloads the worker normalizes
    connectors: tuple[tuple[str, str], ...] = ()

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topic_tickets, self.topic_chats)
