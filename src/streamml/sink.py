"""The lake sink: every chosen topic, batched per partition, written to the object store,
offsets committed only once the batch is durable.

Objects are ``topic=T/dt=YYYY-MM-DD/hour=HH/T-P-OFFSET.EXT``: topic, partition and the
batch's first offset, under the Kafka timestamp's UTC day and hour (Hive partitions, so
Athena, Spark, DuckDB or pyarrow read the lake as one dataset). A batch rolls when it
reaches ``sink_max_records`` or ``sink_max_bytes``, when its records span
``sink_max_span_seconds``, or when the next record falls in another hour; a partition
quiet for ``sink_idle_seconds`` is flushed. Offsets are committed after the object is
written, so a crash replays from the first offset of the unwritten batch and rewrites the
same object name: each record is in the store exactly once.

When the store fails, the sink pauses its partitions and retries with backoff (still
polling, so it stays in its consumer group), then resumes. Records librdkafka had fetched
before the pause still arrive while it waits: they queue in the sink's inbox, in order,
behind the records already in hand, and are taken after the write. Memory stays bounded by
the open batches and one fetch queue; nothing is dropped and nothing is sought, so no
record arrives twice.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from confluent_kafka import (
    TIMESTAMP_NOT_AVAILABLE,
    Consumer,
    KafkaException,
    Message,
    TopicPartition,
)

from streamml import metrics
from streamml.contracts import Record, decode_record
from streamml.errors import RecordError
from streamml.lakefiles import EXTENSIONS, LakeFormat, encode_batch, lake_row, record_class
from streamml.settings import Settings
from streamml.store import ObjectStore, StoreError

logger = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 30.0
FETCH_QUEUE_KBYTES = 32 * 1024
"""librdkafka's prefetch bound per consumer: with the open batches, the sink's memory."""


@dataclass(frozen=True, slots=True)
class BatchLimits:
    records: int
    bytes: int
    span_ms: int
    idle_seconds: float

    @classmethod
    def from_settings(cls, settings: Settings) -> BatchLimits:
        return cls(
            settings.sink_max_records,
            settings.sink_max_bytes,
            int(settings.sink_max_span_seconds * 1000),
            settings.sink_idle_seconds,
        )


@dataclass(slots=True)
class Batch:
    """Consecutive records of one topic partition, all in one hour of Kafka time."""

    topic: str
    partition: int
    first_offset: int
    first_ms: int
    rows: list[dict[str, Any]] = field(default_factory=list)
    assignment: int = 0  # which assignment of the partition it was read under
    last_offset: int = -1
    size: int = 0
    undecodable: int = 0
    touched: float = field(default_factory=time.monotonic)

    @property
    def hour(self) -> int:
        return self.first_ms // 3_600_000

    def key(self, fmt: LakeFormat) -> str:
        when = datetime.fromtimestamp(self.first_ms / 1000, UTC)
        name = f"{self.topic}-{self.partition}-{self.first_offset:020d}.{EXTENSIONS[fmt]}"
        return f"topic={self.topic}/dt={when:%Y-%m-%d}/hour={when:%H}/{name}"

    def full(self, limits: BatchLimits, last_ms: int) -> bool:
        return (
            len(self.rows) >= limits.records
            or self.size >= limits.bytes
            or last_ms - self.first_ms >= limits.span_ms
        )


def message_ms(message: Message) -> int:
    kind, ms = message.timestamp()
    return 0 if kind == TIMESTAMP_NOT_AVAILABLE or ms < 0 else int(ms)


class LakeSink:
    """Consumes ``settings.sink_topic_names()`` in its own group (``<app_id>-sink``) and
    lands them in ``store``. :meth:`run` returns when ``stop`` is set, after flushing."""

    def __init__(
        self,
        settings: Settings,
        store: ObjectStore,
        clock: Callable[[], float] = time.monotonic,
        consumer: Callable[[dict[str, Any]], Consumer] = Consumer,
    ) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.limits = BatchLimits.from_settings(settings)
        self.topics = settings.sink_topic_names()
        self.batches: dict[tuple[str, int], Batch] = {}
        self.owned: set[tuple[str, int]] = set()
        # Per owned partition, the assignment it came with (a count of assignments): a
        # batch read under an earlier one is no longer this sink's to commit.
        self.assignments: dict[tuple[str, int], int] = {}
        self.assignment_count = 0
        # Per partition, the offset after the last record taken into a batch. Nothing is
        # expected below it (the sink never seeks); a record there is in a batch already.
        self.positions: dict[tuple[str, int], int] = {}
        # Records consumed and not yet taken, each with the assignment count it came under.
        self.inbox: deque[tuple[Message, int]] = deque()
        self.redelivered = 0
        self.written_records = 0
        self.written_objects = 0
        self.undecodable = 0
        self.store_failures = 0
        self.consumer = consumer(
            {
                **settings.kafka_client_config(),
                "group.id": f"{settings.app_id}-sink",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "queued.max.messages.kbytes": FETCH_QUEUE_KBYTES,
                "fetch.message.max.bytes": 16 * 1024 * 1024,
            }
        )

    def format_of(self, topic: str) -> LakeFormat:
        name = topic.removeprefix(self.settings.topic_prefix)
        return self.settings.sink_formats.get(name, self.settings.sink_format)

    def run(self, stop: threading.Event) -> None:
        self.consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked)
        logger.info("lake sink: %s -> %s", ", ".join(self.topics), self.store.url)
        last_report = self.clock()
        try:
            while not stop.is_set():
                self._receive(self.consumer.consume(1000, timeout=0.5))
                while self.inbox:  # grows while a write waits for the store (see _wait)
                    self._add(*self.inbox.popleft(), stop)
                self._flush_idle(stop)
                if self.clock() - last_report >= 10:
                    last_report = self.clock()
                    self._report()
            for batch in list(self.batches.values()):
                self._flush(batch, stop)  # one attempt each: unwritten ones replay later
        finally:
            self._report()
            self.consumer.close()

    def _receive(self, messages: list[Message]) -> None:
        fetched_under = self.assignment_count
        self.inbox.extend((message, fetched_under) for message in messages)

    def _report(self) -> None:
        logger.info(
            "lake sink: %d records in %d objects; %d open batches; %d partitions; "
            "%d undecodable; %d store failures; %d delivered twice",
            self.written_records,
            self.written_objects,
            len(self.batches),
            len(self.owned),
            self.undecodable,
            self.store_failures,
            self.redelivered,
        )

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.assignment_count += 1
        for tp in partitions:
            self.owned.add((tp.topic, tp.partition))
            self.assignments[(tp.topic, tp.partition)] = self.assignment_count

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Uncommitted records of a lost partition are read again by its next owner, which
        # starts from the same first offset and so writes the same object names.
        for tp in partitions:
            self.batches.pop((tp.topic, tp.partition), None)
            self.positions.pop((tp.topic, tp.partition), None)
            self.owned.discard((tp.topic, tp.partition))
            self.assignments.pop((tp.topic, tp.partition), None)
        lost = {(tp.topic, tp.partition) for tp in partitions}
        self.inbox = deque(
            (m, under) for m, under in self.inbox if (m.topic(), m.partition()) not in lost
        )

    def _add(self, message: Message, fetched_under: int, stop: threading.Event) -> None:
        """Take ``message``, fetched when ``fetched_under`` assignments had been made, into
        its partition's batch."""
        error = message.error()
        if error is not None:
            if error.fatal():
                raise KafkaException(error)
            logger.warning("lake sink: consumer error %s", error)
            return
        topic, partition, offset = message.topic(), message.partition(), message.offset()
        assert topic is not None and partition is not None and offset is not None
        ms = message_ms(message)
        here = (topic, partition)
        if not self._current(here, fetched_under):
            return
        if offset < self.positions.get(here, -1):
            self.redelivered += 1
            return  # already in a batch, written or open
        batch = self.batches.get(here)
        if batch is not None and ms // 3_600_000 != batch.hour:
            self._flush(batch, stop)
            batch = None
            if not self._current(here, fetched_under):
                return  # the flush waited for the store through a rebalance
        if batch is None:
            batch = Batch(
                topic,
                partition,
                offset,
                ms,
                assignment=self.assignments[here],
                touched=self.clock(),
            )
            self.batches[(topic, partition)] = batch
        value = message.value() or b""
        batch.last_offset = offset
        self.positions[(topic, partition)] = offset + 1
        batch.size += len(value)
        batch.touched = self.clock()
        try:
            record: Record = decode_record(record_class(self.settings.topics, topic), value)
            batch.rows.append(lake_row(record, partition, offset, ms))
        except RecordError as problem:
            # The worker dead-letters such input with its bytes; the lake has it there.
            batch.undecodable += 1
            self.undecodable += 1
            logger.warning("lake sink: %s[%d]@%d not landed: %s", topic, partition, offset, problem)
        if batch.full(self.limits, ms):
            self._flush(batch, stop)

    def _current(self, here: tuple[str, int], fetched_under: int) -> bool:
        """Whether a record of ``here`` fetched then is still this sink's to take: not if
        its partition was revoked since (a store outage waits through rebalances), even if
        assigned again (its records then come again from the committed offset)."""
        return self.assignments.get(here, fetched_under + 1) <= fetched_under

    def _flush_idle(self, stop: threading.Event) -> None:
        now = self.clock()
        for batch in list(self.batches.values()):
            if now - batch.touched >= self.limits.idle_seconds:
                self._flush(batch, stop)

    def _flush(self, batch: Batch, stop: threading.Event) -> None:
        """Write ``batch`` (retrying while the store fails), then commit past it."""
        self.batches.pop((batch.topic, batch.partition), None)
        if batch.rows:
            fmt = self.format_of(batch.topic)
            data = encode_batch(record_class(self.settings.topics, batch.topic), batch.rows, fmt)
            started = time.monotonic()
            if not self._put(batch, batch.key(fmt), data, stop):
                return  # not written: its records are read again, from its first offset
            metrics.SINK_FLUSH.labels(batch.topic).observe(time.monotonic() - started)
            metrics.SINK_BYTES.labels(batch.topic).inc(len(data))
            metrics.SINK_RECORDS.labels(batch.topic).inc(len(batch.rows))
            self.written_records += len(batch.rows)
            self.written_objects += 1
        next_offset = TopicPartition(batch.topic, batch.partition, batch.last_offset + 1)
        try:
            self.consumer.commit(offsets=[next_offset], asynchronous=False)
        except KafkaException as error:
            # Lost the partition meanwhile: its next owner rewrites the same object.
            logger.warning("lake sink: commit of %s failed: %s", next_offset, error)

    def _put(self, batch: Batch, key: str, data: bytes, stop: threading.Event) -> bool:
        backoff = 0.5
        paused: list[TopicPartition] = []
        try:
            while True:
                try:
                    self.store.put(key, data)
                    return True
                except StoreError as error:
                    self.store_failures += 1
                    if stop.is_set():
                        logger.error("lake sink: stopping with %s unwritten: %s", key, error)
                        return False
                    # Every iteration: a rebalance meanwhile brings partitions not paused.
                    paused = self.consumer.assignment()
                    self.consumer.pause(paused)
                    logger.warning(
                        "lake sink: %s; consumption paused, retrying in %.1f s", error, backoff
                    )
                    self._wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    if self.assignments.get((batch.topic, batch.partition)) != batch.assignment:
                        # Revoked meanwhile (even if assigned again): its records are read
                        # again from the committed offset, and land under the same name.
                        logger.warning("lake sink: %s no longer ours; its owner writes it", key)
                        return False
        finally:
            if paused:
                self.consumer.resume(paused)
                logger.info("lake sink: the store is back; consumption resumed")

    def _wait(self, seconds: float) -> None:
        """Sleep while serving the consumer (heartbeats, rebalances). Paused, it fetches
        nothing new; what it had fetched before still arrives, and joins the inbox."""
        deadline = self.clock() + seconds
        while self.clock() < deadline:
            self._receive(self.consumer.consume(100, timeout=min(0.5, seconds)))
