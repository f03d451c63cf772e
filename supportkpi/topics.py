"""Topic administration with kafka-python: create the product's topics if missing."""

from __future__ import annotations

import contextlib
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from supportkpi.settings import Settings

log = logging.getLogger(__name__)


def ensure_topics(settings: Settings) -> list[str]:
    """Create input, DLQ and alert topics; returns the names that were created."""
    admin = KafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap,
                             client_id=f"{settings.app_id}-admin",
                             **settings.kafka_python_options())
    try:
        existing = set(admin.list_topics())
        wanted = [settings.topic_tickets, settings.topic_chats, settings.topic_dlq,
                  settings.topic_alerts]
        new = [NewTopic(t, settings.topic_partitions if t in settings.input_topics else 1, 1)
               for t in wanted if t not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
            log.info("created topics %s", [t.name for t in new])
        return [t.name for t in new]
    finally:
        admin.close()
