"""Scorers follow the snapshot topic: every process reads every snapshot (no consumer
group), verifies its signature and hot-swaps the model."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from streamml.settings import Settings
from streamml.snapshots import Snapshot, SnapshotError, verify

logger = logging.getLogger(__name__)

OnSnapshot = Callable[[Snapshot], None]


def _consumer(settings: Settings) -> tuple[Consumer, list[TopicPartition]]:
    topic = settings.topics.model_snapshots
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"{settings.app_id}-snapshot-follower",  # never joins: assign() only
            "enable.auto.commit": False,
            "fetch.message.max.bytes": 16 * 1024 * 1024,
        }
    )
    metadata = consumer.list_topics(topic, timeout=30).topics[topic]
    partitions = [TopicPartition(topic, p, OFFSET_BEGINNING) for p in metadata.partitions]
    consumer.assign(partitions)
    return consumer, partitions


def _accept(message: Message, key: bytes, newest: dict[str, int], on_snapshot: OnSnapshot) -> None:
    value = message.value()
    if message.error() is not None or value is None:
        return
    origin = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    try:
        snapshot = verify(value, key)
    except SnapshotError as error:
        logger.error("refused the snapshot at %s: %s", origin, error)
        return
    if snapshot.version > newest.get(snapshot.task, -1):
        newest[snapshot.task] = snapshot.version
        on_snapshot(snapshot)


def latest_snapshots(settings: Settings, timeout: float = 30.0) -> dict[str, Snapshot]:
    """The newest valid snapshot of each task on the topic (read to its end once)."""
    consumer, partitions = _consumer(settings)
    found: dict[str, Snapshot] = {}
    newest: dict[str, int] = {}
    key = settings.model_signing_key.get_secret_value().encode()
    try:
        ends = {p.partition: consumer.get_watermark_offsets(p, timeout)[1] for p in partitions}
        remaining = {p for p, end in ends.items() if end > 0}
        while remaining:
            message = consumer.poll(timeout)
            if message is None:
                break
            _accept(message, key, newest, lambda s: found.__setitem__(s.task, s))
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None and offset + 1 >= ends[partition]:
                remaining.discard(partition)
    finally:
        consumer.close()
    return found


class SnapshotFollower(threading.Thread):
    """A daemon thread calling ``on_snapshot`` with each newer, verified snapshot."""

    def __init__(self, settings: Settings, on_snapshot: OnSnapshot) -> None:
        super().__init__(name="snapshot-follower", daemon=True)
        self.settings = settings
        self.on_snapshot = on_snapshot
        self.stopping = threading.Event()

    def run(self) -> None:
        key = self.settings.model_signing_key.get_secret_value().encode()
        consumer, _ = _consumer(self.settings)
        newest: dict[str, int] = {}
        try:
            while not self.stopping.is_set():
                message = consumer.poll(0.5)
                if message is not None:
                    _accept(message, key, newest, self.on_snapshot)
        finally:
            consumer.close()

    def stop(self) -> None:
        self.stopping.set()
