"""Topic administration with confluent-kafka's AdminClient."""

from __future__ import annotations

import logging
import time

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from streamml.errors import ConfigurationError, ServiceError
from streamml.settings import Settings

logger = logging.getLogger(__name__)

# The latest snapshot per task is what scorers need; tree ensembles can pass 1 MB.
SNAPSHOT_TOPIC_CONFIG = {"cleanup.policy": "compact", "max.message.bytes": str(16 * 1024 * 1024)}
# A dead letter carries its record's bytes (up to 8 MiB, see streamml.decode).
DEAD_LETTER_TOPIC_CONFIG = {"max.message.bytes": str(16 * 1024 * 1024)}


def topic_specs(settings: Settings) -> list[NewTopic]:
    """Every topic streamml reads or writes, with ``settings.topic_config``; model
    snapshots are compacted."""
    topics = settings.topics
    specs = []
    for name in topics.all():
        config = dict(settings.topic_config)
        if name == topics.model_snapshots:
            config |= SNAPSHOT_TOPIC_CONFIG
        elif name == topics.dead_letters:
            config |= DEAD_LETTER_TOPIC_CONFIG
        # One trainer per task by design: a single partition gives it to one group member.
        partitions = 1 if name in topics.training() else settings.topic_partitions
        specs.append(
            NewTopic(
                name,
                num_partitions=partitions,
                replication_factor=settings.topic_replication_factor,
                config=config,
            )
        )
    return specs


def ensure_topics(settings: Settings, timeout: float = 30.0) -> list[str]:
    """Create the topics that do not exist yet; returns the names created.

    Existing topics are left as they are (their partition count is the operator's).
    """
    return _create(settings, topic_specs(settings), timeout)


def ensure_changelogs(
    settings: Settings, sources: dict[str, str], timeout: float = 30.0
) -> list[str]:
    """Create each missing changelog (compacted) with as many partitions as its source
    topic; an existing changelog with another count is a :class:`ConfigurationError`:
    its state would not line up with the source's partitions."""
    admin = AdminClient(settings.kafka_client_config())
    metadata = admin.list_topics(timeout=timeout).topics
    specs = []
    for changelog, source in sources.items():
        if source not in metadata:
            raise ServiceError(
                f"topic {source!r} does not exist on {settings.kafka_bootstrap_servers}"
            )
        partitions = len(metadata[source].partitions)
        if changelog in metadata:
            found = len(metadata[changelog].partitions)
            if found != partitions:
                raise ConfigurationError(
                    f"changelog {changelog!r} has {found} partitions but {source!r} has "
                    f"{partitions}: delete the changelog (its state is rebuilt) or match them"
                )
            continue
        config = dict(settings.topic_config) | {"cleanup.policy": "compact"}
        specs.append(
            NewTopic(
                changelog,
                num_partitions=partitions,
                replication_factor=settings.topic_replication_factor,
                config=config,
            )
        )
    return _create(settings, specs, timeout) if specs else []


def _create(settings: Settings, specs: list[NewTopic], timeout: float) -> list[str]:
    admin = AdminClient(settings.kafka_client_config())
    futures = admin.create_topics(specs, operation_timeout=timeout)
    created = []
    for name, future in futures.items():
        try:
            future.result(timeout)
            created.append(name)
        except KafkaException as exc:
            error = exc.args[0]
            if isinstance(error, KafkaError) and error.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                continue
            raise ServiceError(
                f"cannot create topic {name!r} on {settings.kafka_bootstrap_servers}: {error}"
            ) from exc
    if created:
        logger.info("created topics %s", ", ".join(created))
        wait_for_leaders(admin, created, timeout)
    return created


def wait_for_leaders(admin: AdminClient, names: list[str], timeout: float) -> None:
    """Block until every partition of ``names`` has a leader: a new topic is not usable
    (watermarks, produce) until then."""
    deadline = time.monotonic() + timeout
    while True:
        metadata = admin.list_topics(timeout=timeout).topics
        waiting = [
            name
            for name in names
            if name not in metadata
            or metadata[name].error is not None
            or any(p.leader < 0 for p in metadata[name].partitions.values())
        ]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise ServiceError(
                f"topics without a partition leader after {timeout:.0f} s: {waiting}"
            )
        time.sleep(0.2)
