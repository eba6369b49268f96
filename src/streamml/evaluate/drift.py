"""Drift evaluation: the monitors over the real streams, as they are and with injected changes.

Every run replays a stream through the worker's stages without Kafka and feeds a
:class:`~streamml.drift.DriftMonitor` as the worker would: features and prediction per
scored event, the loss per label at label time. The report says, for each injected
change, whether and how fast it was detected and whether any alert repeated within an
episode, and, on the unchanged streams, the false alarms per 100,000 events per kind.

- fraud: the handbook's file; features and the model run from 2018-04-01, the monitor
  from 2018-05-08 (the terminal features look 30 days back from a week ago). The model is the plain
  logistic regression (:func:`streamml.models.fraud.plain_logistic`): the forest costs
  ~170 µs per event and the detectors watch its loss the same way. The loss is the
  Brier score of the predicted probability.
- emotion: emotion6 train, val then test in file order (20,000 texts); the model learns
  every text, the monitor starts after :data:`EMOTION_WARM_UP` texts.
"""

from __future__ import annotations

import csv
import logging
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamml.datasets import crowdflower, emotion6
from streamml.datasets._common import ReplayRecord, require_file
from streamml.datasets.fraud_handbook import FILE_NAME, open_text, read_fraud_handbook
from streamml.datasets.timeline import interleave_labels
from streamml.drift import EMOTION_CONFIG, FRAUD_CONFIG, DriftMonitor, MonitorConfig
from streamml.records import DriftAlert, Label, TextEvent, Transaction

logger = logging.getLogger(__name__)

FRAUD_START = datetime(2018, 4, 1, tzinfo=UTC)
FRAUD_MONITOR_FROM = datetime(2018, 5, 8, tzinfo=UTC)
FRAUD_END = datetime(2018, 10, 1, tzinfo=UTC)
DATA_CHANGE_AT = datetime(2018, 6, 15, tzinfo=UTC)
CONCEPT_CHANGE_AT = datetime(2018, 8, 15, tzinfo=UTC)
"""Both changes go into one replay, two months apart (a replay costs minutes)."""
SEGMENT_MODULUS = 5
"""The data change's segment: customers whose numeric id is a multiple of 5 (a fifth)."""
AMOUNT_FACTOR = 3.0
FLIPPED_SCENARIO = "2"
"""The concept change: frauds of the handbook's scenario 2 (compromised terminals, the
commonest) are labelled genuine from the change on."""
EMOTION_WARM_UP = 3_000
EMOTION_CHANGE_AT = 10_000
SWAPPED = ("joy", "sadness")
MIX_SHARE = 0.25
"""The data change: from the change on, a quarter of the texts are CrowdFlower tweets."""
TEXT_START = datetime(2024, 1, 1, tzinfo=UTC)
SEED = 0

KINDS = ("data", "prediction", "concept")
LIMITS = {"fraud-concept": 5_000, "default": 2_000}
"""Acceptance: detected within this many events (labels for concept drift)."""


@dataclass(slots=True)
class RunLog:
    """A run's alerts, each with its stream position (events and labels seen so far)."""

    name: str
    events: int = 0
    labels: int = 0
    alerts: list[tuple[int, int, DriftAlert]] = field(default_factory=list)
    change_event: int | None = None
    change_label: int | None = None
    seconds: float = 0.0

    def add(self, alerts: Iterable[DriftAlert]) -> None:
        self.alerts.extend((self.events, self.labels, a) for a in alerts)


# --- injections -------------------------------------------------------------------------


def in_segment(customer_id: str, modulus: int = SEGMENT_MODULUS) -> bool:
    """Whether a customer belongs to the data change's segment.

    >>> in_segment("10"), in_segment("11")
    (True, False)
    """
    return int(customer_id) % modulus == 0


def scale_amounts(
    records: Iterable[ReplayRecord], since: datetime, factor: float = AMOUNT_FACTOR
) -> Iterator[ReplayRecord]:
    """Multiply the amounts of the segment's transactions from ``since`` on by ``factor``."""
    for r in records:
        if isinstance(r, Transaction) and r.event_time >= since and in_segment(r.customer_id):
            yield replace(r, amount=r.amount * factor)
        else:
            yield r


