"""Print what is on a topic, one JSON line per record: a debugging tool, not a consumer.

It reads with a throwaway consumer group and commits nothing, so it never moves the
offsets of the workers' groups.
"""

from __future__ import annotations

import base64
import itertools
import json
import logging
import sys
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TextIO

from confluent_kafka import (
    OFFSET_BEGINNING,
    Consumer,
    KafkaError,
    KafkaException,
    Message,
    TopicPartition,
)

from streamml.contracts import Record, decode_record, topic_contract
from streamml.errors import ConfigurationError, RecordError, ServiceError
from streamml.records import DeadLetter
from streamml.settings import Settings

logger = logging.getLogger(__name__)

IDLE_TIMEOUT = 5.0
"""Seconds without any message after which a tail that does not follow gives up."""
HEX_PREFIX = 64
"""Bytes of an undecodable value (or of a dead letter's payload) shown as hex."""


def describe(value: bytes | None, cls: type[Record] | None) -> dict[str, Any]:
    """What to print about one message value: the decoded record, or why it is not one.

    >>> from streamml.records import Label
    >>> out = describe(b"\\x00\\xff", Label)
    >>> out["error"].split(":")[0], out["value_hex"]
    ('unknown-format', '00ff')
    >>> describe(b"\\x00\\xff", None)
    {'size': 2, 'value_hex': '00ff'}
    """
    if value is None:
        return {"value": None}
    if cls is None:
        return {"size": len(value), "value_hex": value[:HEX_PREFIX].hex()}
    try:
        record = decode_record(cls, value)
    except RecordError as error:
        return {
            "error": f"{error.kind}: {error.message}",
            "size": len(value),
            "value_hex": value[:HEX_PREFIX].hex(),
        }
    if isinstance(record, DeadLetter):
        return {"type": "DeadLetter", **_dead_letter(record)}
    return {"type": type(record).__name__, "value": asdict(record)}


def _dead_letter(letter: DeadLetter) -> dict[str, Any]:
    origin = f"{letter.source_topic}[{letter.source_partition}]@{letter.source_offset}"
    return {
        "reason": f"{letter.error_kind}: {letter.message}",
        "origin": origin,
        "failed_time": letter.failed_time,
        "key": _text_or_hex(letter.key),
        "raw_size": len(letter.raw),
        "raw": _text_or_hex(letter.raw[:HEX_PREFIX]),
    }


def _text_or_hex(data: bytes | None) -> str | None:
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return "hex:" + data.hex()


def json_line(fields: dict[str, Any]) -> str:
    """One JSON line; times as ISO 8601, bytes as base64.

    >>> json_line({"t": datetime(2024, 1, 1, tzinfo=UTC), "b": b"hi"})
    '{"t": "2024-01-01T00:00:00+00:00", "b": "aGk="}'
    """
    return json.dumps(fields, default=_jsonable, ensure_ascii=False)


def _jsonable(value: object) -> object:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def message_line(message: Message, cls: type[Record] | None) -> str:
    """The JSON line for one consumed message: where it is, its key, its value."""
    _, stamp = message.timestamp()
    key = message.key()
    fields: dict[str, Any] = {
        "topic": message.topic(),
        "partition": message.partition(),
        "offset": message.offset(),
        "timestamp": datetime.fromtimestamp(stamp / 1000, UTC) if stamp > 0 else None,
        "key": _text_or_hex(key),
        **describe(message.value(), cls),
    }
    return json_line(fields)


