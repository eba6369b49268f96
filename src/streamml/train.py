"""The trainer: learns from every labelled example, keeps prequential metrics and
publishes a signed snapshot every N examples or T seconds, one model per task."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from river import metrics
from river.metrics.base import ClassificationMetric

from streamml import metrics as process_metrics
from streamml.challenger import DEFAULT_POLICY, Challenger, ChallengerPolicy, Outcome
from streamml.emit import Emitter, Output
from streamml.errors import StreamMLError, ValidationError
from streamml.internal import Example
from streamml.process import BaseStage
from streamml.records import DriftAlert, Origin
from streamml.registry import ModelRegistry, RegistryPublisher
from streamml.settings import Settings
from streamml.snapshots import Snapshot, sign, take
from streamml.watch import DriftWatch

logger = logging.getLogger(__name__)


def binary_metrics() -> dict[str, ClassificationMetric]:
    """What a fraud trainer measures before learning each example."""
    return {"logloss": metrics.LogLoss(), "roc_auc": metrics.ROCAUC()}


def multiclass_metrics() -> dict[str, ClassificationMetric]:
    """What a text trainer measures before learning each example (open label sets)."""
    return {
        "accuracy": metrics.Accuracy(),
        "macro_f1": metrics.MacroF1(),
        "cross_entropy": metrics.CrossEntropy(),
    }


class Trainer:
    """Sequential learner of one task; its throughput bounds only the labelled traffic.

    Each example is first scored (prequential ``measures``; log loss and ROC AUC unless
    told), then learned. :meth:`learn` returns a :class:`Snapshot` when one is due, else
    ``None``.

    With ``challenge_with`` (a model factory) and a drift ``watch``, a concept alert
    starts a challenger trained from that example on (:mod:`streamml.challenger`); when
    it beats the champion over a window it becomes the model, a ``promoted`` event joins
    :attr:`alerts` and a snapshot is due at once, so scorers serve it.

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
        *,
        clock: Callable[[], float] = time.monotonic,
        measures: Callable[[], dict[str, ClassificationMetric]] = binary_metrics,
        watch: DriftWatch | None = None,
        challenge_with: Callable[[], Any] | None = None,
        challenger_policy: ChallengerPolicy = DEFAULT_POLICY,
    ) -> None:
        self.task = task
        self.watch = watch
        self.challenge_with = challenge_with
        self.challenger_policy = challenger_policy
        self.challenger: Challenger | None = None
        self.promotions = 0
        self._challenge_from: Example | None = None
        self._challenge_offset: int | None = None
        self.alerts: list[DriftAlert] = []
        """Drift alerts raised by the examples learned, until the stage takes them."""
        self.model = model
        self.every_examples = every_examples
        self.every_seconds = every_seconds
        self.clock = clock
        self.version = 0
        self.examples = 0
        self.measures = measures()
        self._since_snapshot = 0
        self._last_snapshot = clock()

    def resume(self, snapshot: Snapshot) -> None:
        """Continue from a published snapshot (a restarted trainer loses nothing learned)."""
        self.model = snapshot.model()
        self.version = snapshot.version
        self.examples = snapshot.examples
        logger.info("trainer resumed from %s (%d examples)", snapshot.name, snapshot.examples)

    def learn(self, example: Example, offset: int | None = None) -> Snapshot | None:
        proba = self.model.predict_proba_one(example.x)
        predicted = max(proba, key=proba.__getitem__) if proba else None
        if self.watch is not None:
            version = f"{self.task}-v{self.version}"
            alerts = self.watch.observe(example, proba, offset, version)
            self.alerts += alerts
            if any(a.kind == "concept" and a.state == "started" for a in alerts):
                self._start_challenger(example, offset)
        for metric in self.measures.values():
            if not metric.requires_labels:
                metric.update(example.y, proba)
            elif predicted is not None:
                metric.update(example.y, predicted)
        self.model.learn_one(example.x, example.y)
        self.examples += 1
        self._since_snapshot += 1
        if self.challenger is not None:
            outcome = self.challenger.observe(example, proba)
            if outcome is not None:
                self._conclude(outcome, example, offset)
        return self._snapshot_if_due()

    def _start_challenger(self, example: Example, offset: int | None) -> None:
        if self.challenge_with is None or self.challenger is not None:
            return
        self.challenger = Challenger(self.challenge_with(), self.challenger_policy)
        self._challenge_from = example
        self._challenge_offset = offset
        logger.info("%s: concept drift; a challenger learns from here on", self.task)

    def _conclude(self, outcome: Outcome, example: Example, offset: int | None) -> None:
        self.challenger = None
        if outcome.state != "promoted":
            logger.info(
                "%s: challenger dropped after %d examples (loss %.4f, champion %.4f)",
                self.task,
                outcome.examples,
                outcome.challenger_loss,
                outcome.champion_loss,
            )
            return
        self.model = outcome.model
        self.promotions += 1
        self._since_snapshot = max(self._since_snapshot, self.every_examples)  # publish now
        start = self._challenge_from or example
        now = datetime.now(UTC)
        self.alerts.append(
            DriftAlert(
                alert_id=f"{self.task}-promotion-{self.promotions}",
                task=self.task,
                kind="concept",
                detector="challenger",
                subject="brier" if isinstance(example.y, bool) else "error_rate",
                statistic=outcome.challenger_loss,
                threshold=outcome.champion_loss,
                state="promoted",
                severity="info",
                window_start_time=start.label_time,
                window_end_time=example.label_time,
                model_version=f"{self.task}-v{self.version + 1}",
                created_time=now.replace(microsecond=now.microsecond // 1000 * 1000),
                window_start_offset=self._challenge_offset,
                window_end_offset=offset,
            )
        )
        logger.warning(
            "%s: challenger promoted after %d examples (loss %.4f against %.4f)",
            self.task,
            outcome.examples,
            outcome.challenger_loss,
            outcome.champion_loss,
        )

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
        measured = {name: float(metric.get()) for name, metric in self.measures.items()}
        return take(self.task, self.version, self.examples, self.model, measured)


def new_trainers(
    settings: Settings, fraud: Callable[[], Any], emotion: Callable[[], Any]
) -> dict[str, Trainer]:
    """A fresh trainer per task: ``fraud`` and each configured emotion taxonomy."""
    every = settings.snapshot_every_examples, settings.snapshot_every_seconds
    drift = settings.drift_enabled
    react = drift and settings.drift_challenger
    policy = ChallengerPolicy(window=settings.challenger_window)
    watch = DriftWatch.for_task("fraud", text=False) if drift else None
    found = {
        "fraud": Trainer(
            "fraud",
            fraud(),
            *every,
            watch=watch,
            challenge_with=fraud if react else None,
            challenger_policy=policy,
        )
    }
    for task in settings.emotion_tasks:
        watch = DriftWatch.for_task(task, text=True) if drift else None
        found[task] = Trainer(
            task,
            emotion(),
            *every,
            measures=multiclass_metrics,
            watch=watch,
            challenge_with=emotion if react else None,
            challenger_policy=policy,
        )
    return found


def resume_from_registry(registry: ModelRegistry, trainers: Mapping[str, Trainer]) -> None:
    """Resume each trainer from the registry's newest version when it is ahead of the
    trainer (the snapshot topic was lost), so versions never restart and overwrite."""
    for task, trainer in trainers.items():
        try:
            newest = registry.newest(task)
        except StreamMLError as error:  # store outage, refused or malformed snapshot
            logger.warning("not resuming %s from the model registry: %s", task, error)
            continue
        if newest is not None and newest.version > trainer.version:
            trainer.resume(newest)


class TrainerStage(BaseStage):
    """Feeds the training topics to the :class:`Trainer` of each example's task; each due
    snapshot is signed and sent to the snapshot topic, keyed by task (it is compacted),
    and, given a ``registry``, handed to it for the lake (never waited for: a store
    outage does not hold the trainer back).

    An example of a task without a trainer is dead-lettered.
    """

    def __init__(
        self,
        emitter: Emitter,
        trainers: Mapping[str, Trainer],
        topic: str,
        signing_key: bytes,
        registry: RegistryPublisher | None = None,
    ) -> None:
        super().__init__(emitter)
        self.trainers = trainers
        self.topic = topic
        self.signing_key = signing_key
        self.registry = registry

    def on_example(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        return self.guarded(self._example, raw, origin, key)

    def _example(self, raw: bytes | None, origin: Origin, key: bytes | None) -> list[Output]:
        example = Example.from_bytes(raw or b"")
        trainer = self.trainers.get(example.task)
        if trainer is None:
            known = ", ".join(sorted(self.trainers))
            raise ValidationError("unknown-task", f"no trainer for task {example.task!r}: {known}")
        snapshot = trainer.learn(example, origin.offset)
        self.counts["learned"] += 1
        outputs = [self._alert(alert) for alert in trainer.alerts]
        trainer.alerts.clear()
        if snapshot is None:
            return outputs
        process_metrics.MODEL_VERSION.labels(snapshot.task, "trainer").set(snapshot.version)
        logger.info(
            "publishing %s after %d examples: %s",
            snapshot.name,
            snapshot.examples,
            snapshot.metrics,
        )
        signed = sign(snapshot, self.signing_key)
        if self.registry is not None:
            self.registry.submit(signed)
        return [*outputs, Output(self.topic, snapshot.task.encode(), signed)]

    def _alert(self, alert: DriftAlert) -> Output:
        logger.warning(
            "drift %s %s: %s/%s %s (statistic %.3g, threshold %.3g)",
            alert.alert_id,
            alert.state,
            alert.kind,
            alert.subject,
            alert.severity,
            alert.statistic,
            alert.threshold,
        )
        self.counts[f"drift_alerts_{alert.state}"] += 1
        process_metrics.DRIFT_ALERTS.labels(alert.task, alert.kind, alert.state).inc()
        return self.emitter.drift_alert(alert)
