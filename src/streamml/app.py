"""Faust wiring of the trainer: :func:`build_app` lists every agent; the stages live
elsewhere.

The trainer learns from ``fraud-training`` and ``emotion-training`` (one partition each,
so one trainer per group; a model per task) in group ``<app id>-trainer``. The scorer
role runs on :mod:`streamml.engine` (``docs/adr/0015-scorer-on-librdkafka.md``).
"""

from __future__ import annotations

import logging
import ssl
from typing import Any

import faust

from streamml.agents import Router
from streamml.emit import Emitter
from streamml.follow import latest_snapshots
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.registry import ModelRegistry, RegistryPublisher
from streamml.settings import Settings
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


def build_app(settings: Settings) -> faust.App:
    """A Faust app with the trainer's agents (the scorer runs on :mod:`streamml.engine`)."""
    app = _faust_app(settings, settings.trainer_group)
    _register_trainer(Router(app), settings)
    return app


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
