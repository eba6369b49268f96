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
    """A dead letter for the record at ``origin``, keeping its bytes untouched."""
    return DeadLetter(
        source_topic=origin.topic,
        source_partition=origin.partition,
        source_offset=origin.offset,
        error_kind=kind,
        message=message,
        raw=raw or b"",
        failed_time=datetime.now(UTC),
        key=key,
    )
