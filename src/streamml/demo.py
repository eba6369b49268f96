"""``streamml demo``: the whole slice on one machine, started and stopped by itself."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from rich.console import Console
from rich.table import Table

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import SourceOptions, get_source
from streamml.lakefiles import lake_rows
from streamml.produce import replay
from streamml.records import DeadLetter, Label, Prediction
from streamml.services.kafka import LocalKafka
from streamml.settings import Settings

console = Console(stderr=True)

# A few records no contract accepts, so the dead-letter path shows up in the demo.
MALFORMED = [b"", b"not avro, not json", b'{"event_id": "x"}', b"\xc3\x01" + b"\x00" * 8 + b"\x02"]


@dataclass(frozen=True, slots=True)
class DemoPlan:
    transactions: int
    texts: int
    clicks: int
    rate: float
    keep_services: bool
    # Shortened from the handbook's 7 days so the model learns within a short demo.
    label_delay: timedelta = timedelta(hours=1)


@dataclass(slots=True)
class Outcome:
    predictions: list[Prediction] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)


def run_demo(settings: Settings, plan: DemoPlan) -> None:
    """Run the demo; Ctrl-C at any point still stops the worker and the broker.

    Each run uses its own topics and consumer group (unless ``STREAMML_TOPIC_PREFIX`` is
    set), so what it prints is exactly what this run produced.
    """
    _interrupt_on(signal.SIGINT, signal.SIGTERM)
    if not settings.topic_prefix:
        run = f"demo-{time.strftime('%Y%m%d-%H%M%S')}-"
        settings = settings.model_copy(update={"topic_prefix": run, "app_id": f"{run}worker"})
    if settings.lake_url is None:  # zero setup: this run's lake in a local directory
        lake = (settings.state_dir / "lake" / settings.topic_prefix.rstrip("-")).resolve()
        settings = settings.model_copy(update={"lake_url": f"file://{lake}"})
    kafka = LocalKafka(settings)
    started_kafka = not kafka.status().running
    kafka.up()
    worker: subprocess.Popen[bytes] | None = None
    try:
        ensure_topics(settings)
        outputs = [settings.topics.fraud_predictions, settings.topics.emotion_predictions]
        marks = _end_offsets(settings, [*outputs, settings.topics.dead_letters])
        worker = _start_worker(settings)
        expected = _replay_slice(settings, plan)
        outcome = _collect(settings, marks, expected, worker)
        _report(outcome, settings)
        _stop_worker(worker)  # the sink flushes its open batches as it stops
        worker = None
        _report_lake(settings)
    except KeyboardInterrupt:
        console.print("[yellow]interrupted: stopping cleanly[/yellow]")
    finally:
        if worker is not None:
            _stop_worker(worker)
        if started_kafka and not plan.keep_services:
            kafka.down()


def _interrupt_on(*signals: signal.Signals) -> None:
    """Ctrl-C and SIGTERM both stop the demo through the same cleanup path."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    for number in signals:
        signal.signal(number, interrupt)


def _start_worker(settings: Settings) -> subprocess.Popen[bytes]:
    log_path = settings.state_dir / "demo-worker.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    console.print(f"starting the worker (log: {log_path})")
    env = {
        **os.environ,
        "STREAMML_KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "STREAMML_TOPIC_PREFIX": settings.topic_prefix,
        "STREAMML_APP_ID": settings.app_id,
        # A short demo sees a few thousand labels: publish snapshots often enough to show.
        "STREAMML_SNAPSHOT_EVERY_EXAMPLES": "500",
        "STREAMML_LAKE_URL": settings.lake_url or "",
    }
    with log_path.open("ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "streamml", "worker"], stdout=log, stderr=log, env=env
        )


def _stop_worker(worker: subprocess.Popen[bytes]) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()
    console.print(f"worker stopped (exit code {worker.returncode})")


def _replay_slice(settings: Settings, plan: DemoPlan) -> int:
    fraud = get_source(
        "fraud", settings, SourceOptions(limit=plan.transactions, label_delay=plan.label_delay)
    )
    texts = get_source("emotion6", settings, SourceOptions(split="train", limit=plan.texts))
    clicks = get_source(
        "clickstream",
        settings,
        SourceOptions(limit=plan.clicks, customers=200, label_delay=plan.label_delay),
    )
    records = [*fraud.records(), *texts.records(), *clicks.records()]
    console.print(f"replaying {len(records)} records at {plan.rate:.0f}/s")
    summary = replay(settings, records, rate=plan.rate, progress=True, fmt=settings.output_format)
    if summary.interrupted:
        raise KeyboardInterrupt
    producer = Producer(settings.kafka_client_config())
    for raw in MALFORMED:
        producer.produce(settings.topics.transactions, raw)
    producer.flush(30)
    events = sum(1 for r in records if not isinstance(r, Label))
    return events + len(MALFORMED)


