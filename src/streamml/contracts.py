"""Typed records <-> wire dicts, and the rules of each contract.

The boundary calls :func:`decode_record` once per input; after it, code sees only valid,
typed records. Outputs go through :func:`encode_record`, which validates too, so nothing
that breaks a contract is ever published.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar

from streamml.codec import Codec
from streamml.errors import ValidationError
from streamml.records import DeadLetter, DriftAlert, Label, Prediction, TextEvent, Transaction
from streamml.settings import Topics, WireFormat

Record = Transaction | TextEvent | Label | Prediction | DriftAlert | DeadLetter
R = TypeVar("R", bound=Record)

SCHEMA_NAMES: Mapping[type, str] = {
    Transaction: "transaction",
    TextEvent: "text_event",
    Label: "label",
    Prediction: "prediction",
    DriftAlert: "drift_alert",
    DeadLetter: "dead_letter",
}
"""Each record class and the name of its contract in ``schemas/``."""

MAX_ID_CHARS = 256
"""Ids, names and other short strings: longer ones are bad input (they would become state
keys, message keys and labels)."""
MAX_TEXT_CHARS = 20_000
MAX_ENTRIES = 256
"""Entries of a map of numbers (an event's features, a prediction's probabilities)."""
_EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
_AFTER_LATEST = datetime(2201, 1, 1, tzinfo=UTC)

_Check = Callable[[Any], None]


def schema_name_for(cls: type) -> str:
    """Name of the schema a record class is the typed form of.

    >>> schema_name_for(TextEvent)
    'text_event'
    """
    try:
        return SCHEMA_NAMES[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} is not a streamml wire record") from None


def _fail(kind: str, record: Any, name: str, problem: str) -> NoReturn:
    raise ValidationError(kind, f"{type(record).__name__}.{name} {problem}")


def _text(
    name: str, limit: int | None = None, optional: bool = False, blank: bool = False
) -> _Check:
    """String (non-blank unless ``blank``), at most ``limit`` characters."""

    def check(record: Any) -> None:
        v = getattr(record, name)
        if v is None and optional:
            return
        if not isinstance(v, str):
            _fail("wrong-type", record, name, f"must be a string, not {type(v).__name__}")
        if not blank and (not v or v.isspace()):
            _fail("empty-field", record, name, "must not be empty or blank")
        if limit is not None and len(v) > limit:
            _fail("field-too-long", record, name, f"has {len(v)} characters; at most {limit}")

    return check


def _time(name: str, optional: bool = False) -> _Check:
    """Timezone-aware UTC datetime in years 1970 to 2200."""

    def check(record: Any) -> None:
        v = getattr(record, name)
        if v is None and optional:
            return
        if not isinstance(v, datetime):
            _fail("wrong-type", record, name, f"must be a datetime, not {type(v).__name__}")
        offset = v.utcoffset()
        if offset is None:
            _fail("naive-time", record, name, "must be timezone-aware (UTC)")
        if offset:
            _fail("non-utc-time", record, name, f"must be in UTC, not at offset {offset}")
        if not _EARLIEST <= v < _AFTER_LATEST:
            _fail("time-out-of-range", record, name, f"{v.isoformat()} is not in 1970..2200")

    return check


def _finite(record: Any, name: str, v: Any, minimum: float | None = None) -> None:
    if not isinstance(v, float | int) or isinstance(v, bool):
        _fail("wrong-type", record, name, f"must be a number, not {type(v).__name__}")
    if not math.isfinite(v):
        _fail("non-finite-number", record, name, f"must be finite, got {v}")
    if minimum is not None and v < minimum:
        _fail("negative-number", record, name, f"must be >= {minimum}, got {v}")


def _number(name: str, minimum: float | None = None, optional: bool = False) -> _Check:
    def check(record: Any) -> None:
        v = getattr(record, name)
        if not (v is None and optional):
            _finite(record, name, v, minimum)

    return check


def _numbers(name: str) -> _Check:
    """Optional map of finite numbers (features, probabilities)."""

    def check(record: Any) -> None:
        values = getattr(record, name)
        if values is None:
            return
        if not isinstance(values, dict):
            _fail("wrong-type", record, name, f"must be a dict, not {type(values).__name__}")
        if len(values) > MAX_ENTRIES:
            _fail(
                "field-too-long", record, name, f"has {len(values)} entries; at most {MAX_ENTRIES}"
            )
        for key, v in values.items():
            if len(str(key)) > MAX_ID_CHARS:
                _fail("field-too-long", record, name, f"has a key of {len(str(key))} characters")
            if "\x00" in str(key):  # names travel NUL-separated between the worker's stages
                _fail("invalid-value", record, name, "has a key with a NUL character")
            _finite(record, f"{name}[{str(key)[:40]!r}]", v)

    return check


def _one_of(name: str, allowed: frozenset[str]) -> _Check:
    def check(record: Any) -> None:
        if getattr(record, name) not in allowed:
            found = getattr(record, name)
            _fail("invalid-value", record, name, f"must be one of {sorted(allowed)}, got {found!r}")

    return check


def _fraud_label(record: Any) -> None:
    if record.task == "fraud" and record.label not in ("0", "1"):
        _fail(
            "invalid-label",
            record,
            "label",
            f"of a fraud label must be '0' or '1', not {record.label!r}",
        )


_RULES: Mapping[type, tuple[_Check, ...]] = {
    Transaction: (
        _text("event_id", MAX_ID_CHARS),
        _time("event_time"),
        _text("customer_id", MAX_ID_CHARS),
        _text("terminal_id", MAX_ID_CHARS),
        _number("amount", minimum=0.0),
        _text("channel", MAX_ID_CHARS),
        _text("session_id", MAX_ID_CHARS, optional=True, blank=True),
        _numbers("features"),
    ),
    TextEvent: (
        _text("event_id", MAX_ID_CHARS),
        _time("event_time"),
        _text("text", MAX_TEXT_CHARS),
        _text("source", MAX_ID_CHARS, blank=True),
        _text("author", MAX_ID_CHARS, optional=True, blank=True),
        _text("label", MAX_ID_CHARS, optional=True),
        _text("taxonomy", MAX_ID_CHARS, optional=True, blank=True),
    ),
    Label: (
        _text("event_id", MAX_ID_CHARS),
        _text("task", MAX_ID_CHARS),
        _text("label", MAX_ID_CHARS),
        _fraud_label,
        _time("label_time"),
        _time("event_time", optional=True),
        _text("customer_id", MAX_ID_CHARS, optional=True),
        _text("terminal_id", MAX_ID_CHARS, optional=True),
    ),
    Prediction: (
        _text("event_id", MAX_ID_CHARS),
        _text("task"),
        _text("model_version"),
        _time("event_time"),
        _time("processed_time"),
        _number("score", optional=True),
        _numbers("probabilities"),
    ),
    DriftAlert: (
        _text("alert_id", MAX_ID_CHARS),
        _text("task"),
        _one_of("kind", frozenset({"concept", "data", "prediction"})),
        _one_of("state", frozenset({"started", "ended", "promoted"})),
        _one_of("severity", frozenset({"info", "warning", "critical"})),
        _number("statistic"),
        _number("threshold"),
        _time("window_start_time"),
        _time("window_end_time"),
        _time("created_time"),
    ),
    # A dead letter carries whatever failed: it must always be writable.
    DeadLetter: (_time("failed_time"),),
}


def topic_contract(topic: str, topics: Topics) -> type[Record] | None:
    """The record type a topic carries, or ``None`` when it holds no record contract.

    >>> topic_contract("fraud-labels", Topics.with_prefix("")).__name__
    'Label'
    >>> topic_contract("model-snapshots", Topics.with_prefix("")) is None
    True
    """
    classes: dict[str, type[Record]] = {
        topics.transactions: Transaction,
        topics.texts: TextEvent,
        topics.fraud_labels: Label,
        topics.emotion_labels: Label,
        topics.fraud_predictions: Prediction,
        topics.emotion_predictions: Prediction,
        topics.dead_letters: DeadLetter,
        topics.drift_alerts: DriftAlert,
    }
    return classes.get(topic)


def validate(record: Record) -> None:
    """Check every rule of the record's contract.

    Raises
    ------
    ValidationError
        With a short ``kind`` (``empty-field``, ``field-too-long``, ``naive-time``,
        ``non-utc-time``, ``time-out-of-range``, ``non-finite-number``,
        ``negative-number``, ``invalid-label``, ``invalid-value``, ``wrong-type``) and a
        message naming the field.
    """
    rules = _RULES.get(type(record))
    if rules is None:
        schema_name_for(type(record))  # raises the TypeError that names the class
    for check in rules or ():
        check(record)


def _field_names(cls: type) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """All field names of ``cls``, and those without a default."""
    spec = fields(cls)
    required = (f.name for f in spec if f.default is MISSING and f.default_factory is MISSING)
    return tuple(f.name for f in spec), tuple(required)


_FIELDS = {cls: _field_names(cls) for cls in SCHEMA_NAMES}
_CODECS: dict[type, Codec] = {}


def to_wire(record: Record) -> dict[str, Any]:
    """Validate ``record`` and give the dict its codec encodes (shares its containers).

    >>> from datetime import datetime, UTC
    >>> to_wire(Label("e1", "fraud", "1", datetime(2024, 5, 1, tzinfo=UTC)))["label"]
    '1'
    """
    validate(record)
    names, _ = _FIELDS[type(record)]
    return {name: getattr(record, name) for name in names}


def from_wire(cls: type[R], value: Mapping[str, Any]) -> R:
    """Build and validate a ``cls`` record from a decoded wire dict; unknown keys are ignored.

    >>> from_wire(Label, {"event_id": "e1", "task": "emotion", "label": "joy",
    ...                   "label_time": datetime(2024, 5, 1, tzinfo=UTC)}).label
    'joy'
    """
    schema_name_for(cls)
    names, required = _FIELDS[cls]
    for name in required:
        if name not in value:
            raise ValidationError("missing-field", f"{cls.__name__}.{name} is missing")
    record = cls(**{name: value[name] for name in names if name in value})
    validate(record)
    return record


def codec_for(cls: type) -> Codec:
    """The codec of a record class's contract, built once per class."""
    codec = _CODECS.get(cls)
    if codec is None:
        codec = _CODECS[cls] = Codec(schema_name_for(cls))
    return codec


def encode_record(record: Record, fmt: WireFormat = "avro") -> bytes:
    """Validate and serialise ``record`` in wire format ``fmt``.

    >>> from datetime import datetime, UTC
    >>> label = Label("e1", "fraud", "0", datetime(2024, 5, 1, tzinfo=UTC))
    >>> decode_record(Label, encode_record(label)) == label
    True
    """
    return codec_for(type(record)).encode(to_wire(record), fmt)


def decode_record(cls: type[R], data: bytes) -> R:
    """Decode bytes in either wire format into a valid ``cls`` record.

    Raises
    ------
    DecodeError
        If the bytes are not a value of the contract (see :meth:`Codec.decode`).
    ValidationError
        If the value breaks a rule of the contract.
    """
    return from_wire(cls, codec_for(cls).decode(data))
