"""The demo's live terminal dashboard: what the processes' ``/metrics`` endpoints say,
and what the run's topics carry, refreshed every second.

From the metrics: records in and predictions out per second, consumer lag, model
versions. From the topics (one consumer reading inputs and outputs of this run): the
event-to-prediction latency (source record's Kafka timestamp to the prediction's
processing time), rolling AUC / average precision (fraud) and accuracy / macro-F1 (each
emotion task) over the last labelled predictions (and, until the first label comes,
when it is due), drift alerts and promotions as they come and dead letters by reason.
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from confluent_kafka import Consumer
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from streamml.contracts import decode_record
from streamml.dashboard_flow import Rates, flow_table
from streamml.errors import RecordError
from streamml.records import DeadLetter, DriftAlert, Label, Prediction, TextEvent, Transaction
from streamml.settings import Settings

__all__ = ["Rates", "RunView", "TaskQuality", "poll", "render", "run_consumer"]

ROLLING_BINARY = 10_000
"""Labelled fraud predictions the rolling quality is measured over: at 0.8 % fraud,
about 80 frauds, enough for an AUC that does not jump with each one."""
ROLLING_CLASSES = 500
"""Labelled text predictions the rolling quality is measured over: short enough to show
a drift within the demo's 2,000 texts."""


@dataclass(slots=True)
class TaskQuality:
    """Rolling quality of one task's labelled predictions."""

    binary: bool
    window: deque[tuple[object, object]] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.window = deque(self.window, maxlen=ROLLING_BINARY if self.binary else ROLLING_CLASSES)

    def figures(self) -> dict[str, float]:
        if not self.window:
            return {}
        from sklearn.metrics import average_precision_score, f1_score, roc_auc_score

        truth = [t for t, _ in self.window]
        guess = [g for _, g in self.window]
        if self.binary:
            if len(set(truth)) < 2:
                return {}
            return {
                "AUC": float(roc_auc_score(truth, guess)),
                "AP": float(average_precision_score(truth, guess)),
            }
        return {
            "accuracy": sum(t == g for t, g in self.window) / len(self.window),
            "macro-F1": float(f1_score(truth, guess, average="macro", zero_division=0)),
        }


@dataclass
class RunView:
    """What the run's topics said so far."""

    settings: Settings
    label_delay: timedelta | None = None
    """The fraud labels' delay, to say when the first is due while none has come."""
    first_event: datetime | None = None
    last_event: datetime | None = None
    produced_ms: dict[str, int] = field(default_factory=dict)
    labels: dict[str, object] = field(default_factory=dict)
    waiting: dict[str, Prediction] = field(default_factory=dict)
    quality: dict[str, TaskQuality] = field(default_factory=dict)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    predictions: Counter[str] = field(default_factory=Counter)
    labelled: Counter[str] = field(default_factory=Counter)
    versions: dict[str, str] = field(default_factory=dict)
    alerts: list[DriftAlert] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def __post_init__(self) -> None:
        self._topics = self.settings.topics  # built anew on each access: once, not per record

    def add(self, topic: str, value: bytes, timestamp_ms: int) -> None:
        topics = self._topics
        try:
            if topic == topics.transactions:
                tx = decode_record(Transaction, value)
                self.produced_ms[tx.event_id] = timestamp_ms
                self._clock(tx.event_time)
            elif topic == topics.texts:
                text = decode_record(TextEvent, value)
                self.produced_ms[text.event_id] = timestamp_ms
                if text.label:
                    self._truth(text.event_id, text.label)
            elif topic in (topics.fraud_labels, topics.emotion_labels):
                label = decode_record(Label, value)
                self._truth(
                    label.event_id, label.label == "1" if label.task == "fraud" else label.label
                )
            elif topic in (topics.fraud_predictions, topics.emotion_predictions):
                self._prediction(decode_record(Prediction, value))
            elif topic == topics.drift_alerts:
                self.alerts.append(decode_record(DriftAlert, value))
            elif topic == topics.dead_letters:
                self.dead_letters[decode_record(DeadLetter, value).error_kind] += 1
        except RecordError:
            pass  # malformed inputs: the worker dead-letters them, and they show there

    def _clock(self, when: datetime) -> None:
        self.first_event = min(when, self.first_event or when)
        self.last_event = max(when, self.last_event or when)

    def outputs(self) -> int:
        """Predictions and dead letters seen: one per input event."""
        return sum(self.predictions.values()) + sum(self.dead_letters.values())

    def waiting_note(self, task: str) -> str:
        """Why ``task`` shows no quality yet."""
        if self.labelled[task]:
            return f"all {self.labelled[task]:,} labelled so far are of one class"
        if task != "fraud" or self.label_delay is None or self.first_event is None:
            return "no labelled prediction yet"
        due = self.first_event + self.label_delay
        now = self.last_event or self.first_event
        return (
            f"no labelled prediction yet: labels come {_days(self.label_delay)} after each "
            f"payment; first due {_when(due)}, replay at {_when(now)}"
        )

    def _prediction(self, p: Prediction) -> None:
        self.predictions[p.task] += 1
        self.versions[p.task] = p.model_version
        produced = self.produced_ms.pop(p.event_id, None)
        if produced is not None:
            self.latencies.append(p.processed_time.timestamp() - produced / 1000)
        if p.score is None and p.predicted_class is None:
            return  # not scored (a click, or no model yet)
        if p.event_id in self.labels:
            self._learned(p, self.labels.pop(p.event_id))
        else:
            self.waiting[p.event_id] = p

    def _truth(self, event_id: str, truth: object) -> None:
        waiting = self.waiting.pop(event_id, None)
        if waiting is None:
            self.labels[event_id] = truth
        else:
            self._learned(waiting, truth)

    def _learned(self, p: Prediction, truth: object) -> None:
        binary = p.score is not None
        quality = self.quality.setdefault(p.task, TaskQuality(binary))
        self.labelled[p.task] += 1
        quality.window.append((truth, p.score if binary else p.predicted_class))

    def latency_ms(self) -> tuple[float, float] | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return pick(0.5), pick(0.99)