def flip_labels(
    records: Iterable[ReplayRecord], since: datetime, flipped: set[str]
) -> Iterator[ReplayRecord]:
    """Label genuine the frauds in ``flipped`` (event ids) whose event is from ``since`` on."""
    for r in records:
        if (
            isinstance(r, Label)
            and r.event_id in flipped
            and r.event_time is not None
            and r.event_time >= since
        ):
            yield replace(r, label="0")
        else:
            yield r


def scenario_frauds(path: Path, scenario: str, since: datetime) -> set[str]:
    """Ids of the frauds of ``scenario`` (``TX_FRAUD_SCENARIO``) from ``since`` on."""
    key = since.strftime("%Y-%m-%d %H:%M:%S")
    with open_text(path) as handle:
        rows = csv.reader(handle)
        next(rows, None)
        return {row[0] for row in rows if row[8] == scenario and row[1] >= key}


def swap_labels(texts: list[TextEvent], since: int, pair: tuple[str, str]) -> list[TextEvent]:
    """Swap the two labels of ``pair`` on the texts from index ``since`` on."""
    a, b = pair
    swap = {a: b, b: a}
    return texts[:since] + [
        replace(t, label=swap.get(t.label or "", t.label)) for t in texts[since:]
    ]


def mix_in(
    texts: list[TextEvent], others: list[TextEvent], since: int, share: float, seed: int = SEED
) -> list[TextEvent]:
    """From index ``since`` on, put others before each text, one more with probability
    ``share`` each time (a geometric count), so that ``share`` of the texts after it are
    others."""
    rng, pool, odds = random.Random(seed), iter(others), share
    out = texts[:since]
    for text in texts[since:]:
        while rng.random() < odds:
            other = next(pool, None)
            if other is None:
                break
            out.append(other)
        out.append(text)
    return out


# --- runs -------------------------------------------------------------------------------


def run_fraud(
    name: str,
    records: Iterable[ReplayRecord],
    *,
    monitor_from: datetime,
    change_at: datetime | None = None,
    label_change_at: datetime | None = None,
    config: MonitorConfig = FRAUD_CONFIG,
    model_factory: Callable[[], Any] | None = None,
) -> RunLog:
    """Features, score and monitor each transaction; learn and monitor each label."""
    from streamml.features.fraud import FraudFeatureStore
    from streamml.models.fraud import plain_logistic

    model = (model_factory or plain_logistic)()
    # The replay skips the warm-up itself (``monitor_from``): the monitor watches at once.
    config = replace(config, warm_up=timedelta(0))
    store, monitor, log = FraudFeatureStore(), DriftMonitor("fraud", config), RunLog(name)
    pending: dict[str, tuple[dict[str, float], float]] = {}
    started = time.perf_counter()
    for offset, r in enumerate(interleave_labels(records)):
        if isinstance(r, Transaction):
            x = store.on_transaction(r)
            score = float(model.predict_proba_one(x).get(True, 0.0))
            pending[r.event_id] = (x, score)
            if r.event_time < monitor_from:
                continue
            if change_at is not None and log.change_event is None and r.event_time >= change_at:
                log.change_event = log.events
            log.events += 1
            log.add(monitor.on_features(x, r.event_time, offset))
            log.add(monitor.on_prediction(score, r.event_time, offset))
        elif isinstance(r, Label):
            store.on_label(r)
            x, score = pending.pop(r.event_id)
            fraud = r.label == "1"
            model.learn_one(x, fraud)
            if r.label_time < monitor_from:
                continue
            if (
                label_change_at is not None
                and log.change_label is None
                and r.event_time is not None
                and r.event_time >= label_change_at
            ):
                log.change_label = log.labels
            log.labels += 1
            log.add(monitor.on_outcome(score, fraud, r.label_time, offset))
    log.seconds = time.perf_counter() - started
    return log


