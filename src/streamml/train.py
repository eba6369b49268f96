"""The trainer: learns from every labelled example, keeps prequential metrics and
publishes a signed snapshot every N examples or T seconds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from river import metrics

from streamml.emit import Emitter, Output
from streamml.internal import Example
from streamml.process import BaseStage
from streamml.records import Origin
from streamml.snapshots import Snapshot, sign, take

logger = logging.getLogger(__name__)


class Trainer:
    """Sequential learner of one task; its throughput bounds only the labelled traffic.

    Each example is first scored (prequential metrics: log loss, ROC AUC), then learned.
    :meth:`learn` returns a :class:`Snapshot` when one is due, else ``None``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> from streamml.models.fraud import fraud_model
    >>> trainer = Trainer("fraud", fraud_model(), every_examples=2, every_seconds=3600)
    >>> t = datetime(2018, 4, 1, tzinfo=UTC)
    >>> trainer.learn(Example("a", {"TX_AMOUNT": 5.0}, False, t, t)) is None
    True
    >>> trainer.learn(Example("b", {"TX_AMOUNT": 900.0}, True, t, t)).name
    'fraud-v1'
    """

    def __init__(
        self,
        task: str,
        model: Any,
        every_examples: int,
        every_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.task = task
        self.model = model
        self.every_examples = every_examples
        self.every_seconds = every_seconds
        self.clock = clock
        self.version = 0
        self.examples = 0
        self.logloss = metrics.LogLoss()
        self.auc = metrics.ROCAUC()
        self._since_snapshot = 0
        self._last_snapshot = clock()

    def resume(self, snapshot: Snapshot) -> None:
        """Continue from a published snapshot (a restarted trainer loses nothing learned)."""
        self.model = snapshot.model()
        self.version = snapshot.version
        self.examples = snapshot.examples
        logger.info("trainer resumed from %s (%d examples)", snapshot.name, snapshot.examples)

    def learn(self, example: Example) -> Snapshot | None:
        proba = self.model.predict_proba_one(example.x).get(True, 0.0)
        self.logloss.update(example.y, proba)
        self.auc.update(example.y, proba)
        self.model.learn_one(example.x, example.y)
        self.examples += 1
        self._since_snapshot += 1
        return self._snapshot_if_due()

    def _snapshot_if_due(self) -> Snapshot | None:
        due = self._since_snapshot >= self.every_examples or (
            self._since_snapshot > 0 and self.clock() - self._last_snapshot >= self.every_seconds
        )
        if not due:
            return None
        return self.snapshot()

    def snapshot(self) -> Snapshot:
        self.version += 1
        self._since_snapshot = 0
        self._last_snapshot = self.clock()
        measured = {"logloss": float(self.logloss.get()), "roc_auc": float(self.auc.get())}
        return take(self.task, self.version, self.examples, self.model, measured)


class TrainerStage(BaseStage):
    """Feeds ``fraud-training`` to a :class:`Trainer`; each due snapshot is signed and sent
    to the snapshot topic, keyed by task (the topic is compacted)."""

    def __init__(self, emitter: Emitter, trainer: Trainer, topic: str, signing_key: bytes) -> None:
        super().__init__(emitter)
        self.trainer = trainer
        self.topic = topic
        self.signing_key = signing_key

    def on_example(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._example, raw, origin, key)

    def _example(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        snapshot = self.trainer.learn(Example.from_bytes(raw or b""))
        self.counts["learned"] += 1
        if snapshot is None:
            return []
        logger.info(
            "publishing %s after %d examples: %s",
            snapshot.name,
            snapshot.examples,
            snapshot.metrics,
        )
        signed = sign(snapshot, self.signing_key)
        return [Output(self.topic, snapshot.task.encode(), signed)]
