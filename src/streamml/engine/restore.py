"""Rebuild table partitions from their changelog topics when the group assigns them."""

from __future__ import annotations

import logging
import time
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaError, KafkaException, TopicPartition

from streamml.engine.tables import ChangelogTable
from streamml.errors import StateError

logger = logging.getLogger(__name__)

PROGRESS_SECONDS = 5.0


class ChangelogRestorer:
    """Reads changelog partitions from their start to their end (the last stable offset
    under ``read_committed``) and loads them into their tables. Never joins a group."""

    def __init__(self, client_config: dict[str, Any], group: str, read_committed: bool) -> None:
        self._consumer = Consumer(
            {
                **client_config,
                "group.id": f"{group}-restore",  # assign() only: never joins it
                "enable.auto.commit": False,
                "enable.partition.eof": True,
                "isolation.level": "read_committed" if read_committed else "read_uncommitted",
            }
        )

    def restore(self, wanted: list[tuple[ChangelogTable, int]], timeout: float = 30.0) -> None:
        """Load each ``(table, partition)`` from ``table.changelog``; raises
        :class:`StateError` naming the partition if the broker does not answer."""
        if not wanted:
            return
        states: dict[tuple[str, int], dict[str, bytes]] = {}
        owners: dict[tuple[str, int], ChangelogTable] = {}
        for table, partition in wanted:
            states[(table.changelog, partition)] = {}
            owners[(table.changelog, partition)] = table
        self._consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for topic, p in states])
        try:
            records = self._read(states, timeout)
        finally:
            self._consumer.unassign()
        for (topic, partition), state in states.items():
            owners[(topic, partition)].load(partition, state)
        logger.info(
            "restored %d table partitions from %d changelog records: %s",
            len(states),
            records,
            ", ".join(f"{t}[{p}]" for t, p in sorted(states)),
        )

    def _read(self, states: dict[tuple[str, int], dict[str, bytes]], timeout: float) -> int:
        open_parts = set(states)
        records = 0
        last_progress = last_record = time.monotonic()
        while open_parts:
            batch = self._consumer.consume(1000, timeout=0.5)
            now = time.monotonic()
            if batch:
                last_record = now
            elif now - last_record > timeout:
                waiting = ", ".join(f"{t}[{p}]" for t, p in sorted(open_parts))
                raise StateError(f"restoring {waiting}: no record nor end for {timeout:.0f} s")
            for message in batch:
                where = (message.topic() or "", message.partition() or 0)
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        open_parts.discard(where)
                        continue
                    raise StateError(f"restoring {where[0]}[{where[1]}]: {error}")
                key = message.key()
                if key is None:
                    continue
                value = message.value()
                if value is None:
                    states[where].pop(key.decode(), None)  # a tombstone
                else:
                    states[where][key.decode()] = value
                records += 1
            if now - last_progress >= PROGRESS_SECONDS:
                last_progress = now
                logger.info(
                    "restoring: %d records so far, %d partitions left", records, len(open_parts)
                )
        return records

    def end(self, changelog: str, partition: int, timeout: float = 10.0) -> int | None:
        """The changelog partition's end offset now, or ``None`` if the broker does not
        say (the caller then restores rather than trust what it holds)."""
        try:
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(changelog, partition), timeout=timeout, cached=False
            )
        except KafkaException as error:
            logger.warning("end of %s[%d] unknown: %s", changelog, partition, error)
            return None
        return int(high)

    def close(self) -> None:
        self._consumer.close()
