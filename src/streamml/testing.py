"""Public test fakes: the worker's stages wired together in memory, no Kafka.

:class:`InMemoryWorker` routes every output of a stage to the stage that consumes its
topic, depth first, exactly as the agents do through Kafka (with one partition), and
collects what leaves the worker (predictions, dead letters, snapshots).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from typing import Any

from streamml.emit import Emitter, Output
from streamml.fraud_flow import CustomerStage, TerminalStage
from streamml.learn import PendingFeatures
from streamml.models.emotion import emotion_model
from streamml.models.fraud import fraud_model
from streamml.process import TextStage
from streamml.records import Origin
from streamml.score import EmotionScorer, FraudScorer
from streamml.settings import Settings
from streamml.snapshots import verify
from streamml.train import TrainerStage, new_trainers

Handle = Callable[[bytes | None, Origin, bytes | None], list[Output]]


class InMemoryWorker:
    """Every stage of a worker (role ``all``) with dict states and synchronous routing."""

    def __init__(self, settings: Settings, model_factory: Callable[[], Any] = fraud_model) -> None:
        topics = settings.topics
        emitter = Emitter(topics, settings.output_format)
        ttl, size = settings.pending_features_ttl_seconds, settings.pending_features_max
        self.key = settings.model_signing_key.get_secret_value().encode()
        self.customer_states: dict[str, bytes] = {}
        self.terminal_states: dict[str, bytes] = {}
        self.session_states: dict[str, bytes] = {}
        self.customers = CustomerStage(emitter, topics, self.customer_states, self.session_states)
        self.scorer = FraudScorer(model_factory())
        self.terminals = TerminalStage(
            emitter, topics, self.terminal_states, self.scorer, PendingFeatures(ttl, size)
        )
        tasks = settings.emotion_tasks
        self.emotion = EmotionScorer(emotion_model, tasks, settings.emotion_default_taxonomy)
        self.texts = TextStage(emitter, topics, self.emotion, tasks, PendingFeatures(ttl, size))
        trainers = new_trainers(settings, model_factory, emotion_model)
        self.trainer = TrainerStage(emitter, trainers, topics.model_snapshots, self.key)
        self.routes: dict[str, Handle] = {
            topics.transactions: self.customers.on_transaction,
            topics.fraud_customer_frauds: self.customers.on_card_fraud,
            topics.fraud_enriched: self.terminals.on_enriched,
            topics.fraud_labels: self.terminals.on_label,
            topics.texts: self.texts.on_text,
            topics.emotion_labels: self.texts.on_label,
            topics.fraud_training: self.trainer.on_example,
            topics.emotion_training: self.trainer.on_example,
            topics.model_snapshots: self._swap,
        }
        self.outputs: dict[str, list[Output]] = defaultdict(list)
        self._offsets: dict[str, int] = defaultdict(int)

    def send(self, topic: str, value: bytes | None, key: bytes | None = None) -> None:
        """Deliver one message to ``topic`` and everything it causes, depth first."""
        offset = self._offsets[topic]
        self._offsets[topic] += 1
        self.outputs[topic].append(Output(topic, key, value or b""))
        handle = self.routes.get(topic)
        if handle is None:
            return
        for out in handle(value, Origin(topic, 0, offset), key):
            self.send(out.topic, out.value, out.key)

    def _swap(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        snapshot = verify(raw or b"", self.key)
        if snapshot.task == self.scorer.task:
            self.scorer.swap(snapshot.model(), snapshot.name)
        else:
            self.emotion.swap(snapshot.task, snapshot.model(), snapshot.name)
        return []
