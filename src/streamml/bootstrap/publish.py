"""Hand a bootstrap's results to the deployment: feature state into the scorers'
changelogs, models as signed snapshots on the snapshot topic and in the registry.

Both writes are idempotent. A state key's record lands in the changelog partition its
table would hold it in (Kafka's murmur2 partitioner over the source topic's partitions),
so a scorer restores it like state it wrote itself; the changelogs are compacted, so a
second run leaves the same latest value per key. A snapshot carries a fingerprint of what
it learned from; one already published with the same fingerprint is not published again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from streamml.admin import ensure_changelogs
from streamml.engine.partitioner import partition_for
from streamml.errors import ConfigurationError, ServiceError
from streamml.follow import latest_snapshots
from streamml.registry import ModelRegistry
from streamml.scorer import changelog_of, table_sources
from streamml.settings import Settings
from streamml.snapshots import Snapshot, sign

logger = logging.getLogger(__name__)

StateRows = Mapping[str, Iterable[tuple[str, bytes]]]
"""Per table name, its ``(key, state bytes)`` pairs."""


@dataclass(frozen=True, slots=True)
class StateWritten:
    """Records written per changelog."""

    records: dict[str, int]
    partitions: dict[str, int]


def topic_partitions(
    settings: Settings, topics: Iterable[str], timeout: float = 30.0
) -> dict[str, int]:
    """How many partitions each of ``topics`` has; a missing topic is a one-line error."""
    metadata = AdminClient(settings.kafka_client_config()).list_topics(timeout=timeout).topics
    found = {}
    for topic in topics:
        if topic not in metadata or metadata[topic].error is not None:
            raise ServiceError(
                f"topic {topic!r} does not exist on {settings.kafka_bootstrap_servers}: "
                "run `streamml topics create` first"
            )
        found[topic] = len(metadata[topic].partitions)
    return found


def refuse_live_group(settings: Settings, timeout: float = 30.0) -> None:
    """Refuse to write state under scorers that already consumed input: their state is
    newer than history, and a restore would mix both."""
    topic = settings.topics.transactions
    count = topic_partitions(settings, [topic], timeout)[topic]
    consumer = Consumer({**settings.kafka_client_config(), "group.id": settings.app_id})
    wanted = [TopicPartition(topic, p) for p in range(count)]
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                committed = consumer.committed(wanted, timeout=timeout)
                break
            except KafkaException as error:  # the group coordinator is still being elected
                if time.monotonic() > deadline:
                    raise ServiceError(
                        f"cannot read the offsets of group {settings.app_id!r}: {error}"
                    ) from error
                time.sleep(0.5)
    finally:
        consumer.close()
    live = [tp.partition for tp in committed if tp.offset >= 0]
    if live:
        raise ConfigurationError(
            f"scorer group {settings.app_id!r} already consumed {topic!r} (offsets committed "
            f"on {len(live)} partitions): bootstrapping would overwrite newer state; use a new "
            "STREAMML_APP_ID, or --force if the scorers are stopped and you mean it"
        )


def write_state(settings: Settings, rows: StateRows, timeout: float = 120.0) -> StateWritten:
    """Produce each table's state to its changelog, partitioned as the scorers hold it;
    returns once every record is acknowledged (raises :class:`ServiceError` otherwise)."""
    sources = table_sources(settings.topics)
    changelogs = {name: changelog_of(settings.app_id, name) for name in rows}
    ensure_changelogs(settings, {changelogs[name]: sources[name] for name in rows})
    counts = topic_partitions(settings, {sources[name] for name in rows})
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(f"{message.topic()}[{message.partition()}]: {error}")

    producer = Producer(
        {
            **settings.kafka_client_config(),
            "acks": "all",
            "enable.idempotence": True,
            "linger.ms": 50,
            "compression.type": "lz4",
        }
    )
    written: dict[str, int] = {}
    for name, pairs in rows.items():
        topic, partitions = changelogs[name], counts[sources[name]]
        written[topic] = 0
        for key, value in pairs:
            raw = key.encode()
            while True:
                try:
                    producer.produce(
                        topic,
                        value,
                        raw,
                        partition=partition_for(raw, partitions),
                        on_delivery=delivered,
                    )
                    break
                except BufferError:  # the local queue is full: let deliveries drain
                    producer.poll(0.5)
            written[topic] += 1
            producer.poll(0)
    left = producer.flush(timeout)
    if left or failures:
        problem = (
            failures[0] if failures else f"{left} records unacknowledged after {timeout:.0f} s"
        )
        raise ServiceError(f"writing bootstrap state: {problem} ({len(failures)} failed)")
    return StateWritten(written, {changelogs[n]: counts[sources[n]] for n in rows})


def fingerprint(snapshot: Snapshot, provenance: Mapping[str, Any]) -> str:
    """What identifies a bootstrap model: its bytes and what it learned from."""
    digest = hashlib.sha256(snapshot.model_bytes)
    digest.update(json.dumps(provenance, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:32]


def fingerprinted(snapshot: Snapshot, provenance: dict[str, Any]) -> Snapshot:
    """``snapshot`` carrying ``provenance`` and its fingerprint."""
    provenance = {**provenance, "fingerprint": fingerprint(snapshot, provenance)}
    return dataclasses.replace(snapshot, provenance=provenance)


def newest_versions(settings: Settings, tasks: Iterable[str]) -> dict[str, Snapshot]:
    """The newest snapshot of each task on the topic or in the registry."""
    tasks = list(tasks)
    newest = {t: s for t, s in latest_snapshots(settings).items() if t in tasks}
    if settings.lake_url is not None:
        key = settings.model_signing_key.get_secret_value().encode()
        registry = ModelRegistry(settings.lake(), key)
        for task in tasks:
            found = registry.newest(task)
            if found is not None and (task not in newest or found.version > newest[task].version):
                newest[task] = found
    return newest


def publish_snapshot(settings: Settings, snapshot: Snapshot, newest: Snapshot | None) -> Snapshot:
    """Publish ``snapshot`` (versioned after ``newest``) unless ``newest`` is the same
    bootstrap; returns the snapshot now served for its task."""
    if newest is not None and newest.provenance.get("fingerprint") == snapshot.provenance.get(
        "fingerprint"
    ):
        logger.info("%s is this bootstrap's model already; not published again", newest.name)
        return newest
    version = 1 if newest is None else newest.version + 1
    snapshot = dataclasses.replace(snapshot, version=version)
    key = settings.model_signing_key.get_secret_value().encode()
    signed = sign(snapshot, key)
    failures: list[str] = []

    def delivered(error: KafkaError | None, message: Message) -> None:
        if error is not None:
            failures.append(str(error))

    producer = Producer(
        {**settings.kafka_client_config(), "acks": "all", "message.max.bytes": 16 * 1024 * 1024}
    )
    producer.produce(
        settings.topics.model_snapshots, signed, snapshot.task.encode(), on_delivery=delivered
    )
    if producer.flush(60) or failures:
        problem = failures[0] if failures else "not acknowledged in 60 s"
        raise ServiceError(
            f"publishing {snapshot.name} to {settings.topics.model_snapshots}: {problem}"
        )
    if settings.lake_url is not None:
        ModelRegistry(settings.lake(), key).publish(signed)
    logger.info("published %s (%d examples)", snapshot.name, snapshot.examples)
    return snapshot
