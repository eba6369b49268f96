"""Replay records into Kafka: the producer side of demos, benchmarks and load tests.

Delivery: at-least-once per replay, in order per key (the producer is idempotent, so its
own retries never duplicate or reorder). Running a replay twice publishes everything
twice; consumers see two events with the same ``event_id``.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from types import TracebackType
from typing import TYPE_CHECKING, Protocol

from confluent_kafka import KafkaError, KafkaException, Message, Producer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from streamml.contracts import encode_record
from streamml.datasets import ReplayRecord, interleave_labels
from streamml.errors import RecordError, ServiceError
from streamml.records import Label, TextEvent, Transaction
from streamml.settings import Settings, Topics, WireFormat

if TYPE_CHECKING:
    DeliveryCallback = Callable[[KafkaError | None, Message], None]

logger = logging.getLogger(__name__)

# Throughput settings: batches of up to 1 MB, compressed, after at most 20 ms.
PRODUCER_TUNING: dict[str, str | int | bool] = {
    "client.id": "streamml-replay",
    "linger.ms": 20,
    "batch.size": 1_000_000,
    "compression.type": "lz4",
    "enable.idempotence": True,
    "queue.buffering.max.messages": 500_000,
    # The Java clients' partitioner, as the worker's: records keyed alike (a terminal's
    # labels and its scored transactions) meet in the same partition number.
    "partitioner": "murmur2_random",
}


class ProducerLike(Protocol):
    """The part of ``confluent_kafka.Producer`` a replay uses (tests pass a fake)."""

    def produce(
        self, topic: str, value: bytes, key: bytes, *, on_delivery: DeliveryCallback
    ) -> None: ...

    def poll(self, timeout: float) -> int: ...

    def flush(self, timeout: float) -> int: ...


@dataclass(frozen=True, slots=True)
class ReplaySummary:
    """What a replay did. ``sent`` counts records the broker acknowledged; ``failed``
    those it refused, that broke their contract, or that were still unacknowledged when
    the replay stopped; ``errors`` counts each distinct reason."""

    sent: int
    failed: int
    seconds: float
    rate: float
    interrupted: bool = False
    errors: dict[str, int] = field(default_factory=dict)


def topic_for(record: ReplayRecord, topics: Topics) -> str:
    """The topic a record is published to.

    >>> from datetime import datetime, UTC
    >>> from streamml.records import Label
    >>> topics = Topics.with_prefix("demo.")
    >>> topic_for(Label("e1", "fraud", "0", datetime(2024, 1, 1, tzinfo=UTC)), topics)
    'demo.fraud-labels'
    >>> topic_for(Label("e2", "emotion6", "joy", datetime(2024, 1, 1, tzinfo=UTC)), topics)
    'demo.emotion-labels'
    """
    if isinstance(record, Transaction):
        return topics.transactions
    if isinstance(record, TextEvent):
        return topics.texts
    return topics.fraud_labels if record.task == "fraud" else topics.emotion_labels


def key_for(record: ReplayRecord) -> bytes:
    """The message key: the customer for transactions (per-customer order and state), the
    terminal for labels that name one (they meet the terminal's state and the scorer's
    pending features there), else the event id.

    >>> from datetime import datetime, UTC
    >>> key_for(Transaction("t1", datetime(2024, 1, 1, tzinfo=UTC), "c9", "m1", 3.0))
    b'c9'
    """
    if isinstance(record, Transaction):
        return record.customer_id.encode()
    if isinstance(record, Label) and record.terminal_id is not None:
        return record.terminal_id.encode()
    return record.event_id.encode()


def pacing_delay(sent: int, elapsed: float, rate: float) -> float:
    """Seconds to sleep so that ``sent`` records took ``sent / rate`` seconds in all.

    Measured against the start of the replay, not the last batch, so errors of the
    sleeps never accumulate.

    >>> pacing_delay(sent=100, elapsed=0.004, rate=10_000)
    0.006
    >>> pacing_delay(sent=100, elapsed=0.5, rate=10_000)  # behind: no sleep
    0.0
    """
    return max(0.0, round(sent / rate - elapsed, 9))


def pacing_batch(rate: float | None) -> int:
    """Records between two pacing checks: about 100 checks a second, at most 1,000 records.

    >>> pacing_batch(10_000), pacing_batch(5), pacing_batch(None)
    (100, 1, 1000)
    """
    if rate is None:
        return 1000
    return max(1, min(1000, int(rate / 100)))


class DeliveryCounter:
    """The delivery callback: counts acknowledgements and failures by reason."""

    def __init__(self) -> None:
        self.sent = 0
        self.failed = 0
        self.errors: Counter[str] = Counter()

    def __call__(self, error: KafkaError | None, message: Message) -> None:
        if error is None:
            self.sent += 1
        else:
            self.fail(error.str())

    def fail(self, reason: str, count: int = 1) -> None:
        self.failed += count
        self.errors[reason] += count


class _RateColumn(ProgressColumn):
    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} rec/s" if speed else "- rec/s")


class ReplayProgress:
    """A rich progress bar on stderr (count, rate, elapsed, ETA when ``total`` is known);
    does nothing when disabled."""

    def __init__(self, enabled: bool, total: int | None, delivery: DeliveryCounter) -> None:
        self.delivery = delivery
        self.progress: Progress | None = None
        if enabled:
            self.progress = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                _RateColumn(),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
            )
            self.task = self.progress.add_task("replaying", total=total)

    def __enter__(self) -> ReplayProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, produced: int) -> None:
        if self.progress is not None:
            acked, failed = self.delivery.sent, self.delivery.failed
            self.progress.update(
                self.task, completed=produced, description=f"{acked:,} acked, {failed:,} failed"
            )


def make_producer(settings: Settings) -> ProducerLike:
    """A tuned producer for ``settings``' cluster; fails fast if the cluster is unreachable."""
    producer = Producer({**settings.kafka_client_config(), **PRODUCER_TUNING})
    try:
        producer.list_topics(timeout=10)
    except KafkaException as error:
        raise ServiceError(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {error.args[0]}"
        ) from None
    return producer


