"""The demo's live terminal dashboard: what the processes' ``/metrics`` endpoints say,
and what the run's topics carry, refreshed every second.

From the metrics: records in and predictions out per second, consumer lag, model
versions. From the topics (one consumer reading inputs and outputs of this run): the
event-to-prediction latency (source record's Kafka timestamp to the prediction's
processing time), rolling AUC / average precision (fraud) and accuracy / macro-F1 (each
emotion task) over the last labelled predictions, drift alerts as they come and dead
letters by reason.
"""

from __future__ import annotations

import time
import urllib.request
from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import datetime

from confluent_kafka import Consumer
from prometheus_client.parser import text_string_to_metric_families
from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from streamml.contracts import decode_record
from streamml.errors import RecordError
from streamml.records import DeadLetter, DriftAlert, Label, Prediction, TextEvent, Transaction
from streamml.settings import Settings

ROLLING = 2_000
"""Labelled predictions the rolling quality is measured over, per task."""

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(url: str, timeout: float = 2.0) -> Samples:
    """Every sample of a ``/metrics`` endpoint; empty while it does not answer."""
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=timeout) as response:
            text = response.read().decode()
    except OSError:
        return {}
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@dataclass(slots=True)
class TaskQuality:
    """Rolling quality of one task's labelled predictions."""

    binary: bool
    window: deque[tuple[object, object]] = field(default_factory=lambda: deque(maxlen=ROLLING))

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
    produced_ms: dict[str, int] = field(default_factory=dict)
    labels: dict[str, object] = field(default_factory=dict)
    waiting: dict[str, Prediction] = field(default_factory=dict)
    quality: dict[str, TaskQuality] = field(default_factory=dict)
    latencies: deque[float] = field(default_factory=lambda: deque(maxlen=20_000))
    predictions: Counter[str] = field(default_factory=Counter)
    versions: dict[str, str] = field(default_factory=dict)
    alerts: list[DriftAlert] = field(default_factory=list)
    dead_letters: Counter[str] = field(default_factory=Counter)

    def add(self, topic: str, value: bytes, timestamp_ms: int) -> None:
        topics = self.settings.topics
        try:
            if topic == topics.transactions:
                self.produced_ms[decode_record(Transaction, value).event_id] = timestamp_ms
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
        quality.window.append((truth, p.score if binary else p.predicted_class))

    def latency_ms(self) -> tuple[float, float] | None:
        if not self.latencies:
            return None
        ordered = sorted(self.latencies)

        def pick(q: float) -> float:
            return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

        return pick(0.5), pick(0.99)


@dataclass
class Rates:
    """Per-second rates from successive counter readings."""

    last: dict[str, tuple[float, float]] = field(default_factory=dict)

    def rate(self, key: str, value: float, now: float) -> float:
        before = self.last.get(key)
        self.last[key] = (now, value)
        if before is None or now <= before[0]:
            return 0.0
        return max(0.0, (value - before[1]) / (now - before[0]))


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
    now = time.monotonic()
    flow = Table("process", "records in/s", "out/s", "lag", "model versions", title="processes")
    for role, url in endpoints.items():
        samples = scrape(url)
        if not samples:
            flow.add_row(role, "-", "-", "-", "starting")
            continue
        got = rates.rate(f"{role}-in", total(samples, "streamml_events_in_total"), now)
        sent = total(samples, "streamml_events_out_total")
        sent += total(samples, "streamml_sink_records_total")
        versions = ", ".join(
            f"{dict(ls)['task']} v{int(v)}"
            for (n, ls), v in sorted(samples.items(), key=lambda kv: sorted(kv[0][1]))
            if n == "streamml_model_version"
        )
        lag = total(samples, "streamml_consumer_lag")
        flow.add_row(
            role,
            f"{got:,.0f}",
            f"{rates.rate(f'{role}-out', sent, now):,.0f}",
            f"{lag:,.0f}",
            versions or "-",
        )
    quality = Table("task", "predictions", "model", "rolling quality", title="predictions")
    for task in sorted(view.predictions):
        figures = view.quality.get(task)
        shown = ", ".join(f"{k} {v:.3f}" for k, v in (figures.figures() if figures else {}).items())
        quality.add_row(
            task, f"{view.predictions[task]:,}", view.versions.get(task, ""), shown or "-"
        )
    latency = view.latency_ms()
    lines = [
        f"replayed {replayed:,} of {expected:,} records",
        "event to prediction: "
        + (f"p50 {latency[0]:,.0f} ms, p99 {latency[1]:,.0f} ms" if latency else "-"),
        "dead letters: " + (", ".join(f"{k} {v}" for k, v in view.dead_letters.items()) or "none"),
    ]
    alerts = Table("time", "task", "kind", "subject", "state", "severity", title="drift alerts")
    for alert in view.alerts[-6:]:
        alerts.add_row(
            _when(alert.window_end_time),
            alert.task,
            alert.kind,
            alert.subject,
            alert.state,
            alert.severity,
        )
    return Group(Panel("\n".join(lines), title="streamml demo"), flow, quality, alerts)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M")
