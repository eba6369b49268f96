"""Typed records: what every stage sees after the boundary decoded and validated the bytes.

Each class mirrors one contract in ``schemas/`` (``dev.streamml.<Name>``). Times are
timezone-aware UTC datetimes (Avro ``timestamp-millis``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was read from; every dead letter and log line about a record names it."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"


@dataclass(frozen=True, slots=True)
class Transaction:
    """A payment or click event (``schemas/transaction.avsc``)."""

    event_id: str
    event_time: datetime
    customer_id: str
    terminal_id: str
    amount: float
    channel: str = "card"
    session_id: str | None = None
    features: dict[str, float] | None = None


@dataclass(frozen=True, slots=True)
class TextEvent:
    """A short text, optionally labelled (``schemas/text_event.avsc``)."""

    event_id: str
    event_time: datetime
    text: str
    source: str
    author: str | None = None
    label: str | None = None
    taxonomy: str | None = None


@dataclass(frozen=True, slots=True)
class Label:
    """Ground truth for an earlier event, arriving late (``schemas/label.avsc``).

    ``label`` is the class name; fraud labels use ``"1"`` (fraud) and ``"0"`` (genuine).
    """

    event_id: str
    task: str
    label: str
    label_time: datetime
    event_time: datetime | None = None
    customer_id: str | None = None
    terminal_id: str | None = None


@dataclass(frozen=True, slots=True)
class Prediction:
    """One model output per valid input event (``schemas/prediction.avsc``)."""

    event_id: str
    task: str
    model_version: str
    event_time: datetime
    processed_time: datetime
    score: float | None = None
    predicted_class: str | None = None
    probabilities: dict[str, float] | None = None
    flags: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class DriftAlert:
    """A drift episode starting or ending (``schemas/drift_alert.avsc``)."""

    alert_id: str
    task: str
    kind: str  # concept | data | prediction
    detector: str
    subject: str
    statistic: float
    threshold: float
    state: str  # started | ended | promoted (a challenger replaced the model)
    severity: str  # info | warning | critical
    window_start_time: datetime
    window_end_time: datetime
    model_version: str
    created_time: datetime
    window_start_offset: int | None = None
    window_end_offset: int | None = None


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """An unusable input, with its origin and reason (``schemas/dead_letter.avsc``)."""

    source_topic: str
    source_partition: int
    source_offset: int
    error_kind: str
    message: str
    raw: bytes
    failed_time: datetime
    key: bytes | None = None
