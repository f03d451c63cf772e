"""Topic administration with kafka-python: create the product's topics if missing."""

from __future__ import annotations

import contextlib
import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from streams.config import StreamConfig
from streams.errors import StreamError

log = logging.getLogger(__name__)

# the marks topic keeps the newest mark of each partition (streams.marks)
COMPACTED = {"cleanup.policy": "compact", "segment.ms": str(3_600_000)}


def ensure_topics(cfg: StreamConfig) -> list[str]:
    """Create input, DLQ, alert and connectors' raw topics; returns the names that were
    created. Input topics that exist with different partition counts are refused
    (:class:`StreamError`): a conversation's events must share one partition number
    whichever topic carries them, because its state lives in that partition's slot
    (:mod:`windows.keys`)."""
    admin = KafkaAdminClient(bootstrap_servers=cfg.kafka.bootstrap,
                             client_id=f"{cfg.app_id}-admin",
                             **cfg.kafka.kafka_python_options())
    try:
        existing = set(admin.list_topics())
        raw = [t for _, t in cfg.connectors]
        wanted = [cfg.topic_tickets, cfg.topic_chats, cfg.topic_dlq, cfg.topic_alerts,
                  cfg.topic_marks, *raw, *cfg.applied_topics[2:]]
        new = [NewTopic(t, cfg.topic_partitions if t in (*cfg.applied_topics, *raw) else 1, 1,
                        topic_configs=COMPACTED if t == cfg.topic_marks else {})
               for t in wanted if t not in existing]
        if new:
            with contextlib.suppress(TopicAlreadyExistsError):
                admin.create_topics(new)
            log.info("created topics %s", [t.name for t in new])
        _check_copartitioned(admin, cfg)
        return [t.name for t in new]
    finally:
        admin.close()


def _check_copartitioned(admin: KafkaAdminClient, cfg: StreamConfig) -> None:
    counts = {d.get("name") or d.get("topic"): len(d.get("partitions") or ())
              for d in admin.describe_topics(list(cfg.applied_topics))}
    customers = counts.get(cfg.topic_customers, 0) if cfg.topic_customers else 0
    if customers and customers != cfg.topic_partitions:
        raise StreamError(
            f"{cfg.topic_customers} has {customers} partitions, not SUPPORT_TOPIC_PARTITIONS="
            f"{cfg.topic_partitions}: the workers place each customer's contacts by that "
            "count; set SUPPORT_TOPIC_PARTITIONS to it, or name a new topic in "
            "SUPPORT_TOPIC_CUSTOMERS")
    tickets, chats = counts.get(cfg.topic_tickets, 0), counts.get(cfg.topic_chats, 0)
    if tickets and chats and tickets != chats:
        raise StreamError(
            f"{cfg.topic_tickets} has {tickets} partitions and {cfg.topic_chats} has {chats}: "
            "the input topics must have the same count (a conversation's events share a "
            "partition number); add partitions to the smaller one "
            "(SUPPORT_TOPIC_TICKETS / SUPPORT_TOPIC_CHATS name them)")
