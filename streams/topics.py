"""Topic administration with kafka-python: create the product's topics if missing."""

from __future__ import annotations

import contextlib
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.config import StreamConfig

log = logging.getLogger(__name__)


def ensure_topics(cfg: StreamConfig) -> list[str]:
    """Create input, DLQ and alert topics; returns the names that were created."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap,
                             client_id=f"{cfg.app_id}-admin",
                             **cfg.kafka.kafka_python_options())
    try:
        existing = set(admin.list_topics())
        wanted = [cfg.topic_tickets, cfg.topic_chats, cfg.topic_dlq, cfg.topic_alerts]
        new = [NewTopic(t, cfg.topic_partitions if t in cfg.input_topics else 1, 1)
               for t in wanted if t not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
            log.info("created topics %s", [t.name for t in new])
        return [t.name for t in new]
    finally:
        admin.close()
