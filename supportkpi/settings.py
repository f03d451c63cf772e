"""The one typed settings object, read from ``SUPPORT_*`` environment variables.

Every field has a documented default (see README "Configuration"); a bad value stops
start-up with a message naming the variable.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.errors import RulesError
from alerts.rules import Rule, Slo, parse_rules, parse_slos, read_rules_file
from connectors.base import Context
from kpi.calendars import NONE as NO_CALENDARS
from kpi.calendars import Calendars, load_calendars
from kpi.catalog import SERIES_PER_ROW, customer_series_per_row, live_series_per_row
from kpi.config import (
    ALL_DIMENSIONS,
    KpiConfig,
    dimension_sets_from_text,
    horizons_from_text,
    parse_duration_ms,
    sla_targets_from_text,
    windows_from_text,
)
from kpi.errors import ConfigError, describe_errors
from kpi.policies import NO_POLICIES, SlaPolicies, load_policies
from kpi.staffing import NO_STAFFING, Staffing, load_staffing
from streams.config import KafkaAccess, StreamConfig, memory_plan
from streams.replay_point import ReplayPoint
from streams.schema import SchemaConfig
from supportkpi.files import read_once
from supportkpi.queues import load_queues


class SettingsError(Exception):
    """Configuration is invalid; the message names the variable and the problem."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SUPPORT_", extra="ignore")

    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: str = Field("PLAINTEXT", description="PLAINTEXT, SSL, "
                                         "SASL_PLAINTEXT or SASL_SSL")
    kafka_sasl_mechanism: str = Field("SCRAM-SHA-512", description="PLAIN, SCRAM-SHA-256 or "
                                      "SCRAM-SHA-512 (with a SASL_* protocol)")
    kafka_username: str | None = Field(None, description="SASL user name")
    kafka_password: SecretStr | None = Field(None, description="SASL password (never logged)")
    kafka_ssl_cafile: Path | None = Field(None, description="CA bundle for SSL/SASL_SSL; "
                                          "the system's when unset")
    redis_url: str = Field("redis://127.0.0.1:6379/0", description="Redis URL (with a "
                           "cluster: any one node; the others are discovered)")
    redis_cluster: bool = Field(False, description="The Redis URL names a Redis Cluster "
                                "node: use the cluster-aware client (each Kafka partition's "
                                "keys share one slot, so partitions spread over the masters)")
    key_prefix: str = Field("support", description="Redis key prefix (in every hash tag)")
    app_id: str = Field("support-kpi", description="Faust app id = consumer group")
    topic_tickets: str = "support.tickets"
    topic_chats: str = "support.chats"
    topic_dlq: str = "support.dlq"
    topic_alerts: str = "support.alerts"
    topic_marks: str = Field("support.marks", description="Compacted topic of the store's "
                             "applied offsets, by which a Redis restored or rolled back while "
                             "no worker ran is noticed at start-up")
    topic_partitions: int = Field(4, ge=1, le=1024)
    windows: str = Field("5m,15m,1h,24h", description="Sliding windows, comma separated")
    buckets_per_window: int = Field(60, ge=1, le=1440)
    dimensions: str = Field(
        "all,queue,channel,queue*channel,team,priority",
        description="Dimension combinations exported; '*' joins dimensions",
    )
    frt_sla: str = Field("1h", description="Default first-response SLA target")
    frt_sla_targets: str = Field(
        "", description="Targets per priority and channel, e.g. 'urgent=15m,chat=2m,high:email=2h'"
    )
    sla_at_risk: str = Field("5m,15m", description="Predicted-breach horizons, comma "
                             "separated: a conversation is at risk within each when its "
                             "running SLA target falls due within it unless answered; the "
                             "longest is the wall's tile")
    calendars: Path | None = Field(None, description="Business calendars YAML per queue "
                                   "(deploy/calendars.yml): business-time durations and "
                                   "SLA clocks; unset: calendar time only")
    sla_policies: Path | None = Field(None, description="SLA policies YAML "
                                      "(deploy/sla_policies.yml): first reply, next reply "
                                      "and resolution targets per priority/queue/channel")
    gauge_dimensions: str = Field("all,queue,channel,queue*channel",
                                  description="Dimension combinations of the live gauges")
    agent_allowlist: str = Field("", description="Agent ids that may appear as labels "
                                 "(comma separated); enables the 'agent' dimension")
    max_conversation_events: int = Field(200, ge=0, le=1_000_000, description="Events kept "
                                         "per conversation; past it the older messages "
                                         "fold into a summary (see docs/architecture.md) "
                                         "and a message older than the folded part is "
                                         "dropped as late; 0 keeps every event")
    max_dimension_values: int = Field(50, ge=1, le=10_000,
                                      description="Distinct values per dimension; more → other")
    max_series: int = Field(30_000, ge=1_000, le=2_000_000,
                            description="Series budget of /metrics across windows and "
                            "dimension combinations; the least busy combinations beyond it "
                            "fold into 'other' (support_series_folded)")
    reopen_window: str = Field("7d", description="A reopen within this retracts FCR")
    customer_kpis: bool = Field(False, description="Repeat contacts, customer FCR, channel "
                                "switching and contacts per customer from the events' "
                                "customer_id (docs/kpis.md, Customers); needs "
                                "SUPPORT_CUSTOMER_SECRET")
    customer_secret: SecretStr | None = Field(
        None, description="Key of the keyed hash (HMAC-SHA256) that stands for a customer_id "
        "everywhere after validation (at least 16 characters; never logged). Changing it "
        "makes every customer new")
    repeat_window: str = Field("7d", description="A completed conversation counts as "
                               "repeated when its customer starts another one within this; "
                               "a list (24h,7d) keeps the repeat contact rate within each "
                               "(label within), the longest also drives customer FCR, "
                               "channel switching and contacts per customer")
    topic_customers: str = Field("support.customers", description="Repartition topic of the "
                                 "customer path (contacts partitioned by the customer hash)")
    customer_process: bool = Field(True, description="With the customer KPIs on, run the "
                                   "customers agent in a process of its own, started and "
                                   "watched by the worker (a second core for the customer "
                                   "path); off: on the worker's event loop beside the main "
                                   "agents")
    topic_agents: str = Field("support.agents", description="Agent events (schema v1.3), "
                              "keyed by agent_id; empty: no agents path")
    staffing: Path | None = Field(None, description="Staffing targets YAML per queue "
                                  "(deploy/staffing.yml); unset: 80% within 20 s")
    staffing_window: str = Field("15m", description="The window (one of SUPPORT_WINDOWS) "
                                 "the staffing need reads")
    staffing_min_contacts: int = Field(5, ge=1, description="Handle times the staffing need "
                                       "rests on, at least")
    fcr_definition: Literal["project", "zendesk_one_touch", "intercom_one_teammate",
                            "freshservice", "customer"] = Field(
        "project", description="What resolved at first contact means (docs/kpis.md): "
        "project (one human reply, no escalation, no reopen), zendesk_one_touch, "
        "intercom_one_teammate, freshservice, or customer (no repeat contact of the "
        "customer within SUPPORT_REPEAT_WINDOW; needs SUPPORT_CUSTOMER_KPIS)")
    service_level: Literal["first_response", "amazon_connect", "talkdesk"] = Field(
        "first_response", description="What the service level (support_first_response_"
        "sla_ratio) counts (docs/kpis.md): first_response, amazon_connect (Service level "
        "X) or talkdesk")
    short_abandon: str = Field("10s", description="talkdesk service level: conversations "
                               "abandoned within this are left out")
    escalation_includes_handoffs: bool = Field(False, description="Count bot-to-human "
                                               "handoffs as escalations (they are always "
                                               "support_chat_handoff_ratio)")
    count_bot_replies: bool = Field(False, description="Count bot replies as first response")
    csat_satisfied_min: float = Field(4.0, description="CSAT score counted as satisfied")
    allowed_lateness: str = Field("1h", description="Events older than the partition's "
                                  "event-time watermark minus this are dropped as late")
    max_future_skew: str = Field("5m", description="Events further in the future go to the DLQ")
    conversation_ttl: str = Field("8d", description="Conversation state (dedupe ids) TTL")
    bucket_ttl_margin: str = Field("10m", description="Extra life of a bucket after the "
                                   "longest window that reads it; how long a replayed "
                                   "past stays readable at 5 s and 1 min")
    max_message_bytes: int = Field(65_536, ge=256)
    redis_timeout: float = Field(5.0, gt=0, le=120, description="Seconds before a Redis "
                                 "call or connection attempt counts as failed (then retried)")
    batch_max: int = Field(4000, ge=1, description="Max events per batch (one script call)")
    batch_within: float = Field(0.2, gt=0, description="Max seconds to wait filling a batch")
    memory_budget_mb: int = Field(
        512, ge=256, le=65_536, description="Memory a worker may use (MiB): sizes its record "
        "buffers and its cache of conversation views so that it stays within it in a "
        "catch-up; give the container this plus headroom (docs/operations.md, Sizing)")
    session_timeout: float = Field(10.0, ge=6, le=300, description="Seconds before a dead "
                                   "worker's partitions move to a live one")
    replay_from: str = Field("earliest", description="Where windows are rebuilt from when "
                             "Redis is new or lost its data: earliest (all Kafka retains), "
                             "committed (the group's offsets; reported incomplete) or a "
                             "duration such as 24h")
    liveness_timeout: float = Field(120.0, ge=0, description="Seconds a partition may stay "
                                    "behind Kafka without progress before the worker "
                                    "restarts itself in place; 0 turns the check off")
    shutdown_timeout: float = Field(30.0, gt=0, le=600, description="Seconds a stop may "
                                    "take (e.g. while the broker is down) before the worker "
                                    "exits anyway; Redis keeps what was applied")
    metrics_host: str = Field("127.0.0.1", description="Bind address of /metrics")
    http_token: SecretStr | None = Field(None, description="When set, /metrics, /wall and "
                                         "/api need it as a bearer token or as the basic "
                                         "auth password")
    metrics_port: int = Field(9464, ge=0, le=65535)
    metrics_cache: float = Field(5.0, ge=0, le=300, description="Seconds a full /metrics "
                                 "render that took over 0.1 s (a large floor) is shared "
                                 "between scrapes, rendered again ahead of expiry while "
                                 "scrapes come; set it to Prometheus' scrape interval; 0: "
                                 "every scrape renders")
    data_dir: Path = Field(Path(".cache/faust"), description="Faust data directory")
    log_level: str = Field("info")
    test_crash_at: str = Field("", description="Test-only fault injection: 'after_write:N' "
                               "exits at once after the N-th batch reached Redis (before "
                               "Kafka acks it); 'before_write:N' commits the N-th batch to "
                               "Kafka and exits before writing it to Redis; 'stall:N' "
                               "hangs the N-th batch forever (a wedged consumer)")
    wall_stale_after: float = Field(30.0, gt=0, description="Seconds without an applied "
                                    "event before the wall shows STALE")
    wall_min_samples: int = Field(20, ge=0, le=1_000_000, description="Below this many "
                                  "samples a wall tile or cell is greyed and says n = N")
    wall_push_interval: float = Field(2.0, gt=0, description="Seconds between wall updates")
    wall_process: bool = Field(True, description="Compute the wall's snapshots in a helper "
                               "process, off the stream's interpreter lock (false: on the "
                               "HTTP thread)")
    wall_max_streams: int = Field(256, ge=1, le=100_000, description="Live wall streams "
                                  "served at once (all share one snapshot per window); "
                                  "more get 503 with Retry-After")
    read_clock: Literal["wall", "event"] = Field(
        "wall", description="Where /metrics, the wall and the alert evaluator end their "
        "windows: the wall clock (live floors) or the event clock (a replay of yesterday "
        "shows yesterday)")
    catch_up_after: str = Field("10m", description="The worker is catching up (history "
                                "never pages) while the event clock trails the wall clock "
                                "by more than this")
    alert_rules: Path | None = Field(None, description="Alert rules YAML (deploy/alerts.yml)")
    alertmanager_url: str | None = Field(None, description="Alertmanager base URL")
    alert_webhook_url: str | None = Field(None, description="Plain webhook for transitions")
    public_url: str = Field("", description="Where people open the wall (e.g. "
                            "https://kpi.example.com): the generator URL of in-stream "
                            "alerts; default http://<metrics host>:<metrics port>")
    alert_interval: float = Field(5.0, gt=0, le=300, description="Seconds between evaluations")
    alert_resend: float = Field(60.0, gt=0, description="Re-send firing alerts this often (s)")

    connectors: str = Field("", description="Helpdesk connectors, comma separated "
                            "(chatwoot, freshdesk, intercom, zendesk): the worker "
                            "normalizes each one's raw topic and `support-kpi intake` "
                            "serves its /webhooks/<vendor>")
    topic_raw_prefix: str = Field("support.raw", description="Raw webhook topics: "
                                  "<prefix>.<vendor>")
    queues: Path | None = Field(None, description="YAML naming the helpdesks' queues by "
                                "their ids (docs/connectors.md); unnamed: group-<id>")
    chatwoot_account: str = Field("", description="Namespace of Chatwoot's conversation "
                                  "ids (its account id), for more than one account in a store")
    zendesk_account: str = Field("", description="Namespace of Zendesk's ticket ids")
    freshdesk_account: str = Field("", description="Namespace of Freshdesk's ticket ids")
    intercom_account: str = Field("", description="Namespace of Intercom's conversation "
                                  "ids (its app id)")
    chatwoot_webhook_secret: SecretStr | None = Field(
        None, description="The Chatwoot webhook's secret (X-Chatwoot-Signature)")
    freshdesk_webhook_secret: SecretStr | None = Field(
        None, description="The token Freshdesk's automation webhooks send in their "
                          "X-Support-Kpi-Token header (Freshdesk does not sign webhooks)")
    intercom_webhook_secret: SecretStr | None = Field(
        None, description="The Intercom app's client secret (X-Hub-Signature)")
    zendesk_webhook_secret: SecretStr | None = Field(
        None, description="The Zendesk webhook's signing secret (X-Zendesk-Webhook-Signature)")
    intake_host: str = Field("127.0.0.1", description="Bind address of the webhook intake")
    intake_port: int = Field(9465, ge=0, le=65535, description="Port of the webhook intake")
    intake_max_body: int = Field(1_048_576, ge=1024, le=16_777_216, description="Largest "
                                 "webhook body accepted (bytes); larger gets 413")
    intake_ack_timeout: float = Field(10.0, gt=0, le=120, description="Seconds to wait for "
                                      "Kafka's ack of a webhook before answering 503")

    @field_validator("connectors")
    @classmethod
    def _connectors(cls, v: str) -> str:
        from connectors.registry import VENDORS

        for name in _names(v):
            if name not in VENDORS:
                raise ValueError(f"unknown connector {name!r}; known: {', '.join(VENDORS)}")
        return v

    def connector_topics(self) -> tuple[tuple[str, str], ...]:
        """(vendor, raw topic) of each configured connector."""
        return tuple((n, f"{self.topic_raw_prefix}.{n}") for n in _names(self.connectors))

    def connector_context(self, vendor: str) -> Context:
        """What the vendor's mapping needs besides the payload (connectors.base.Context):
        its account namespace and the queue names of SUPPORT_QUEUES."""
        names = load_queues(self.queues).get(vendor, {}) if self.queues else {}
        return Context(account=str(getattr(self, f"{vendor}_account", "") or ""),
                       queues=names)

    def webhook_secrets(self) -> dict[str, str]:
        """Each configured connector's secret; a connector without one is a start-up error
        of the intake (an unsigned endpoint would take anyone's events)."""
        out = {}
        for name in _names(self.connectors):
            secret = getattr(self, f"{name}_webhook_secret", None)
            if secret is None:
                raise SettingsError(f"SUPPORT_{name.upper()}_WEBHOOK_SECRET is not set: the "
                                    f"{name} webhook endpoint needs the secret its "
                                    "signatures are checked with")
            out[name] = secret.get_secret_value()
        return out

    @field_validator("queues")
    @classmethod
    def _queues(cls, v: Path | None) -> Path | None:
        if v is not None:
            load_queues(v)
        return v

    @field_validator("calendars", "sla_policies", "staffing")
    @classmethod
    def _files(cls, v: Path | None, info: ValidationInfo) -> Path | None:
        """Each file read and validated now: its mistake is a start-up error."""
        if v is not None:
            {"calendars": _calendars_of, "sla_policies": _policies_of,
             "staffing": _staffing_of}[str(info.field_name)](v)
        return v

    @model_validator(mode="after")
    def _staffing_window_is_a_window(self) -> Settings:
        names = ", ".join(w.name for w in windows_from_text(self.windows, 1))
        # unset, it follows the windows (KpiConfig.staffing_window); set, it must be one
        if "staffing_window" in self.model_fields_set and \
                self.staffing_window not in names.split(", "):
            raise ValueError(f"SUPPORT_STAFFING_WINDOW={self.staffing_window} is not one of "
                             f"SUPPORT_WINDOWS ({names}): set it to one of them")
        return self

    @field_validator("windows")
    @classmethod
    def _windows(cls, v: str) -> str:
        windows_from_text(v)
        return v

    @field_validator("sla_at_risk", "repeat_window")
    @classmethod
    def _horizons(cls, v: str) -> str:
        horizons_from_text(v)
        return v

    @field_validator("frt_sla", "reopen_window", "allowed_lateness",
                     "short_abandon",
                     "max_future_skew", "conversation_ttl", "bucket_ttl_margin", "catch_up_after")
    @classmethod
    def _durations(cls, v: str) -> str:
        parse_duration_ms(v)
        return v

    @field_validator("replay_from")
    @classmethod
    def _replay_from(cls, v: str) -> str:
        ReplayPoint.parse(v)
        return v

    def replay_point(self) -> ReplayPoint:
        return ReplayPoint.parse(self.replay_from)

    @field_validator("kafka_security_protocol")
    @classmethod
    def _protocol(cls, v: str) -> str:
        if v not in ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"):
            raise ValueError("expected PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL")
        return v

    @field_validator("kafka_sasl_mechanism")
    @classmethod
    def _mechanism(cls, v: str) -> str:
        if v not in ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"):
            raise ValueError("expected PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
        return v

    @field_validator("http_token")
    @classmethod
    def _token(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and not v.get_secret_value().strip():
            raise ValueError("is empty, which would leave /metrics and the wall open: set a "
                             "token, or unset the variable to serve without one")
        return v

    @model_validator(mode="after")
    def _sasl_needs_credentials(self) -> Settings:
        if self.kafka_security_protocol.startswith("SASL_") and not (
                self.kafka_username and self.kafka_password):
            raise ValueError(f"SUPPORT_KAFKA_SECURITY_PROTOCOL={self.kafka_security_protocol} "
                             "needs SUPPORT_KAFKA_USERNAME and SUPPORT_KAFKA_PASSWORD")
        return self

    @model_validator(mode="after")
    def _customers_need_a_secret(self) -> Settings:
        secret = self.customer_secret.get_secret_value() if self.customer_secret else ""
        if self.customer_kpis and len(secret.strip()) < 16:
            raise ValueError("SUPPORT_CUSTOMER_KPIS=true needs SUPPORT_CUSTOMER_SECRET, the "
                             "key of the customer ids' keyed hash (at least 16 characters, "
                             "e.g. from `openssl rand -hex 32`); or set "
                             "SUPPORT_CUSTOMER_KPIS=false")
        if self.fcr_definition == "customer" and not self.customer_kpis:
            raise ValueError("SUPPORT_FCR_DEFINITION=customer needs SUPPORT_CUSTOMER_KPIS=true "
                             "(and SUPPORT_CUSTOMER_SECRET): customer FCR follows customers "
                             "across conversations")
        return self

    def kafka_access(self) -> KafkaAccess:
        return KafkaAccess(
            bootstrap=self.kafka_bootstrap, security_protocol=self.kafka_security_protocol,
            sasl_mechanism=self.kafka_sasl_mechanism, username=self.kafka_username,
            password=self.kafka_password.get_secret_value() if self.kafka_password else None,
            ssl_cafile=str(self.kafka_ssl_cafile) if self.kafka_ssl_cafile else None)

    def stream_config(self, role: str = "all") -> StreamConfig:
        """The plain values the stream side is built from (``role``: StreamConfig.role)."""
        return StreamConfig(
            app_id=self.app_id, kafka=self.kafka_access(), redis_url=self.redis_url,
            key_prefix=self.key_prefix, topic_tickets=self.topic_tickets,
            topic_chats=self.topic_chats, topic_dlq=self.topic_dlq,
            topic_alerts=self.topic_alerts, topic_marks=self.topic_marks,
            kpi=self.kpi_config(),
            schema=self.schema_config(), redis_options=self.redis_options(),
            topic_partitions=self.topic_partitions, data_dir=self.data_dir,
            session_timeout=self.session_timeout, batch_max=self.batch_max,
            batch_within=self.batch_within, replay_point=self.replay_point(),
            liveness_timeout=self.liveness_timeout, test_crash_at=self.test_crash_at,
            connectors=self.connector_topics(),
            contexts={name: self.connector_context(name) for name, _ in self.connector_topics()},
            memory=memory_plan(self.memory_budget_mb, self.batch_max),
            topic_customers=self.topic_customers if self.customer_kpis else "",
            topic_agents=self.topic_agents, role=role)

    @property
    def customers_apart(self) -> bool:
        """Whether the customers agent runs in a process of its own."""
        return self.customer_kpis and self.customer_process

    def read_options(self) -> dict[str, Any]:
        """How the read side tells time (windows.reader.ReadTime) and its series budget:
        rows per window (and live rows) so that every window's series fit in it."""
        cfg = self.kpi_config()
        customers = customer_series_per_row(len(cfg.repeat_windows)) if cfg.customer_kpis \
            else 0
        per_row = len(cfg.windows) * (SERIES_PER_ROW + customers) + live_series_per_row(
            len(cfg.at_risk_ms))
        return {"catch_up_ms": parse_duration_ms(self.catch_up_after),
                "event_windows": self.read_clock == "event",
                "max_rows": max(1, self.max_series // per_row)}

    def redis_options(self) -> dict[str, Any]:
        """Options of every Redis client of the worker: without timeouts a stopped (not
        closed) Redis would hang a call forever instead of failing into the retry path."""
        return {"socket_timeout": self.redis_timeout,
                "socket_connect_timeout": self.redis_timeout, "cluster": self.redis_cluster}

    def kafka_python_options(self) -> dict[str, Any]:
        """Security options for kafka-python clients (admin, simulator, replay)."""
        return self.kafka_access().kafka_python_options()

    @field_validator("test_crash_at")
    @classmethod
    def _crash(cls, v: str) -> str:
        if v:
            point, _, n = v.partition(":")
            if point not in ("after_write", "before_write", "stall") or not n.isdigit() \
                    or int(n) < 1:
                raise ValueError("expected 'after_write:N', 'before_write:N' or 'stall:N' "
                                 "with N >= 1")
        return v

    @field_validator("dimensions", "gauge_dimensions")
    @classmethod
    def _dims(cls, v: str) -> str:
        for ds in dimension_sets_from_text(v):
            for d in ds:
                if d not in ALL_DIMENSIONS:
                    known = ", ".join(ALL_DIMENSIONS)
                    raise ValueError(f"unknown dimension {d!r} (known: {known})")
        return v

    @field_validator("frt_sla_targets")
    @classmethod
    def _targets(cls, v: str) -> str:
        sla_targets_from_text(v)
        return v

    def kpi_config(self) -> KpiConfig:
        return KpiConfig(
            windows=windows_from_text(self.windows, self.buckets_per_window),
            dimension_sets=dimension_sets_from_text(self.dimensions),
            frt_sla_ms=parse_duration_ms(self.frt_sla),
            at_risk_ms=horizons_from_text(self.sla_at_risk),
            frt_sla_targets=sla_targets_from_text(self.frt_sla_targets),
            gauge_dimension_sets=dimension_sets_from_text(self.gauge_dimensions),
            agent_allowlist=frozenset(a.strip() for a in self.agent_allowlist.split(",")
                                      if a.strip()),
            max_dimension_values=self.max_dimension_values,
            max_conversation_events=self.max_conversation_events,
            reopen_window_ms=parse_duration_ms(self.reopen_window),
            customer_kpis=self.customer_kpis,
            repeat_window_ms=horizons_from_text(self.repeat_window)[-1],
            repeat_also_ms=horizons_from_text(self.repeat_window)[:-1],
            fcr_definition=self.fcr_definition,
            service_level_definition=self.service_level,
            short_abandon_ms=parse_duration_ms(self.short_abandon),
            escalation_includes_handoffs=self.escalation_includes_handoffs,
            count_bot_replies=self.count_bot_replies,
            csat_satisfied_min=self.csat_satisfied_min,
            allowed_lateness_ms=parse_duration_ms(self.allowed_lateness),
            conversation_ttl_ms=parse_duration_ms(self.conversation_ttl),
            bucket_ttl_margin_ms=parse_duration_ms(self.bucket_ttl_margin),
            calendars=_calendars_of(self.calendars) if self.calendars else NO_CALENDARS,
            policies=_policies_of(self.sla_policies) if self.sla_policies else NO_POLICIES,
            agent_kpis=bool(self.topic_agents),
            staffing=replace(_staffing_of(self.staffing) if self.staffing else NO_STAFFING,
                             window=self.staffing_window,
                             min_contacts=self.staffing_min_contacts),
        )

    def schema_config(self) -> SchemaConfig:
        return SchemaConfig(
            max_message_bytes=self.max_message_bytes,
            max_future_skew_ms=parse_duration_ms(self.max_future_skew),
            customer_key=self.customer_secret.get_secret_value().encode()
            if self.customer_kpis and self.customer_secret else None,
        )

    @property
    def input_topics(self) -> tuple[str, str]:
        return (self.topic_tickets, self.topic_chats)


def _calendars_of(path: Path) -> Calendars:
    return read_once(load_calendars, path)


def _staffing_of(path: Path) -> Staffing:
    return read_once(load_staffing, path)


def _policies_of(path: Path) -> SlaPolicies:
    return read_once(load_policies, path)


def redact_url(url: str) -> str:
    """A URL fit for logs and error messages: its password replaced by ``***``."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment; raises :class:`SettingsError` with readable text."""
    try:
        s = Settings(**overrides)  # type: ignore[arg-type]
        s.kpi_config()
        return s
    except ValidationError as exc:
        # a check across settings (a model validator) has no field: its text names them
        lines = [f"SUPPORT_{'_'.join(loc).upper()}: {msg}" if loc else msg
                 for loc, msg in describe_errors(exc)]
        if len(lines) == 1:  # the usual case: one line naming the variable
            raise SettingsError(f"invalid configuration: {lines[0]}") from None
        raise SettingsError("invalid configuration:\n" + "\n".join(f"  {x}" for x in lines)
                            ) from None
    except ConfigError as exc:
        raise SettingsError(f"invalid configuration: {exc}") from None


def _names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def window_label_dims(settings: Settings) -> list[str]:
    """Label names (besides ``window``) of every windowed series, in export order."""
    return list(settings.kpi_config().storage_dimensions)


def gauge_label_dims(settings: Settings) -> list[str]:
    return list(settings.kpi_config().gauge_dimensions)


def load_alert_rules(settings: Settings) -> list[Rule]:
    """The configured rules, validated against the configured windows, dimensions and
    horizons; the file's SLOs are validated too, so a mistake in them stops the start."""
    return load_alerting(settings)[0]


def load_alerting(settings: Settings) -> tuple[list[Rule], list[Slo]]:
    """The threshold rules and the burn-rate SLOs of SUPPORT_ALERT_RULES."""
    if settings.alert_rules is None:
        return [], []
    cfg = settings.kpi_config()
    windows = [w.name for w in cfg.windows]
    try:
        text = read_rules_file(settings.alert_rules)
        source = str(settings.alert_rules)
        return (parse_rules(text, source, windows, list(cfg.dimension_sets),
                            list(cfg.gauge_dimension_sets), [h for h, _ in cfg.horizons],
                            [w for w, _ in cfg.repeat_windows]),
                parse_slos(text, source, windows, list(cfg.dimension_sets)))
    except RulesError as exc:
        raise SettingsError(str(exc)) from None
