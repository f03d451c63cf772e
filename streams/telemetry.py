"""Per-process worker metrics (batch latency, redeliveries, Redis reachability).

Registered on a registry passed in: no module-level metrics on the global registry.
The global, per-floor counters (processed, rejected, …) live in Redis instead, so every
replica's /metrics shows the same numbers.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from streams.health import StoreHealth


class WorkerTelemetry:
    def __init__(self, registry: CollectorRegistry, store: StoreHealth | None = None) -> None:
        self.batch_seconds = Histogram(
            "support_batch_duration_seconds",
            "Time to validate and apply one partition batch to Redis (this worker).",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
            registry=registry,
        )
        self.batch_events = Histogram(
            "support_batch_events",
            "Messages per applied partition batch (this worker).",
            buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000),
            registry=registry,
        )
        self.redelivered = Counter(
            "support_redelivered_messages",
            "Messages at or below the stored offset watermark, skipped (this worker).",
            registry=registry,
        )
        self.dlq_sent = Counter(
            "support_dlq_messages",
            "Messages this worker wrote to the dead-letter topic, by reason.",
            ["reason"],
            registry=registry,
        )
        self.connector_payloads = Counter(
            "support_connector_payloads",
            "Vendor webhook payloads the normalizer agents read, by vendor and outcome: "
            "mapped (one or more events), skipped (nothing a KPI needs), dead_lettered.",
            ["vendor", "outcome"],
            registry=registry,
        )
        self.store_retries = Counter(
            "support_store_retries",
            "Batches retried, unacknowledged, by reason: redis_unavailable, conflict (other "
            "writers kept moving the batch's keys), dlq_unavailable (this worker).",
            ["reason"],
            registry=registry,
        )
        self.worker_redis_up = Gauge(
            "support_worker_redis_up",
            "1 when this worker's last Redis call succeeded; 0 while it waits on a store that "
            "is down, loading, read-only or out of memory.",
            registry=registry,
        )
        self.worker_redis_up.set(1)
        self.store = store or StoreHealth()
        self.store.bind(self.worker_redis_up)
        self.consumer_lag = Gauge(
            "support_consumer_lag_messages",
            "Messages in the partition after the last batch this worker applied.",
            ["topic", "partition"],
            registry=registry,
        )
        self.commit_backlog = Gauge(
            "support_commit_backlog",
            "Entries of this worker's commit bookkeeping: batches delivered and not yet "
            "committed, and offsets Faust keeps for the other topics. Bounded by the stream "
            "buffer whatever the uptime; a number that keeps growing means commits stopped.",
            registry=registry,
        )
        self.restarts = Gauge(
            "support_worker_restarts",
            "Times this worker restarted itself in place (store lost, no progress) since "
            "it was started.",
            registry=registry,
        )