def run_emotion(
    name: str,
    texts: list[TextEvent],
    *,
    change_at: int | None = None,
    warm_up: int = EMOTION_WARM_UP,
    config: MonitorConfig = EMOTION_CONFIG,
    model_factory: Callable[[], Any] | None = None,
) -> RunLog:
    """Predict, monitor, learn and monitor the loss of each text (labels come at once)."""
    from streamml.evaluate.emotion import predicted_class
    from streamml.models.emotion import emotion_model

    model = (model_factory or emotion_model)()
    config = replace(config, warm_up=timedelta(0))  # the replay skips its warm-up
    monitor, log = DriftMonitor("emotion", config), RunLog(name)
    started = time.perf_counter()
    for i, text in enumerate(texts):
        when = TEXT_START + timedelta(seconds=i)
        predicted = predicted_class(model, text.text)
        label = text.label or ""
        model.learn_one(text.text, label)
        if i < warm_up:
            continue
        if change_at is not None and i == change_at:
            log.change_event = log.events
            log.change_label = log.labels
        log.events += 1
        log.add(monitor.on_text(text.text, when, i))
        log.add(monitor.on_prediction(predicted, when, i))
        log.labels += 1
        log.add(monitor.on_loss(float(predicted != label), when, i))
    log.seconds = time.perf_counter() - started
    return log


# --- the evaluation ---------------------------------------------------------------------


def fraud_job(name: str, path: Path) -> RunLog:
    """One fraud replay: ``fraud-stationary`` or ``fraud-changes``."""
    records = read_fraud_handbook(path, start=FRAUD_START, end=FRAUD_END)
    if name == "fraud-stationary":
        return run_fraud(name, records, monitor_from=FRAUD_MONITOR_FROM)
    flipped = scenario_frauds(path, FLIPPED_SCENARIO, CONCEPT_CHANGE_AT)
    changed = flip_labels(scale_amounts(records, DATA_CHANGE_AT), CONCEPT_CHANGE_AT, flipped)
    return run_fraud(
        name,
        changed,
        monitor_from=FRAUD_MONITOR_FROM,
        change_at=DATA_CHANGE_AT,
        label_change_at=CONCEPT_CHANGE_AT,
    )


def emotion_jobs(data_dir: Path) -> list[RunLog]:
    """The emotion replays: as it is, two labels swapped, tweets mixed in."""
    texts = [
        t
        for split in emotion6.SPLITS
        for t in emotion6.read_emotion6(require_file(data_dir, emotion6.file_name(split)), split)
    ]
    tweets = list(crowdflower.read_crowdflower(require_file(data_dir, crowdflower.FILE_NAME)))
    return [
        run_emotion("emotion-stationary", texts),
        run_emotion(
            "emotion-changes-concept",
            swap_labels(texts, EMOTION_CHANGE_AT, SWAPPED),
            change_at=EMOTION_CHANGE_AT,
        ),
        run_emotion(
            "emotion-changes-data",
            mix_in(texts, tweets, EMOTION_CHANGE_AT, MIX_SHARE),
            change_at=EMOTION_CHANGE_AT,
        ),
    ]


def evaluate_drift(data_dir: Path, *, workers: int = 2) -> dict[str, Any]:
    """Run every replay (the two fraud ones and the emotion ones side by side on
    ``workers`` processes) and report them."""
    started = time.perf_counter()
    fraud_path = require_file(data_dir, FILE_NAME)
    with ProcessPoolExecutor(max_workers=workers) as pool:
        fraud = [
            pool.submit(fraud_job, n, fraud_path) for n in ("fraud-stationary", "fraud-changes")
        ]
        emotion = pool.submit(emotion_jobs, data_dir)
        logs = [f.result() for f in fraud] + emotion.result()
    report = drift_report(logs)
    report["wall_seconds"] = round(time.perf_counter() - started, 1)
    return report


def drift_report(logs: list[RunLog]) -> dict[str, Any]:
    """Changes found, false alarms, duplicates and acceptance, from finished runs."""
    by_name = {log.name: log for log in logs}
    changes = []
    for log in logs:
        task = log.name.split("-")[0]
        if log.change_event is not None and "concept" not in log.name:
            changes.append(change_report(log, "data", task, log.change_event))
        if log.change_label is not None and "data" not in log.name:
            changes.append(change_report(log, "concept", task, log.change_label))
    stationary = {
        name: false_alarms(log) for name, log in by_name.items() if name.endswith("stationary")
    }
    duplicates = sum(duplicate_alerts(log) for log in logs)
    fraud_rates = stationary.get("fraud-stationary", {}).get("per_100k", {})
    return {
        "changes": changes,
        "stationary": stationary,
        "duplicate_alerts": duplicates,
        "runs": {
            log.name: {"events": log.events, "labels": log.labels, "seconds": round(log.seconds, 1)}
            for log in logs
        },
        "acceptance": {
            "all_changes_detected_in_time": all(c["within_limit"] for c in changes),
            "fraud_false_alarms_at_most_1_per_100k": all(v <= 1.0 for v in fraud_rates.values()),
            "no_duplicates": duplicates == 0,
        },
    }


