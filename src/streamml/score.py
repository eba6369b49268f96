"""Score stage: a typed record and its features in, one :class:`Prediction` out.

Scorers hold River models and never learn: a trainer per task learns and publishes
snapshots, which :meth:`swap` installs (version ``<task>-v<n>``; ``-v0`` is untrained).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from streamml.errors import ConfigurationError
from streamml.models.serving import for_serving
from streamml.records import Prediction, TextEvent, Transaction

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class FraudScorer:
    """Fraud probability of each transaction (``score`` in [0, 1]) from the newest snapshot.

    Scorers never learn: the trainer does, and :meth:`swap` installs each snapshot it
    publishes. Until the first one arrives, an untrained model (version ``fraud-v0``)
    scores.
    """

    task = "fraud"

    def __init__(self, model: Any, clock: Clock = utc_now) -> None:
        self.current: tuple[Any, str] = (for_serving(model), f"{self.task}-v0")
        self.clock = clock

    def swap(self, model: Any, version: str) -> None:
        """Serve ``model`` (frozen for speed, same predictions) as ``version``."""
        served = for_serving(model)
        # One reference assignment: a concurrent score() sees the old pair or the new one.
        self.current = (served, version)

    @property
    def version(self) -> str:
        return self.current[1]

    def unscored(self, tx: Transaction, flags: list[str]) -> Prediction:
        """The prediction of an event that is not a fraud candidate: no score."""
        return Prediction(
            event_id=tx.event_id,
            task=self.task,
            model_version=self.version,
            event_time=tx.event_time,
            processed_time=self.clock(),
            flags=flags,
        )

    def score(self, tx: Transaction, x: dict[str, float], flags: list[str]) -> Prediction:
        model, version = self.current
        proba = model.predict_proba_one(x)
        return Prediction(
            event_id=tx.event_id,
            task=self.task,
            model_version=version,
            event_time=tx.event_time,
            processed_time=self.clock(),
            score=float(proba.get(True, 0.0)),
            flags=flags,
        )


class EmotionScorer:
    """Emotion class probabilities of each text, one model per label taxonomy (task).

    Each configured task starts with an untrained model (``<task>-v0``, no probabilities
    until its first snapshot) and follows its trainer's snapshots.
    """

    def __init__(
        self,
        model_factory: Callable[[], Any],
        tasks: Iterable[str],
        default_taxonomy: str,
        clock: Clock = utc_now,
    ) -> None:
        self.models: dict[str, tuple[Any, str]] = {t: (model_factory(), f"{t}-v0") for t in tasks}
        if default_taxonomy not in self.models:
            raise ConfigurationError(f"default taxonomy {default_taxonomy!r} is not a task")
        self.default_taxonomy = default_taxonomy
        self.clock = clock

    def taxonomy_of(self, text: TextEvent) -> str:
        return text.taxonomy or self.default_taxonomy

    def swap(self, task: str, model: Any, version: str) -> None:
        """Serve ``model`` (frozen for speed, same predictions) for ``task``; a task that
        is not configured here is ignored."""
        if task in self.models:
            self.models[task] = (for_serving(model), version)

    def score(self, text: TextEvent, task: str, flags: list[str] | None = None) -> Prediction:
        model, version = self.models[task]
        proba = {str(k): float(v) for k, v in model.predict_proba_one(text.text).items()}
        top = max(proba, key=proba.__getitem__) if proba else None
        return Prediction(
            event_id=text.event_id,
            task=task,
            model_version=version,
            event_time=text.event_time,
            processed_time=self.clock(),
            predicted_class=top,
            probabilities=proba,
            flags=flags or [],
        )
