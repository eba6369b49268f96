"""Faust wiring: :func:`build_app` lists every agent; the stages live elsewhere."""

from __future__ import annotations

import logging
import ssl
from typing import Any

import faust

from streamml.agents import register_agents
from streamml.emit import Emitter
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.process import Processor
from streamml.score import EmotionScorer, FraudScorer
from streamml.settings import Settings

logger = logging.getLogger(__name__)


def build_processor(settings: Settings) -> Processor:
    """The synchronous per-record flow the agents drive."""
    return Processor(
        emitter=Emitter(settings.topics, settings.output_format),
        fraud=FraudScorer(fraud_model()),
        emotion=EmotionScorer(emotion_model, settings.emotion_default_taxonomy),
        pending=PendingFeatures(
            settings.pending_features_ttl_seconds, settings.pending_features_max
        ),
    )


def _broker_credentials(settings: Settings) -> Any:
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


def build_app(settings: Settings, processor: Processor | None = None) -> faust.App:
    """A Faust app consuming the input topics with every streamml agent registered."""
    brokers = [f"kafka://{host.strip()}" for host in settings.kafka_bootstrap_servers.split(",")]
    app = faust.App(
        settings.app_id,
        broker=brokers,
        broker_credentials=_broker_credentials(settings),
        store="memory://",
        autodiscover=False,
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        processing_guarantee="exactly_once" if settings.exactly_once else "at_least_once",
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        producer_acks=-1,
    )
    register_agents(app, settings, processor or build_processor(settings))
    return app
