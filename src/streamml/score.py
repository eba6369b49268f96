"""Score stage: a typed record and its features in, one :class:`Prediction` out.

Scorers hold River models. The fraud scorer only scores (a trainer learns and publishes
snapshots); the emotion scorer still learns in place from labelled texts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from streamml.records import Prediction, TextEvent, Transaction

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class OnlineModel:
    """A River classifier with the count of examples it learned, which names its version."""

    def __init__(self, task: str, model: Any) -> None:
        self.task = task
        self.model = model
        self.learned = 0

    @property
    def version(self) -> str:
        return f"{self.task}-online-{self.learned}"

    def learn(self, x: Any, y: Any) -> None:
        self.model.learn_one(x, y)
        self.learned += 1


class FraudScorer:
    """Fraud probability of each transaction (``score`` in [0, 1]) from the newest snapshot.

    Scorers never learn: the trainer does, and :meth:`swap` installs each snapshot it
    publishes. Until the first one arrives, an untrained model (version ``fraud-v0``)
    scores.
    """

    task = "fraud"

    def __init__(self, model: Any, clock: Clock = utc_now) -> None:
        self.current: tuple[Any, str] = (model, f"{self.task}-v0")
        self.clock = clock

    def swap(self, model: Any, version: str) -> None:
        # One reference assignment: a concurrent score() sees the old pair or the new one.
        self.current = (model, version)

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
    """Emotion class probabilities of each text, one model per label taxonomy."""

    def __init__(
        self,
        model_factory: Callable[[], Any],
        default_taxonomy: str,
        clock: Clock = utc_now,
    ) -> None:
        self.model_factory = model_factory
        self.default_taxonomy = default_taxonomy
        self.clock = clock
        self.models: dict[str, OnlineModel] = {}

    def taxonomy_of(self, text: TextEvent) -> str:
        return text.taxonomy or self.default_taxonomy

    def _model(self, taxonomy: str) -> OnlineModel:
        if taxonomy not in self.models:
            self.models[taxonomy] = OnlineModel(taxonomy, self.model_factory())
        return self.models[taxonomy]

    def score(self, text: TextEvent) -> Prediction:
        online = self._model(self.taxonomy_of(text))
        proba = {str(k): float(v) for k, v in online.model.predict_proba_one(text.text).items()}
        top = max(proba, key=proba.__getitem__) if proba else None
        return Prediction(
            event_id=text.event_id,
            task=online.task,
            model_version=online.version,
            event_time=text.event_time,
            processed_time=self.clock(),
            predicted_class=top,
            probabilities=proba,
        )

    def learn(self, taxonomy: str, text: str, label: str) -> None:
        self._model(taxonomy).learn(text, label)
