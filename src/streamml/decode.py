"""Decode stage: bytes from a topic become one typed record, or a dead letter saying why.

This is the only place input bytes are looked at; after it, code sees typed records.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import TypeVar

from streamml.contracts import decode_record
from streamml.errors import RecordError
from streamml.records import DeadLetter, Label, Origin, TextEvent, Transaction

logger = logging.getLogger(__name__)

R = TypeVar("R", Transaction, TextEvent, Label)

MAX_DEAD_LETTER_RAW = 8 * 2**20
"""A dead letter keeps at most this many of its record's bytes: it must fit the
``dead-letters`` topic (created with 16 MiB messages), or the worker could not move on."""


def decode(
    cls: type[R], raw: bytes | None, origin: Origin, key: bytes | None = None
) -> R | DeadLetter:
    """Decode ``raw`` as a ``cls`` record; any problem becomes a :class:`DeadLetter`."""
    try:
        if raw is None:
            raise RecordError("null-value", "the record has no value (tombstone)")
        return decode_record(cls, raw)
    except RecordError as error:
        logger.warning("dead letter %s: %s: %s", origin, error.kind, error.message)
        return dead_letter(origin, raw, error.kind, error.message, key)


def dead_letter(
    origin: Origin, raw: bytes | None, kind: str, message: str, key: bytes | None = None
) -> DeadLetter:
    """A dead letter for the record at ``origin``, keeping its bytes untouched (the first
    :data:`MAX_DEAD_LETTER_RAW` of them for a larger record, as the message says).

    >>> big = dead_letter(Origin("t", 0, 7), b"x" * (MAX_DEAD_LETTER_RAW + 1), "k", "too big")
    >>> len(big.raw) == MAX_DEAD_LETTER_RAW, big.message
    (True, 'too big (raw bytes cut to the first 8388608 of 8388609)')
    """
    raw = raw or b""
    if len(raw) > MAX_DEAD_LETTER_RAW:
        message = f"{message} (raw bytes cut to the first {MAX_DEAD_LETTER_RAW} of {len(raw)})"
        raw = raw[:MAX_DEAD_LETTER_RAW]
    return DeadLetter(
        source_topic=origin.topic,
        source_partition=origin.partition,
        source_offset=origin.offset,
        error_kind=kind,
        message=message,
        raw=raw,
        failed_time=datetime.now(UTC),
        key=key,
    )