def _end_offsets(settings: Settings, topics: list[str]) -> list[TopicPartition]:
    consumer = Consumer({**settings.kafka_client_config(), "group.id": "streamml-demo-marks"})
    try:
        marks = []
        for topic in topics:
            meta = consumer.list_topics(topic, timeout=10).topics[topic]
            for partition in meta.partitions:
                high = _high_watermark(consumer, TopicPartition(topic, partition))
                marks.append(TopicPartition(topic, partition, high))
        return marks
    finally:
        consumer.close()


def _high_watermark(consumer: Consumer, tp: TopicPartition, timeout: float = 30.0) -> int:
    """The partition's end offset, waiting out a leader that is still being elected."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return int(consumer.get_watermark_offsets(tp, 10)[1])
        except KafkaException:
            # A new topic answers NOT_LEADER until its leader is in place.
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def _collect(
    settings: Settings,
    marks: list[TopicPartition],
    expected: int,
    worker: subprocess.Popen[bytes],
) -> Outcome:
    consumer = Consumer(
        {**settings.kafka_client_config(), "group.id": "streamml-demo", "enable.auto.commit": False}
    )
    consumer.assign(marks)
    outcome = Outcome()
    deadline = time.monotonic() + 120
    with console.status("waiting for the worker's outputs") as status:
        while len(outcome.predictions) + len(outcome.dead_letters) < expected:
            if time.monotonic() > deadline or worker.poll() is not None:
                why = "the worker exited" if worker.poll() is not None else "timed out"
                console.print(f"[red]{why} before all outputs arrived; see its log[/red]")
                break
            for message in consumer.consume(500, timeout=0.5):
                topic, value = message.topic(), message.value()
                if message.error() is None and topic is not None and value is not None:
                    _add(outcome, settings, topic, value)
            status.update(
                f"outputs: {len(outcome.predictions)} predictions, "
                f"{len(outcome.dead_letters)} dead letters of {expected}"
            )
    consumer.close()
    return outcome


def _add(outcome: Outcome, settings: Settings, topic: str, value: bytes) -> None:
    if topic == settings.topics.dead_letters:
        outcome.dead_letters.append(decode_record(DeadLetter, value))
    else:
        outcome.predictions.append(decode_record(Prediction, value))


def _report(outcome: Outcome, settings: Settings) -> None:
    predictions = outcome.predictions
    if predictions:
        times = sorted(p.processed_time for p in predictions)
        span = max((times[-1] - times[0]).total_seconds(), 1e-3)
        console.print(
            f"[bold]{len(predictions)} predictions, {len(predictions) / span:.0f}/s[/bold]"
        )
    table = Table("event id", "task", "model version", "score / class", "probability")
    for p in _sample(predictions):
        top = p.predicted_class or ""
        value = f"{p.score:.4f}" if p.score is not None else top or ",".join(p.flags)
        proba = f"{(p.probabilities or {}).get(top, 0.0):.3f}" if top else ""
        table.add_row(p.event_id, p.task, p.model_version, value, proba)
    console.print(table)
    kinds = Counter(d.error_kind for d in outcome.dead_letters)
    console.print(f"[bold]{len(outcome.dead_letters)} dead letters[/bold]: {dict(kinds)}")
    for letter in outcome.dead_letters[:5]:
        console.print(
            f"  {letter.source_topic}[{letter.source_partition}]@{letter.source_offset} "
            f"{letter.error_kind}: {letter.message}"
        )
    console.print(f"worker log: {Path(settings.state_dir) / 'demo-worker.log'}")


def _report_lake(settings: Settings) -> None:
    """What this run landed in the lake: objects and rows per topic."""
    store = settings.lake()
    table = Table(title=f"lake {store.url}")
    for column in ("topic", "objects", "rows"):
        table.add_column(column)
    for topic in settings.sink_topic_names():
        keys = store.list(f"topic={topic}/")
        rows = sum(lake_rows(store.get(k) or b"", k) for k in keys)
        table.add_row(topic.removeprefix(settings.topic_prefix), str(len(keys)), str(rows))
    console.print(table)


def _sample(predictions: list[Prediction]) -> list[Prediction]:
    payments = [p for p in predictions if p.task == "fraud" and p.score is not None][-3:]
    clicks = [p for p in predictions if p.task == "fraud" and p.score is None][-1:]
    texts = [p for p in predictions if p.task != "fraud"][-3:]
    return payments + clicks + texts