def tail(
    settings: Settings,
    topic: str,
    n: int | None = 10,
    from_beginning: bool = False,
    follow: bool = False,
    *,
    out: TextIO = sys.stdout,
    idle_timeout: float = IDLE_TIMEOUT,
) -> int:
    """Print records of ``topic``, one JSON line each; returns how many were printed.

    - by default, the newest ``n`` records of the topic (by timestamp, all partitions);
    - with ``from_beginning`` (or ``n`` of ``None``), the oldest ``n`` (``None``: all);
    - with ``follow``, then every new record until Ctrl-C (from the beginning, all).

    Without ``follow`` it stops once every partition is read to its end, or after
    ``idle_timeout`` seconds without any message.
    """
    consumer = Consumer(
        {
            **settings.kafka_client_config(),
            "group.id": f"streamml-tail-{uuid.uuid4().hex}",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "enable.partition.eof": True,
            "logger": _client_logger(),
        }
    )
    newest = n is not None and not from_beginning
    printer = _Printer(topic_contract(topic, settings.topics), out)
    try:
        partitions = _start_positions(consumer, settings, topic, n if newest else None)
        consumer.assign(partitions)
        reader = _Reader(consumer, len(partitions), idle_timeout)
        if newest:
            history = sorted(reader.messages(stop_at_end=True), key=_position)
            printer.print_all(history[len(history) - (n or 0) :])
        elif not follow:
            printer.print_all(itertools.islice(reader.messages(stop_at_end=True), n))
        if follow:
            printer.print_all(reader.messages(stop_at_end=False))
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    return printer.printed


def _position(message: Message) -> tuple[int, int, int]:
    return message.timestamp()[1], message.partition() or 0, message.offset() or 0


class _Printer:
    def __init__(self, cls: type[Record] | None, out: TextIO) -> None:
        self.cls = cls
        self.out = out
        self.printed = 0

    def print_all(self, messages: Iterable[Message]) -> None:
        for message in messages:
            print(message_line(message, self.cls), file=self.out, flush=True)
            self.printed += 1


class _Reader:
    """Data messages of the assigned partitions; partition-end events tell when to stop."""

    def __init__(self, consumer: Consumer, partitions: int, idle_timeout: float) -> None:
        self.consumer = consumer
        self.partitions = partitions
        self.idle_timeout = idle_timeout

    def messages(self, *, stop_at_end: bool) -> Iterator[Message]:
        at_end: set[int | None] = set()
        last_seen = time.monotonic()
        while True:
            message = self.consumer.poll(0.5)
            if message is None:
                if stop_at_end and time.monotonic() - last_seen > self.idle_timeout:
                    return
                continue
            last_seen = time.monotonic()
            error = message.error()
            if error is None:
                at_end.discard(message.partition())
                yield message
            elif error.code() == KafkaError._PARTITION_EOF:
                at_end.add(message.partition())
                if stop_at_end and len(at_end) >= self.partitions:
                    return
            elif error.fatal():
                raise ServiceError(f"consumer failed: {error.str()}")
            else:
                logger.warning("consumer error (retrying): %s", error.str())


def _start_positions(
    consumer: Consumer, settings: Settings, topic: str, newest: int | None
) -> list[TopicPartition]:
    """Every partition of ``topic``, at its start or ``newest`` records before its end."""
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
    except KafkaException as error:
        raise ServiceError(
            f"cannot reach Kafka at {settings.kafka_bootstrap_servers}: {error.args[0]}"
        ) from None
    if metadata.error is not None:
        raise ConfigurationError(f"topic {topic!r}: {metadata.error.str()}")
    positions = []
    for partition in sorted(metadata.partitions):
        where = TopicPartition(topic, partition, OFFSET_BEGINNING)
        if newest is not None:
            low, high = consumer.get_watermark_offsets(where, timeout=10)
            where.offset = max(low, high - newest)
        positions.append(where)
    return positions


class _OncePerMessage(logging.Filter):
    """librdkafka repeats a failed connection's log line many times a second: show it once."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if text in self.seen or len(self.seen) > 1000:
            return False
        self.seen.add(text)
        return True


def _client_logger() -> logging.Logger:
    client = logging.getLogger(f"{__name__}.librdkafka")
    if not client.filters:
        client.addFilter(_OncePerMessage())
    return client
