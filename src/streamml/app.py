"""Faust wiring: :func:`build_app` lists every agent and table; the stages live elsewhere.

Roles: ``scorer`` (customer and terminal stages, texts; scales out in a consumer group),
``trainer`` (learns from ``fraud-training`` and ``emotion-training``, one partition each,
so one trainer per group; a model per task),
``all`` (both in one process, for the demo and small deployments).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from typing import Any

import faust

from streamml import metrics
from streamml.agents import Router
from streamml.emit import Emitter
from streamml.follow import SnapshotFollower, latest_snapshots
from streamml.fraud_flow import CustomerStage, TerminalStage
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.process import TextStage
from streamml.registry import ModelRegistry, RegistryFollower, RegistryPublisher, ServingPolicy
from streamml.score import EmotionScorer, FraudScorer
from streamml.settings import Settings
from streamml.snapshots import Snapshot
from streamml.train import Trainer, TrainerStage, new_trainers, resume_from_registry

logger = logging.getLogger(__name__)


def _broker_credentials(settings: Settings) -> Any:
    if settings.kafka_sasl_mechanism == "OAUTHBEARER":
        from faust.auth import OAuthCredentials

        from streamml.kafka_auth import FaustTokenProvider

        return OAuthCredentials(
            oauth_cb=FaustTokenProvider(settings.token_source()),
            ssl_context=_ssl_context(settings),
        )
    if settings.kafka_sasl_mechanism is not None:
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=_ssl_context(settings),
        )
    if settings.kafka_security_protocol == "SSL":
        return faust.SSLCredentials(_ssl_context(settings))
    return None


def _ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka_security_protocol not in ("SSL", "SASL_SSL"):
        return None
    cafile = str(settings.kafka_ssl_cafile) if settings.kafka_ssl_cafile else None
    return ssl.create_default_context(cafile=cafile)


def _faust_app(settings: Settings, app_id: str) -> faust.App:
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap_servers.split(",")]
    datadir = settings.state_dir / "faust" / app_id  # Faust's own files, not in the cwd
    datadir.mkdir(parents=True, exist_ok=True)
    return faust.App(
        app_id,
        broker=brokers,
        broker_credentials=_broker_credentials(settings),
        store="memory://",
        datadir=str(datadir),
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="exactly_once" if settings.exactly_once else "at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
        producer_max_request_size=16 * 1024 * 1024,
    )


def _table(app: faust.App, name: str, settings: Settings) -> Any:
    return app.Table(
        name,
        default=None,
        key_type=str,
        value_type=bytes,  # Faust stores bytes raw; the stage encodes its own state
        partitions=settings.topic_partitions,
    )


def build_app(settings: Settings) -> faust.App:
    """A Faust app with the agents of ``settings.role``."""
    app_id = settings.worker_group
    app = _faust_app(settings, app_id)
    router = Router(app)
    if settings.role in ("scorer", "all"):
        _register_scorer(app, router, settings)
    if settings.role in ("trainer", "all"):
        _register_trainer(router, settings)
    return app


def _register_scorer(app: faust.App, router: Router, settings: Settings) -> None:
    topics, emitter = settings.topics, Emitter(settings.topics, settings.output_format)

    def pending() -> PendingFeatures:
        return PendingFeatures(settings.pending_features_ttl_seconds, settings.pending_features_max)

    customers = CustomerStage(
        emitter,
        topics,
        _table(app, "fraud-customers", settings),
        _table(app, "fraud-sessions", settings),
    )
    scorer = FraudScorer(fraud_model())
    terminals = TerminalStage(
        emitter, topics, _table(app, "fraud-terminals", settings), scorer, pending()
    )
    emotion = EmotionScorer(
        emotion_model, settings.emotion_tasks, settings.emotion_default_taxonomy
    )
    texts = TextStage(emitter, topics, emotion, settings.emotion_tasks, pending())
    router.route(topics.transactions, customers.on_transaction)
    router.route(topics.fraud_customer_frauds, customers.on_card_fraud)
    router.route(topics.fraud_enriched, terminals.on_enriched)
    router.route(topics.fraud_labels, terminals.on_label)
    router.route(topics.texts, texts.on_text)
    router.route(topics.emotion_labels, texts.on_label)

    def swap(snapshot: Snapshot) -> None:
        if snapshot.task == scorer.task:
            scorer.swap(snapshot.model(), snapshot.name)
        elif snapshot.task in emotion.models:
            emotion.swap(snapshot.task, snapshot.model(), snapshot.name)
        else:
            return
        metrics.MODEL_VERSION.labels(snapshot.task, "scorer").set(snapshot.version)
        logger.info("scoring with %s (%d examples)", snapshot.name, snapshot.examples)

    # Both followers go through one policy: a version pinned in the registry wins over
    # newer snapshots on the topic (ADR 0010).
    serving = ServingPolicy(swap)
    follower = SnapshotFollower(settings, serving.offer)
    pointers: RegistryFollower | None = None
    if settings.lake_url is not None:
        registry = ModelRegistry(
            settings.lake(), settings.model_signing_key.get_secret_value().encode()
        )
        tasks = [scorer.task, *emotion.models]
        pointers = RegistryFollower(registry, tasks, serving, settings.registry_poll_seconds)

    @app.task  # type: ignore[untyped-decorator]
    async def start_following() -> None:
        if pointers is not None:
            await asyncio.to_thread(pointers.poll)  # pins first, then the topic's replay
            pointers.start()
        follower.start()

    @app.timer(interval=10.0)  # type: ignore[untyped-decorator]
    async def report_progress() -> None:
        counts = customers.counts + terminals.counts + texts.counts
        logger.info(
            "scorer: %s; model %s; pending %d", dict(counts), scorer.version, len(terminals.pending)
        )


def _register_trainer(router: Router, settings: Settings) -> None:
    key = settings.model_signing_key.get_secret_value().encode()
    trainers = _resumed_trainers(settings)
    publisher: RegistryPublisher | None = None
    if settings.lake_url is not None:
        registry = ModelRegistry(settings.lake(), key)
        resume_from_registry(registry, trainers)
        publisher = RegistryPublisher(registry)
    stage = TrainerStage(
        Emitter(settings.topics, settings.output_format),
        trainers,
        settings.topics.model_snapshots,
        key,
        publisher,
    )
    for topic in settings.topics.training():
        router.route(topic, stage.on_example)


def _resumed_trainers(settings: Settings) -> dict[str, Trainer]:
    """Each task's trainer, resumed from its newest snapshot on the topic if there is one."""
    found = new_trainers(settings, fraud_model, emotion_model)
    for task, latest in latest_snapshots(settings).items():
        if task in found:
            found[task].resume(latest)
    return found
