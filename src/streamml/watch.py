"""The trainer's drift watch: each labelled example feeds its task's drift monitor.

The trainer is the one place that sees every example of a task (its topic has one
partition), so each drift episode is reported once, whatever the number of scorers.
Data and prediction drift are watched on the examples at label time; concept drift on
the loss of the model's prediction before it learns the example: the Brier score of the
fraud probability and the share of flagged frauds that proved genuine, the 0/1 error of
the predicted emotion.
"""

from __future__ import annotations

from typing import Any

from streamml.drift import EMOTION_CONFIG, FRAUD_CONFIG, DriftMonitor
from streamml.internal import Example
from streamml.records import DriftAlert


class DriftWatch:
    """Feeds one task's :class:`DriftMonitor` from the trainer.

    >>> from datetime import UTC, datetime
    >>> watch = DriftWatch.for_task("emotion6", text=True)
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> watch.observe(Example("e", "so glad", "joy", t, t, "emotion6"), {"joy": 0.9}, 3, "v1")
    []
    """

    def __init__(self, monitor: DriftMonitor) -> None:
        self.monitor = monitor

    @classmethod
    def for_task(cls, task: str, text: bool) -> DriftWatch:
        return cls(DriftMonitor(task, EMOTION_CONFIG if text else FRAUD_CONFIG))

    def observe(
        self, example: Example, proba: dict[Any, float], offset: int | None, version: str
    ) -> list[DriftAlert]:
        """The alerts this example raises (usually none)."""
        monitor, when = self.monitor, example.event_time
        alerts: list[DriftAlert] = []
        if isinstance(example.x, str):
            alerts += monitor.on_text(example.x, when, offset, version)
        else:
            alerts += monitor.on_features(example.x, when, offset, version)
        if isinstance(example.y, bool):
            score = float(proba.get(True, 0.0))
            alerts += monitor.on_prediction(score, when, offset, version)
            alerts += monitor.on_outcome(score, example.y, example.label_time, offset, version)
        else:
            predicted = str(max(proba, key=proba.__getitem__)) if proba else ""
            alerts += monitor.on_prediction(predicted, when, offset, version)
            loss = 0.0 if predicted == example.y else 1.0
            alerts += monitor.on_loss(loss, example.label_time, offset, version)
        return alerts