def change_report(log: RunLog, kind: str, task: str, at: int) -> dict[str, Any]:
    """Whether the ``kind`` alerts of ``log`` caught its change at position ``at`` (events,
    or labels for concept drift), how fast, and what else they raised."""
    position = 1 if kind == "concept" else 0
    started = [(p[position], a) for *p, a in _positions(log) if a.state == "started"]
    own = [(pos, a) for pos, a in started if a.kind == kind]
    after = [(pos, a) for pos, a in own if pos > at]
    limit = LIMITS.get(f"{task}-{kind}", LIMITS["default"])
    first = after[0] if after else None
    delay = first[0] - at if first else None
    return {
        "run": log.name,
        "kind": kind,
        "change_at": at,
        "unit": "labels" if kind == "concept" else "events",
        "detected": first is not None,
        "delay": delay,
        "limit": limit,
        "within_limit": delay is not None and delay <= limit,
        "first_alert": _describe(first[1]) if first else None,
        "alerts_before_change": sum(pos <= at for pos, _ in own),
        "episodes_after_change": Counter(a.subject for _, a in after),
        "other_kinds_after_change": Counter(
            a.kind for pos, a in started if a.kind != kind and pos > at
        ),
    }


def _positions(log: RunLog) -> list[tuple[int, int, DriftAlert]]:
    return log.alerts


def _describe(alert: DriftAlert) -> dict[str, Any]:
    return {
        "alert_id": alert.alert_id,
        "subject": alert.subject,
        "severity": alert.severity,
        "statistic": round(alert.statistic, 4),
        "threshold": round(alert.threshold, 4),
    }


def false_alarms(log: RunLog) -> dict[str, Any]:
    """Started alerts per kind on a stream without changes, and per 100,000 events
    (labels for concept drift)."""
    counts = Counter(a.kind for *_, a in log.alerts if a.state == "started")
    per = {
        k: 100_000 * counts[k] / max(log.labels if k == "concept" else log.events, 1) for k in KINDS
    }
    return {
        "events": log.events,
        "labels": log.labels,
        "started": {k: counts[k] for k in KINDS},
        "per_100k": {k: round(v, 3) for k, v in per.items()},
        "subjects": Counter(
            f"{a.kind}/{a.subject}" for *_, a in log.alerts if a.state == "started"
        ),
    }


def duplicate_alerts(log: RunLog) -> int:
    """Started alerts for a subject whose episode is open, or reusing an alert id."""
    open_episodes: set[tuple[str, str]] = set()
    seen: set[str] = set()
    duplicates = 0
    for *_, a in log.alerts:
        key = (a.kind, a.subject)
        if a.state == "started":
            duplicates += key in open_episodes or a.alert_id in seen
            open_episodes.add(key)
            seen.add(a.alert_id)
        else:
            open_episodes.discard(key)
    return duplicates


def headline(report: dict[str, Any]) -> str:
    """A few lines for the terminal."""
    lines = []
    for c in report["changes"]:
        lines.append(
            f"{c['run']} {c['kind']}: detected={c['detected']} delay={c['delay']} {c['unit']} "
            f"(limit {c['limit']}), alerts before the change={c['alerts_before_change']}"
        )
    for name, s in report["stationary"].items():
        lines.append(f"{name}: {s['events']} events, false alarms per 100k {s['per_100k']}")
    lines.append(
        f"duplicate alerts: {report['duplicate_alerts']}; acceptance {report['acceptance']}"
    )
    if "wall_seconds" in report:
        lines.append(f"wall {report['wall_seconds']} s")
    return "\n".join(lines)
