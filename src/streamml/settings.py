"""One frozen settings object, read once at the edge (``STREAMML_`` environment prefix).

Library code never reads the environment: entry points build :class:`Settings` and pass
it down.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

if TYPE_CHECKING:
    from streamml.kafka_auth import CachedToken
    from streamml.store import ObjectStore, S3Options

WireFormat = Literal["avro", "json"]
SinkFormat = Literal["avro", "parquet"]


def _default_cache_dir() -> Path:
    return Path.home() / ".cache" / "streamml"


@dataclass(frozen=True, slots=True)
class Topics:
    """Topic names, all derived from one optional prefix so deployments can share a cluster."""

    transactions: str
    texts: str
    fraud_labels: str
    emotion_labels: str
    fraud_predictions: str
    emotion_predictions: str
    dead_letters: str
    drift_alerts: str
    model_snapshots: str
    fraud_enriched: str
    fraud_training: str
    fraud_customer_frauds: str
    emotion_training: str

    @classmethod
    def with_prefix(cls, prefix: str) -> Topics:
        names = {
            "transactions": "transactions",
            "texts": "texts",
            "fraud_labels": "fraud-labels",
            "emotion_labels": "emotion-labels",
            "fraud_predictions": "fraud-predictions",
            "emotion_predictions": "emotion-predictions",
            "dead_letters": "dead-letters",
            "drift_alerts": "drift-alerts",
            "model_snapshots": "model-snapshots",
            "fraud_enriched": "fraud-enriched",
            "fraud_training": "fraud-training",
            "fraud_customer_frauds": "fraud-customer-frauds",
            "emotion_training": "emotion-training",
        }
        return cls(**{field: f"{prefix}{name}" for field, name in names.items()})

    def all(self) -> list[str]:
        return [
            self.transactions,
            self.texts,
            self.fraud_labels,
            self.emotion_labels,
            self.fraud_predictions,
            self.emotion_predictions,
            self.dead_letters,
            self.drift_alerts,
            self.model_snapshots,
            *self.internal(),
        ]

    def internal(self) -> list[str]:
        """Topics between the worker's own stages (customer → terminal → trainer, text
        scorer → trainer)."""
        return [
            self.fraud_enriched,
            self.fraud_training,
            self.fraud_customer_frauds,
            self.emotion_training,
        ]

    def inputs(self) -> list[str]:
        return [self.transactions, self.texts, self.fraud_labels, self.emotion_labels]

    def outputs(self) -> list[str]:
        return [
            self.fraud_predictions,
            self.emotion_predictions,
            self.dead_letters,
            self.drift_alerts,
        ]

    def scored(self) -> list[str]:
        """The scorers' inputs: the public ones and the fraud stages' own."""
        return [*self.inputs(), self.fraud_enriched, self.fraud_customer_frauds]

    def training(self) -> list[str]:
        """The trainer's inputs: one partition each, so one trainer sees every example."""
        return [self.fraud_training, self.emotion_training]


EMOTION6_LABELS = ("sadness", "joy", "love", "anger", "fear", "surprise")
EMOTION13_LABELS = (
    "anger",
    "boredom",
    "empty",
    "enthusiasm",
    "fun",
    "happiness",
    "hate",
    "love",
    "neutral",
    "relief",
    "sadness",
    "surprise",
    "worry",
)