def run_consumer(settings: Settings) -> Consumer:
    """One consumer over every topic the dashboard reads, from the start of this run's."""
    topics = settings.topics
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-dashboard",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe(
        [
            topics.transactions,
            topics.texts,
            topics.fraud_labels,
            topics.emotion_labels,
            topics.fraud_predictions,
            topics.emotion_predictions,
            topics.drift_alerts,
            topics.dead_letters,
        ]
    )
    return consumer


def poll(consumer: Consumer, view: RunView, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for message in consumer.consume(2000, timeout=0.2):
            topic, value = message.topic(), message.value()
            if message.error() is None and topic is not None and value is not None:
                view.add(topic, value, message.timestamp()[1])


def render(
    view: RunView, endpoints: dict[str, str], rates: Rates, replayed: int, expected: int
) -> Group:
    """The dashboard as rich renderables."""
    latency = view.latency_ms()
    lines = [
        f"replayed {replayed:,} of {expected:,} records",
        "event to prediction: "
        + (f"p50 {latency[0]:,.0f} ms, p99 {latency[1]:,.0f} ms" if latency else "-"),
        "dead letters: " + (", ".join(f"{k} {v}" for k, v in view.dead_letters.items()) or "none"),
    ]
    return Group(
        Panel("\n".join(lines), title="streamml demo"),
        flow_table(endpoints, rates),
        _quality(view),
        _alerts(view),
    )


def _quality(view: RunView) -> Table:
    quality = Table(
        "task", "predictions", "model", "labelled", "rolling quality", title="predictions"
    )
    for task in sorted(view.predictions):
        rolling = view.quality.get(task)
        figures = rolling.figures() if rolling else {}
        shown = ", ".join(f"{k} {v:.3f}" for k, v in figures.items())
        quality.add_row(
            task,
            f"{view.predictions[task]:,}",
            view.versions.get(task, ""),
            f"{view.labelled[task]:,}",
            shown or view.waiting_note(task),
        )
    return quality


def _alerts(view: RunView) -> Table:
    states = Counter(alert.state for alert in view.alerts)
    alerts = Table(
        "time",
        "task",
        "kind",
        "subject",
        "state",
        "severity",
        title="drift alerts: "
        + (", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"),
    )
    for alert in view.alerts[-6:]:
        alerts.add_row(
            _when(alert.window_end_time),
            alert.task,
            alert.kind,
            alert.subject,
            alert.state,
            alert.severity,
        )
    return alerts


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")


def _days(span: timedelta) -> str:
    days = span / timedelta(days=1)
    return f"{days:g} day{'s' if days != 1 else ''}"
