"""One error tree, and the one policy that decides what happens to a failing record."""

from __future__ import annotations

import enum


class StreamMLError(Exception):
    """Base of every error streamml raises on purpose."""


class ConfigurationError(StreamMLError):
    """A setting, file or external tool is missing or wrong; the message names it."""


class ServiceError(StreamMLError):
    """A local service (Kafka, MinIO, container engine) could not be started or reached."""


class StateError(StreamMLError):
    """The engine's state or delivery broke a guarantee (a partition not restored, an
    output the broker refused): the worker stops rather than go on without it."""


class RecordError(StreamMLError):
    """A record cannot be used. ``kind`` is a short machine-readable reason."""

    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind
        self.message = message


class DecodeError(RecordError):
    """The bytes are not a record of the expected contract (bad header, unknown schema,
    truncated Avro, invalid JSON)."""


class ValidationError(RecordError):
    """The record decoded but breaks a rule of the contract (empty id, NaN amount...)."""


class Action(enum.Enum):
    DEAD_LETTER = "dead_letter"
    CRASH = "crash"


def policy(error: BaseException) -> Action:
    """Decide the fate of a record whose processing raised ``error``.

    Bad input, and any failure of a per-record stage on one record, becomes a dead letter:
    a poison record must never stall its partition. Infrastructure and configuration
    errors (and non-``Exception`` signals) stop the worker loudly instead.

    >>> policy(DecodeError("bad-header", "not Avro"))
    <Action.DEAD_LETTER: 'dead_letter'>
    >>> policy(ZeroDivisionError("a stage failed on this record"))
    <Action.DEAD_LETTER: 'dead_letter'>
    >>> policy(ServiceError("broker unreachable"))
    <Action.CRASH: 'crash'>
    """
    if isinstance(error, RecordError):
        return Action.DEAD_LETTER
    if isinstance(error, StreamMLError) or not isinstance(error, Exception):
        return Action.CRASH
    return Action.DEAD_LETTER
