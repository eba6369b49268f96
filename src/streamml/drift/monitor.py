"""One task's drift monitor: what the worker calls per event, per prediction, per loss.

Each call returns the :class:`~streamml.records.DriftAlert` records it caused (usually
none), valid against ``schemas/drift_alert.avsc``. A monitor is plain Python state and
pickles with the trainer's snapshot. ``docs/adr/0012-drift-detection.md`` has the
measurements behind the defaults.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from streamml.drift.detectors import (
    CategoryDetector,
    DetectorProtocol,
    MeanIncreaseDetector,
    QuantileDetector,
)
from streamml.drift.episodes import Clock, EpisodeTracker, Position
from streamml.drift.share import ShareIncreaseDetector
from streamml.drift.text import TextStatistics
from streamml.records import DriftAlert

EVENTS_PER_BUDGET = 100_000
SEASONAL_FEATURES = frozenset(
    {
        "TX_DURING_WEEKEND",
        "TX_DURING_NIGHT",
        "TX_HOUR",
        "CUSTOMER_ID_NB_TX_1HOUR_WINDOW",
        "CUSTOMER_ID_HOURS_SINCE_LAST_TX",
        "TX_LOG_AMOUNT",
    }
)
"""Not watched: calendar flags and features that follow the hour of the day (a window of
2,000 payments spans a few hours, so their distribution follows the clock by design),
and ``TX_LOG_AMOUNT``, which bins exactly as ``TX_AMOUNT`` (a second test of the same
thing would only spend the false-alarm budget)."""
FLAGGED_SUBJECT = "flagged_genuine_share"
"""Concept subject of binary tasks: the share of flagged predictions that proved genuine."""


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """A detector's reference size, current window and check interval, in events."""

    reference: int
    window: int
    step: int


@dataclass(frozen=True, slots=True)
class MonitorConfig:
    """A monitor's windows and its false-alarm budget.

    ``false_alarms_per_100k`` is shared, per kind, by every check of every subject
    (Bonferroni): each check runs at level ``budget * step / (100,000 * subjects)``.
    """

    data: WindowSpec = WindowSpec(10_000, 2_000, 100)
    prediction: WindowSpec = WindowSpec(20_000, 10_000, 500)
    concept: WindowSpec = WindowSpec(10_000, 2_000, 100)
    flagged: WindowSpec = WindowSpec(400, 20, 1)
    """In flagged outcomes (binary tasks); the budget is still spent per label."""
    flag_threshold: float = 0.5
    false_alarms_per_100k: float = 0.1
    data_dispersion: float = 1.0
    prediction_dispersion: float = 1.0
    bins: int = 10
    exclude: frozenset[str] = SEASONAL_FEATURES
    vocabulary_texts: int = 2_000
    warm_up: timedelta = timedelta(0)
    """Event time after the first event during which nothing is watched: features whose
    windows are still filling (30 days back, from a week ago) would look like drift."""

    def alpha(self, spec: WindowSpec, subjects: int) -> float:
        """The level of one check of one of ``subjects`` subjects."""
        return self.false_alarms_per_100k * spec.step / (EVENTS_PER_BUDGET * max(subjects, 1))


FRAUD_CONFIG = MonitorConfig(data_dispersion=2.0, warm_up=timedelta(days=37))
"""Fraud: predictions compared day against day (the score follows the hour through the
calendar features); the dispersion measured on May-June 2018 of the handbook (ADR 0012)."""
EMOTION_CONFIG = MonitorConfig(
    data=WindowSpec(2_000, 500, 25),
    prediction=WindowSpec(2_000, 500, 25),
    concept=WindowSpec(1_000, 250, 25),
    data_dispersion=2.0,
    prediction_dispersion=2.0,
)
"""Emotion: smaller windows (a corpus of 20,000 texts), the same dispersion."""


@dataclass(slots=True)
class _Stream:
    """The trackers fed by one kind of call, and the positions of its events."""

    kind: str
    clock: Clock
    trackers: dict[str, EpisodeTracker] = field(default_factory=dict)