class EmotionTask(BaseModel):
    """One label taxonomy: its own model, trainer and snapshots.

    ``labels`` are the classes expected (documentation, and the allowed set when
    ``closed``). An open task learns any new label when its first example arrives; a
    closed one dead-letters labels outside ``labels``.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    labels: tuple[str, ...] = ()
    closed: bool = False

    @model_validator(mode="after")
    def _closed_needs_labels(self) -> EmotionTask:
        if self.closed and not self.labels:
            raise ValueError("a closed task needs its labels")
        return self

    def allows(self, label: str) -> bool:
        return not self.closed or label in self.labels


def _default_emotion_tasks() -> dict[str, EmotionTask]:
    return {
        "emotion6": EmotionTask(labels=EMOTION6_LABELS),
        "emotion13": EmotionTask(labels=EMOTION13_LABELS),
    }


class Settings(BaseSettings):
    """Everything streamml can be told, with embedded defaults that run the local demo."""

    model_config = SettingsConfigDict(
        env_prefix="STREAMML_", frozen=True, extra="ignore", env_file=None
    )

    # Kafka connection (any Apache Kafka 3.x/4.x cluster, Amazon MSK included).
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    kafka_sasl_mechanism: (
        Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"] | None
    ) = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_ssl_cafile: Path | None = None
    # OAUTHBEARER: an OIDC client-credentials grant, or Amazon MSK IAM (the AWS chain).
    kafka_oauth_method: Literal["oidc", "msk-iam"] = "oidc"
    kafka_oauth_token_endpoint_url: str | None = None
    kafka_oauth_client_id: str | None = None
    kafka_oauth_client_secret: SecretStr | None = None
    kafka_oauth_scope: str | None = None
    kafka_msk_region: str | None = None

    # Topics.
    topic_prefix: str = ""
    topic_partitions: int = Field(default=3, ge=1)
    topic_replication_factor: int = Field(default=1, ge=1)
    # Broker configs for the topics streamml creates, e.g. {"min.insync.replicas": "2"}, or
    # {"retention.ms": "-1"} to replay history: Kafka deletes by record timestamp.
    topic_config: dict[str, str] = Field(default_factory=dict)

    # Worker.
    app_id: str = "streamml"
    worker_web_port: int = Field(default=6066, ge=1, le=65535)
    exactly_once: bool = False
    output_format: WireFormat = "avro"
    pending_features_ttl_seconds: float = Field(default=45 * 86400.0, gt=0)
    pending_features_max: int = Field(default=2_000_000, ge=1)
    emotion_tasks: dict[str, EmotionTask] = Field(default_factory=_default_emotion_tasks)
    emotion_default_taxonomy: str = "emotion6"
    role: Literal["all", "scorer", "trainer", "sink"] = "all"
    model_signing_key: SecretStr = SecretStr("streamml-development-key")
    snapshot_every_examples: int = Field(default=2000, ge=1)
    snapshot_every_seconds: float = Field(default=30.0, gt=0)

    # The lake: an object store for the sink and the model registry (off when unset).
    lake_url: str | None = None  # s3://bucket/prefix or file://path
    s3_endpoint_url: str | None = None  # MinIO, Ceph...; unset for AWS
    s3_region: str | None = None
    s3_access_key: str | None = None  # unset: the standard AWS credential chain
    s3_secret_key: SecretStr | None = None
    s3_server_side_encryption: Literal["AES256", "aws:kms"] | None = None
    s3_kms_key_id: str | None = None
    s3_timeout_seconds: float = Field(default=10.0, gt=0)  # connect and read, per request
    sink_enabled: bool = True  # with a lake_url: the worker lands the topics
    sink_topics: tuple[str, ...] = ()  # topic names without prefix; empty: inputs and outputs
    sink_format: SinkFormat = "parquet"
    sink_formats: dict[str, SinkFormat] = Field(default_factory=dict)  # per topic
    sink_max_records: int = Field(default=10_000, ge=1)
    sink_max_bytes: int = Field(default=8 * 1024 * 1024, ge=1024)
    sink_max_span_seconds: float = Field(default=3600.0, gt=0)
    sink_idle_seconds: float = Field(default=10.0, gt=0)
    drift_enabled: bool = True  # the trainer watches data, prediction and concept drift
    drift_challenger: bool = False  # on concept drift, train a challenger; promote if better
    challenger_window: int = Field(default=2_000, ge=50)  # examples it must win over
    registry_poll_seconds: float = Field(default=5.0, gt=0)

    # Metrics and health (GET /metrics, GET /healthz), one endpoint per process.
    metrics_enabled: bool = True
    metrics_host: str = "127.0.0.1"  # loopback unless told otherwise
    metrics_port: int = Field(default=9108, ge=0, le=65535)  # taken: a free one, logged
    health_stall_seconds: float = Field(default=120.0, gt=0)
    lag_interval_seconds: float = Field(default=15.0, gt=0)

    # Files.
    data_dir: Path = Path("../shared/datasets")
    cache_dir: Path = Field(default_factory=_default_cache_dir)
    state_dir: Path = Path(".streamml")

    # Local services (demo and machines without a container engine).
    kafka_port: int = Field(default=9092, ge=1, le=65535)
    kafka_controller_port: int = Field(default=9093, ge=1, le=65535)
    kafka_heap: str = "768m"
    minio_port: int = Field(default=9000, ge=1, le=65535)
    minio_bucket: str = "streamml"
    minio_root_user: str = "streamml"
    minio_root_password: SecretStr = SecretStr("streamml-secret")

    @model_validator(mode="after")
    def _oauth_is_complete(self) -> Settings:
        if self.kafka_sasl_mechanism != "OAUTHBEARER":
            return self
        if self.kafka_oauth_method == "msk-iam":
            if not self.kafka_msk_region:
                raise ValueError("STREAMML_KAFKA_MSK_REGION is needed for MSK IAM")
        elif not (
            self.kafka_oauth_token_endpoint_url
            and self.kafka_oauth_client_id
            and self.kafka_oauth_client_secret
        ):
            raise ValueError(
                "OAUTHBEARER with OIDC needs STREAMML_KAFKA_OAUTH_TOKEN_ENDPOINT_URL, "
                "STREAMML_KAFKA_OAUTH_CLIENT_ID and STREAMML_KAFKA_OAUTH_CLIENT_SECRET"
            )
        return self

    def token_source(self) -> CachedToken:
        """The OAUTHBEARER token source these settings name."""
        from streamml.kafka_auth import token_source

        secret = self.kafka_oauth_client_secret
        return token_source(
            self.kafka_oauth_method,
            endpoint=self.kafka_oauth_token_endpoint_url,
            client_id=self.kafka_oauth_client_id,
            client_secret=secret.get_secret_value() if secret else None,
            scope=self.kafka_oauth_scope,
            region=self.kafka_msk_region,
        )

    @model_validator(mode="after")
    def _default_taxonomy_is_a_task(self) -> Settings:
        if self.emotion_default_taxonomy not in self.emotion_tasks:
            raise ValueError(
                f"STREAMML_EMOTION_DEFAULT_TAXONOMY={self.emotion_default_taxonomy!r} is not "
                f"one of STREAMML_EMOTION_TASKS ({', '.join(sorted(self.emotion_tasks))})"
            )
        return self

    @property
    def trainer_group(self) -> str:
        """The trainer's Faust app id and consumer group (scorers' group is ``app_id``)."""
        return f"{self.app_id}-trainer"

    def s3_options(self) -> S3Options:
        from streamml.store import S3Options

        secret = self.s3_secret_key.get_secret_value() if self.s3_secret_key else None
        return S3Options(
            endpoint_url=self.s3_endpoint_url,
            region=self.s3_region,
            access_key=self.s3_access_key,
            secret_key=secret,
            server_side_encryption=self.s3_server_side_encryption,
            kms_key_id=self.s3_kms_key_id,
            timeout_seconds=self.s3_timeout_seconds,
        )

    def lake(self) -> ObjectStore:
        """The lake's store; a :class:`ConfigurationError` names the setting when unset."""
        from streamml.errors import ConfigurationError
        from streamml.store import open_store

        if self.lake_url is None:
            raise ConfigurationError(
                "STREAMML_LAKE_URL is not set (s3://bucket/prefix or file://path)"
            )
        return open_store(self.lake_url, self.s3_options())

    def sink_topic_names(self) -> list[str]:
        """Full names of the topics the sink lands."""
        topics = self.topics
        if self.sink_topics:
            return [f"{self.topic_prefix}{name}" for name in self.sink_topics]
        return [*topics.inputs(), *topics.outputs()]

    @property
    def topics(self) -> Topics:
        return Topics.with_prefix(self.topic_prefix)

    def kafka_client_config(self) -> dict[str, Any]:
        """librdkafka (confluent-kafka) connection properties."""
        config: dict[str, Any] = {
            "bootstrap.servers": self.kafka_bootstrap_servers,
            "security.protocol": self.kafka_security_protocol,
        }
        if self.kafka_sasl_mechanism is not None:
            config["sasl.mechanism"] = self.kafka_sasl_mechanism
        if self.kafka_sasl_username is not None:
            config["sasl.username"] = self.kafka_sasl_username
        if self.kafka_sasl_password is not None:
            config["sasl.password"] = self.kafka_sasl_password.get_secret_value()
        if self.kafka_ssl_cafile is not None:
            config["ssl.ca.location"] = str(self.kafka_ssl_cafile)
        if self.kafka_sasl_mechanism == "OAUTHBEARER":
            config.update(self._oauth_client_config())
        return config

    def _oauth_client_config(self) -> dict[str, Any]:
        if self.kafka_oauth_method == "msk-iam":
            from streamml.kafka_auth import msk_iam_oauth_cb

            return {"oauth_cb": msk_iam_oauth_cb(self.token_source())}
        secret = self.kafka_oauth_client_secret
        config: dict[str, Any] = {  # librdkafka fetches and refreshes OIDC tokens itself
            "sasl.oauthbearer.method": "oidc",
            "sasl.oauthbearer.token.endpoint.url": self.kafka_oauth_token_endpoint_url,
            "sasl.oauthbearer.client.id": self.kafka_oauth_client_id,
            "sasl.oauthbearer.client.secret": secret.get_secret_value() if secret else "",
        }
        if self.kafka_oauth_scope:
            config["sasl.oauthbearer.scope"] = self.kafka_oauth_scope
        return config
