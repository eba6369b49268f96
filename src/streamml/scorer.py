"""The scorer role: the fraud and text stages on the engine, following the served models.

:class:`Scorer` lists every route (input topic → stage handler, with the tables the
handler keeps by partition) and the model followers; :meth:`Scorer.run` runs them in
consumer group ``app_id`` until stopped. Scorers scale out: every process of the group
takes a share of the partitions, and the tables' state moves with them (changelogs).
"""

from __future__ import annotations

import gc
import logging
import threading

from streamml import metrics
from streamml.admin import ensure_changelogs
from streamml.emit import Emitter
from streamml.engine import ChangelogTable, EngineOptions, Route, StreamEngine
from streamml.follow import SnapshotFollower, latest_snapshots
from streamml.fraud_flow import CustomerStage, TerminalStage
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.process import TextStage
from streamml.registry import ModelRegistry, RegistryFollower, ServingPolicy
from streamml.score import EmotionScorer, FraudScorer
from streamml.settings import Settings, Topics
from streamml.snapshots import Snapshot

logger = logging.getLogger(__name__)

TABLES = ("fraud-customers", "fraud-sessions", "fraud-terminals")


def changelog_of(app_id: str, table: str) -> str:
    """The compacted topic holding ``table``'s state for scorers of group ``app_id``."""
    return f"{app_id}-{table}-changelog"


def table_sources(topics: Topics) -> dict[str, str]:
    """Each table and the input topic whose partitions it follows: a key's state lives in
    the partition its records are keyed to (cards by customer, terminals by terminal)."""
    return {
        "fraud-customers": topics.transactions,
        "fraud-sessions": topics.transactions,
        "fraud-terminals": topics.fraud_enriched,
    }


class Scorer:
    """The scoring stages in one consumer group, and the threads that swap their models."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        topics, emitter = settings.topics, Emitter(settings.topics, settings.output_format)
        tables = {
            name: ChangelogTable(name, changelog_of(settings.app_id, name)) for name in TABLES
        }
        customers_t, sessions_t, terminals_t = (tables[name] for name in TABLES)
        self.fraud = FraudScorer(fraud_model())
        self.emotion = EmotionScorer(
            emotion_model, settings.emotion_tasks, settings.emotion_default_taxonomy
        )
        self.customers = CustomerStage(emitter, topics, customers_t, sessions_t)
        self.terminals = TerminalStage(emitter, topics, terminals_t, self.fraud, self._pending())
        self.texts = TextStage(
            emitter, topics, self.emotion, settings.emotion_tasks, self._pending()
        )
        self.routes = [
            Route(topics.transactions, self.customers.on_transaction, (customers_t, sessions_t)),
            Route(topics.fraud_customer_frauds, self.customers.on_card_fraud, (customers_t,)),
            Route(topics.fraud_enriched, self.terminals.on_enriched, (terminals_t,)),
            Route(topics.fraud_labels, self.terminals.on_label, (terminals_t,)),
            Route(topics.texts, self.texts.on_text),
            Route(topics.emotion_labels, self.texts.on_label),
        ]
        self.tables = list(tables.values())
        self.engine = StreamEngine(
            EngineOptions(
                group=settings.app_id,
                client_config=settings.kafka_client_config(),
                exactly_once=settings.exactly_once,
            ),
            self.routes,
            on_tick=self._report,
        )

    def _pending(self) -> PendingFeatures:
        s = self.settings
        return PendingFeatures(s.pending_features_ttl_seconds, s.pending_features_max)

    def run(self, stopping: threading.Event) -> None:
        """Create the changelogs, follow the models, and score until ``stopping`` is set."""
        ensure_changelogs(self.settings, self.engine.changelog_sources())
        followers = self._followers()
        # What is loaded by now (modules, the served models) lives as long as the process:
        # leave it out of every later collection, or each full one scans it (it paused a
        # scorer for 100-400 ms at a time).
        gc.collect()
        gc.freeze()
        try:
            self.engine.run(stopping)
        finally:
            for follower in followers:
                follower.stop()

    def _followers(self) -> list[SnapshotFollower | RegistryFollower]:
        # Both followers go through one policy: a version pinned in the registry wins
        # over newer snapshots on the topic (ADR 0010).
        serving = ServingPolicy(self._swap)
        started: list[SnapshotFollower | RegistryFollower] = []
        if self.settings.lake_url is not None:
            key = self.settings.model_signing_key.get_secret_value().encode()
            registry = ModelRegistry(self.settings.lake(), key)
            tasks = [self.fraud.task, *self.emotion.models]
            pointers = RegistryFollower(
                registry, tasks, serving, self.settings.registry_poll_seconds
            )
            pointers.poll()  # pins first, then the topic's replay
            pointers.start()
            started.append(pointers)
        # The newest snapshots before the first record: a restarted scorer never scores
        # with an untrained model while a trained one exists.
        for snapshot in latest_snapshots(self.settings).values():
            serving.offer(snapshot)
        follower = SnapshotFollower(self.settings, serving.offer)
        follower.start()
        started.append(follower)
        return started

    def _swap(self, snapshot: Snapshot) -> None:
        if snapshot.task == self.fraud.task:
            self.fraud.swap(snapshot.model(), snapshot.name)
        elif snapshot.task in self.emotion.models:
            self.emotion.swap(snapshot.task, snapshot.model(), snapshot.name)
        else:
            return
        metrics.MODEL_VERSION.labels(snapshot.task, "scorer").set(snapshot.version)
        logger.info("scoring with %s (%d examples)", snapshot.name, snapshot.examples)

    def _report(self) -> None:
        counts = self.customers.counts + self.terminals.counts + self.texts.counts
        logger.info(
            "scorer: %s; model %s; pending %d",
            dict(counts),
            self.fraud.version,
            len(self.terminals.pending),
        )