class DriftMonitor:
    """Concept, data and prediction drift of one task's stream, as alert episodes.

    - ``on_features``: data drift of each numeric feature (fraud);
    - ``on_text``: data drift of text length, unknown-word share, non-Latin share;
    - ``on_prediction``: prediction drift of a score (float) or a class (str);
    - ``on_loss``: concept drift, a rise of the model's loss in [0, 1] (the trainer's
      0/1 error, at label time);
    - ``on_outcome``: concept drift of a binary task at label time: a rise of the Brier
      score, and of the share of flagged predictions (score >= ``flag_threshold``)
      that proved genuine. A change that hits only the cases the model was sure of
      (one fraud scenario relabelled) moves the mean loss of a 1 %-positive stream too
      little to see, but the flagged ones a lot (ADR 0012).

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> import random
    >>> rng, t0 = random.Random(1), datetime(2024, 1, 1, tzinfo=UTC)
    >>> monitor = DriftMonitor("fraud", MonitorConfig(data=WindowSpec(500, 200, 50)))
    >>> alerts = []
    >>> for i in range(3000):
    ...     shift = 3.0 if i >= 1500 else 0.0
    ...     x = {"amount": rng.gauss(shift, 1.0)}
    ...     alerts += monitor.on_features(x, t0 + timedelta(seconds=i), offset=i)
    >>> [(a.alert_id, a.state) for a in alerts]
    [('fraud-data-amount-1', 'started'), ('fraud-data-amount-1', 'ended')]
    """

    def __init__(self, task: str, config: MonitorConfig = FRAUD_CONFIG) -> None:
        self.task = task
        self.config = config
        self.text = TextStatistics(config.vocabulary_texts)
        self._origin: datetime | None = None  # the first time seen: the warm-up's start
        self._streams = {
            "features": _Stream("data", Clock(config.data.window)),
            "text": _Stream("data", Clock(config.data.window)),
            "prediction": _Stream("prediction", Clock(config.prediction.window)),
            # Wide enough for the flagged window, which spans thousands of labels.
            "loss": _Stream("concept", Clock(10 * config.concept.window)),
        }

    def on_features(
        self,
        x: Mapping[str, float],
        event_time: datetime,
        offset: int | None = None,
        model_version: str = "",
    ) -> list[DriftAlert]:
        """Data drift: one scored event's numeric features."""
        values = {k: float(v) for k, v in x.items() if k not in self.config.exclude}
        return self._observe("features", values, Position(event_time, offset), model_version)

    def on_text(
        self, text: str, event_time: datetime, offset: int | None = None, model_version: str = ""
    ) -> list[DriftAlert]:
        """Data drift: one scored text's statistics (:mod:`streamml.drift.text`)."""
        values = self.text.of(text)
        if values is None:
            return []
        return self._observe("text", values, Position(event_time, offset), model_version)

    def on_prediction(
        self,
        prediction: float | str,
        event_time: datetime,
        offset: int | None = None,
        model_version: str = "",
    ) -> list[DriftAlert]:
        """Prediction drift: a fraud score (float) or a predicted class (str)."""
        subject = "predicted_class" if isinstance(prediction, str) else "score"
        return self._observe(
            "prediction", {subject: prediction}, Position(event_time, offset), model_version
        )

    def on_loss(
        self,
        loss: float,
        event_time: datetime,
        offset: int | None = None,
        model_version: str = "",
    ) -> list[DriftAlert]:
        """Concept drift: the loss of one labelled example, in [0, 1], at label time."""
        return self._observe("loss", {"loss": loss}, Position(event_time, offset), model_version)

    def on_outcome(
        self,
        score: float,
        positive: bool,
        event_time: datetime,
        offset: int | None = None,
        model_version: str = "",
    ) -> list[DriftAlert]:
        """Concept drift: one labelled example of a binary task, with the score the model
        gave it before learning it."""
        flagged = score >= self.config.flag_threshold
        values: dict[str, float | None] = {
            "loss": (score - float(positive)) ** 2,
            FLAGGED_SUBJECT: float(not positive) if flagged else None,
        }
        return self._observe("loss", values, Position(event_time, offset), model_version)

    def episodes(self) -> dict[str, int]:
        """Episodes started so far, by ``kind/subject``."""
        return {
            f"{s.kind}/{name}": t.episodes
            for s in self._streams.values()
            for name, t in s.trackers.items()
        }

    def _observe(
        self,
        stream_name: str,
        values: Mapping[str, float | str | None],
        position: Position,
        model_version: str,
    ) -> list[DriftAlert]:
        stream = self._streams[stream_name]
        if self._warming_up(position.time):
            return []
        stream.clock.tick(position)
        if not stream.trackers:
            self._start(stream_name, values)
        alerts = []
        for subject, value in values.items():
            tracker = stream.trackers.get(subject)
            if tracker is None:  # a subject first seen late shares the first ones' level
                tracker = stream.trackers[subject] = self._tracker(
                    stream_name, subject, value, len(stream.trackers)
                )
            alert = tracker.observe(value, stream.clock, model_version)
            if alert is not None:
                alerts.append(alert)
        return alerts

    def _warming_up(self, when: datetime) -> bool:
        if self._origin is None:
            self._origin = when
        return when < self._origin + self.config.warm_up

    def _start(self, stream_name: str, values: Mapping[str, float | str | None]) -> None:
        stream = self._streams[stream_name]
        for subject, value in values.items():
            stream.trackers[subject] = self._tracker(stream_name, subject, value, len(values))

    def _tracker(
        self, stream_name: str, subject: str, value: float | str | None, subjects: int
    ) -> EpisodeTracker:
        kind = self._streams[stream_name].kind
        spec = {"data": self.config.data, "prediction": self.config.prediction}.get(
            kind, self.config.concept
        )
        alpha = self.config.alpha(spec, subjects)
        sizes = {"reference": spec.reference, "window": spec.window, "step": spec.step}
        detector: DetectorProtocol[float] | DetectorProtocol[str] | ShareIncreaseDetector
        if subject == FLAGGED_SUBJECT:
            flagged = self.config.flagged
            detector = ShareIncreaseDetector(
                reference=flagged.reference,
                window=flagged.window,
                alpha=self.config.alpha(flagged, subjects),
            )
        elif kind == "concept":
            detector = MeanIncreaseDetector(alpha=alpha, **sizes)
        elif kind == "prediction":
            dispersion = self.config.prediction_dispersion
            if isinstance(value, str):
                detector = CategoryDetector(
                    alpha=alpha, dispersion=dispersion, sliding=True, **sizes
                )
            else:
                detector = QuantileDetector(
                    bins=self.config.bins, alpha=alpha, dispersion=dispersion, sliding=True, **sizes
                )
        else:
            detector = QuantileDetector(
                bins=self.config.bins, alpha=alpha, dispersion=self.config.data_dispersion, **sizes
            )
        return EpisodeTracker(self.task, kind, subject, detector)
