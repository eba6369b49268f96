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
polling, so it stays in its consumer group), then resumes: memory stays bounded by the
open batches and librdkafka's fetch queue, and nothing is dropped.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
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
STALL_SECONDS = 30.0
"""Without a record for this long while records wait, the sink joins its group again."""
MAX_REJOIN_SECONDS = 3600.0
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
        # Per partition, the offset after the last record taken into a batch: where a
        # partition is rewound to when records fetched before a pause are set aside.
        self.positions: dict[tuple[str, int], int] = {}
        # Partitions rewound by _wait: False until the records delivered again start
        # coming (records still in hand come first), True until they have caught up.
        self.rewound: dict[tuple[str, int], bool] = {}
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
        self._subscribe()
        logger.info("lake sink: %s -> %s", ", ".join(self.topics), self.store.url)
        last_report = last_message = self.clock()
        rejoin_after = STALL_SECONDS
        try:
            while not stop.is_set():
                messages = self.consumer.consume(1000, timeout=0.5)
                for message in messages:
                    self._add(message, stop)
                if messages:
                    last_message, rejoin_after = self.clock(), STALL_SECONDS
                elif self.clock() - last_message >= rejoin_after:
                    last_message = self.clock()
                    if self._stuck():
                        rejoin_after = min(rejoin_after * 2, MAX_REJOIN_SECONDS)
                        self._rejoin()
                self._flush_idle(stop)
                if self.clock() - last_report >= 10:
                    last_report = self.clock()
                    self._report()
            for batch in list(self.batches.values()):
                self._flush(batch, stop)  # one attempt each: unwritten ones replay later
        finally:
            self._report()
            self.consumer.close()

    def _subscribe(self) -> None:
        self.consumer.subscribe(self.topics, on_assign=self._assigned, on_revoke=self._revoked)

    def _stuck(self) -> bool:
        """Whether the sink has nothing to read although its partitions hold records it has
        not read, or it has had no partition at all since it started."""
        assignment = self.consumer.assignment()
        if not assignment:
            return not self.owned
        for tp in self.consumer.position(assignment):
            low, high = self.consumer.get_watermark_offsets(tp, timeout=5, cached=False)
            if high > max(tp.offset, low):
                return True
        return False

    def _rejoin(self) -> None:
        # Seen twice (CI, a benchmark): a fresh sink that never consumed a record. Joining
        # the group again costs a rebalance; open batches start over from the committed
        # offsets, so no record is lost or landed twice.
        logger.warning(
            "lake sink: nothing consumed for a while though records wait (assigned: %s); "
            "joining the group again",
            sorted(self.owned) or "nothing",
        )
        self.consumer.unsubscribe()
        self._revoked(self.consumer, [TopicPartition(t, p) for t, p in self.owned])
        self._subscribe()

    def _report(self) -> None:
        logger.info(
            "lake sink: %d records in %d objects; %d open batches; %d partitions; "
            "%d undecodable; %d store failures",
            self.written_records,
            self.written_objects,
            len(self.batches),
            len(self.owned),
            self.undecodable,
            self.store_failures,
        )

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self.owned.update((tp.topic, tp.partition) for tp in partitions)

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Uncommitted records of a lost partition are read again by its next owner, which
        # starts from the same first offset and so writes the same object names.
        for tp in partitions:
            self.batches.pop((tp.topic, tp.partition), None)
            self.positions.pop((tp.topic, tp.partition), None)
            self.rewound.pop((tp.topic, tp.partition), None)
            self.owned.discard((tp.topic, tp.partition))

    def _add(self, message: Message, stop: threading.Event) -> None:
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
        replaying = self.rewound.get(here)
        if offset < self.positions.get(here, -1):
            if replaying is not None:
                self.rewound[here] = True
                return  # delivered again after our rewind (see _wait): already taken
            # Rewound by the consumer itself (a rebalance race): the open batch starts
            # over from here, where the last committed batch ended.
            self.batches.pop(here, None)
        elif replaying:
            del self.rewound[here]  # the records delivered again have caught up
        batch = self.batches.get(here)
        if batch is not None and ms // 3_600_000 != batch.hour:
            self._flush(batch, stop)
            batch = None
        if batch is None:
            batch = Batch(topic, partition, offset, ms, touched=self.clock())
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
                    if not paused:
                        paused = self.consumer.assignment()
                        self.consumer.pause(paused)
                    logger.warning(
                        "lake sink: %s; consumption paused, retrying in %.1f s", error, backoff
                    )
                    self._wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
                    if (batch.topic, batch.partition) not in self.owned:
                        logger.warning("lake sink: %s no longer ours; its owner writes it", key)
                        return False
        finally:
            if paused:
                self.consumer.resume(paused)
                logger.info("lake sink: the store is back; consumption resumed")

    def _wait(self, seconds: float) -> None:
        """Sleep while serving the consumer (heartbeats, rebalances); paused, it fetches
        nothing. Records fetched before the pause are set aside and their partition rewound
        to the first record not yet taken, so that they come again after resuming."""
        deadline = self.clock() + seconds
        while self.clock() < deadline:
            rewind: dict[tuple[str, int], int] = {}
            for message in self.consumer.consume(100, timeout=min(0.5, seconds)):
                topic, partition, offset = message.topic(), message.partition(), message.offset()
                if message.error() is None and topic and partition is not None:
                    assert offset is not None
                    # Never past the position: a later call may see records of the same
                    # fetch, and rewinding to those would skip the ones set aside here.
                    rewind[(topic, partition)] = self.positions.setdefault(
                        (topic, partition), offset
                    )
            for (topic, partition), offset in rewind.items():
                self.consumer.seek(TopicPartition(topic, partition, offset))
                self.rewound[(topic, partition)] = False


class SinkThread(threading.Thread):
    """The sink beside the worker in one process. If it fails, it stops the process
    (SIGTERM) rather than let the worker run on with the lake silently behind."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(name="lake-sink", daemon=True)
        self.sink = LakeSink(settings, settings.lake())
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            self.sink.run(self.stopping)
        except Exception:
            logger.critical("lake sink failed; stopping the worker", exc_info=True)
            os.kill(os.getpid(), signal.SIGTERM)

    def stop(self, timeout: float = 30.0) -> None:
        self.stopping.set()
        self.join(timeout)