def replay(
    settings: Settings,
    records: Iterable[ReplayRecord],
    rate: float | None = None,
    progress: bool = True,
    fmt: WireFormat = "avro",
    *,
    total: int | None = None,
    producer: ProducerLike | None = None,
    flush_timeout: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> ReplaySummary:
    """Publish ``records`` in time order, labels at their ``label_time``, at ``rate``/s.

    ``records`` must be in event-time order (every source is); labels are moved to their
    label time by :func:`~streamml.datasets.interleave_labels`. ``rate`` counts all
    records, labels included; ``None`` means as fast as possible. ``total`` (the number
    of records, if known) gives the progress bar an ETA. Ctrl-C stops reading records,
    waits for those already handed to the producer, and returns with ``interrupted``.
    """
    producer = producer if producer is not None else make_producer(settings)
    delivery = DeliveryCounter()
    batch = pacing_batch(rate)
    topics = settings.topics
    produced = 0
    interrupted = False
    started = clock()
    with ReplayProgress(progress, total, delivery) as view:
        try:
            for record in interleave_labels(records):
                _send(producer, topics, record, fmt, delivery)
                produced += 1
                if produced % batch == 0:
                    producer.poll(0)
                    view.update(produced)
                    if rate is not None:
                        sleep(pacing_delay(produced, clock() - started, rate))
        except KeyboardInterrupt:
            interrupted = True
            logger.warning("interrupted after %d records; flushing what was produced", produced)
        _flush(producer, delivery, flush_timeout)
        view.update(produced)
    seconds = clock() - started
    return _summary(delivery, seconds, interrupted)


def _send(
    producer: ProducerLike,
    topics: Topics,
    record: ReplayRecord,
    fmt: WireFormat,
    delivery: DeliveryCounter,
) -> None:
    try:
        value = encode_record(record, fmt)
    except RecordError as error:
        logger.warning("not publishing record %s: %s", record.event_id, error.message)
        delivery.fail(f"invalid record ({error.kind})")
        return
    topic = topic_for(record, topics)
    while True:
        try:
            producer.produce(topic, value, key_for(record), on_delivery=delivery)
            return
        except BufferError:
            # The local queue is full: serve delivery reports until there is room.
            producer.poll(0.05)


def _flush(producer: ProducerLike, delivery: DeliveryCounter, timeout: float) -> None:
    try:
        remaining = producer.flush(timeout)
    except KeyboardInterrupt:
        remaining = producer.flush(0)
        logger.warning("flush interrupted with %d records unacknowledged", remaining)
    if remaining:
        delivery.fail("not acknowledged before the replay stopped", remaining)


def _summary(delivery: DeliveryCounter, seconds: float, interrupted: bool) -> ReplaySummary:
    for reason, count in delivery.errors.most_common():
        logger.warning("%d records failed: %s", count, reason)
    return ReplaySummary(
        sent=delivery.sent,
        failed=delivery.failed,
        seconds=seconds,
        rate=delivery.sent / seconds if seconds > 0 else 0.0,
        interrupted=interrupted,
        errors=dict(delivery.errors),
    )
