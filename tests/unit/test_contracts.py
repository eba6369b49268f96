"""Typed records on the wire: schemas mirror the dataclasses, round trips, every rule."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from streamml.codec import Codec
from streamml.contracts import (
    SCHEMA_NAMES,
    Record,
    codec_for,
    decode_record,
    encode_record,
    from_wire,
    schema_name_for,
    to_wire,
    validate,
)
from streamml.errors import Action, DecodeError, ValidationError, policy
from streamml.records import (
    DeadLetter,
    DriftAlert,
    Label,
    Origin,
    Prediction,
    TextEvent,
    Transaction,
)
from streamml.settings import WireFormat

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
T0 = datetime(2018, 4, 1, 12, 30, 15, 123000, tzinfo=UTC)
T1 = T0 + timedelta(days=30)


def samples() -> list[Record]:
    """One valid record of every wire type, optional fields filled."""
    return [
        Transaction("tx-1", T0, "c-1", "t-1", 57.16, "card", "s-9", {"tx_count_1d": 3.0}),
        TextEvent("x-1", T0, "i feel happy", "emotion6", "ann", "joy", "emotion6"),
        Label("tx-1", "fraud", "1", T1, T0),
        Prediction("tx-1", "fraud", "v3", T0, T1, 0.93, "1", {"0": 0.07, "1": 0.93}, ["warm"]),
        DriftAlert(
            "a-1",
            "fraud",
            "concept",
            "ADWIN",
            "error-rate",
            0.31,
            0.2,
            "started",
            "warning",
            T0,
            T1,
            "v3",
            T1,
            10,
            990,
        ),
        DeadLetter("transactions", 2, 41, "invalid-json", "bad", b"\xff{", T1, b"k"),
    ]


def sample(cls: type[Any]) -> Any:
    return next(r for r in samples() if isinstance(r, cls))


# --- the schemas mirror the records --------------------------------------------------------


@pytest.mark.parametrize("cls", list(SCHEMA_NAMES))
def test_schema_mirrors_the_record_field_for_field(cls: type[Any]) -> None:
    schema = json.loads((SCHEMA_DIR / f"{schema_name_for(cls)}.avsc").read_text("utf-8"))
    assert (schema["namespace"], schema["name"]) == ("dev.streamml", cls.__name__)
    assert schema["doc"]
    record_fields = dataclasses.fields(cls)
    assert [f["name"] for f in schema["fields"]] == [f.name for f in record_fields]
    for avro, field in zip(schema["fields"], record_fields, strict=True):
        assert avro["doc"], f"{cls.__name__}.{field.name} has no doc"
        optional = field.default is None
        assert optional == (isinstance(avro["type"], list) and avro["type"][0] == "null")
        if field.default is not dataclasses.MISSING:
            assert avro["default"] == field.default
        elif field.default_factory is not dataclasses.MISSING:
            assert avro["default"] == field.default_factory()
        else:
            assert "default" not in avro


def test_schema_name_for_refuses_what_is_not_a_wire_record() -> None:
    assert [schema_name_for(cls) for cls in SCHEMA_NAMES] == [
        "transaction",
        "text_event",
        "label",
        "prediction",
        "drift_alert",
        "dead_letter",
    ]
    with pytest.raises(TypeError, match="Origin"):
        schema_name_for(Origin)
    with pytest.raises(TypeError, match="Origin"):
        encode_record(Origin("t", 0, 1))  # type: ignore[arg-type]


# --- round trips ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["avro", "json"])
@pytest.mark.parametrize("record", samples(), ids=lambda r: type(r).__name__)
def test_every_record_type_round_trips(record: Record, fmt: WireFormat) -> None:
    assert decode_record(type(record), encode_record(record, fmt)) == record


@pytest.mark.parametrize("record", samples(), ids=lambda r: type(r).__name__)
def test_optional_fields_left_out_round_trip_as_defaults(record: Record) -> None:
    names = {f.name for f in dataclasses.fields(record) if f.default is None}
    wire = {k: v for k, v in to_wire(record).items() if k not in names}
    minimal = from_wire(type(record), wire)
    assert names and all(getattr(minimal, name) is None for name in names)
    for fmt in ("avro", "json"):
        assert decode_record(type(minimal), encode_record(minimal, fmt)) == minimal


def test_codecs_are_built_once_per_class() -> None:
    assert codec_for(Label) is codec_for(Label)
    assert codec_for(Label).reader.name == "dev.streamml.Label"


def random_record(cls: type[Any], rng: random.Random) -> Any:
    """A random valid record: field values drawn around the edges of every rule."""
    text = "".join(rng.choice('ab Z9é😀\n"') for _ in range(rng.randrange(0, 30)))
    ident = rng.choice(["x", "e" * 256, f"id-{rng.randrange(10**9)}"])
    millis = rng.choice([0, 7_289_567_999_999, rng.randrange(7_289_567_999_999)])
    when = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=millis)
    number = rng.choice([0.0, 1e-300, 1.7e308, rng.uniform(0, 1e6)])
    numbers = rng.choice([None, {}, {text: number, "k": -number}])
    maybe: Callable[[Any], Any] = lambda v: rng.choice([None, v])  # noqa: E731
    if cls is Transaction:
        return cls(ident, when, "c" + text, "t", number, "web", maybe(text), numbers)
    if cls is TextEvent:
        return cls(ident, when, "t" + text, text, maybe(text), maybe("joy"), maybe("emotion6"))
    if cls is Label:
        return cls(ident, "fraud", rng.choice("01"), when, maybe(when))
    if cls is Prediction:
        flags = [text] * rng.randrange(3)
        return cls(ident, "emotion", "v", when, when, maybe(number), maybe(text), numbers, flags)
    if cls is DriftAlert:
        start, end = maybe(rng.randrange(2**63)), maybe(0)
        return dataclasses.replace(
            sample(cls), alert_id=ident, subject=text, statistic=-number, threshold=number,
            window_start_time=when, window_start_offset=start, window_end_offset=end,
        )  # fmt: skip
    raw, key = rng.randbytes(rng.randrange(50)), maybe(rng.randbytes(3))
    partition, offset = rng.randrange(2**31), rng.randrange(2**63)
    return cls(text, partition, offset, "k", text, raw, when, key)


@pytest.mark.parametrize("cls", list(SCHEMA_NAMES))
def test_many_random_records_round_trip_in_both_formats(cls: type[Any]) -> None:
    rng = random.Random(f"records-{cls.__name__}")
    for _ in range(300):
        record = random_record(cls, rng)
        for fmt in ("avro", "json"):
            assert decode_record(cls, encode_record(record, fmt)) == record


# --- every validation rule ---------------------------------------------------------------------

NAN, INF = math.nan, math.inf
PLUS_TWO = timezone(timedelta(hours=2))
INVALID: list[tuple[type[Any], dict[str, Any], str, str]] = [
    (Transaction, {"event_id": ""}, "empty-field", "event_id"),
    (Transaction, {"event_id": " \t"}, "empty-field", "event_id"),
    (Transaction, {"event_id": "e" * 257}, "field-too-long", "event_id"),
    (Transaction, {"event_time": datetime(2018, 4, 1)}, "naive-time", "event_time"),
    (Transaction, {"event_time": T0.astimezone(PLUS_TWO)}, "non-utc-time", "event_time"),
    (Transaction, {"event_time": datetime(1969, 12, 31, tzinfo=UTC)}, "time-out-of-range", ""),
    (Transaction, {"event_time": datetime(2201, 1, 1, tzinfo=UTC)}, "time-out-of-range", ""),
    (Transaction, {"event_time": 1522584000000}, "wrong-type", "event_time"),
    (Transaction, {"amount": NAN}, "non-finite-number", "amount"),
    (Transaction, {"amount": INF}, "non-finite-number", "amount"),
    (Transaction, {"amount": -0.01}, "negative-number", "amount"),
    (Transaction, {"amount": "12"}, "wrong-type", "amount"),
    (Transaction, {"customer_id": ""}, "empty-field", "customer_id"),
    (Transaction, {"terminal_id": ""}, "empty-field", "terminal_id"),
    (Transaction, {"features": {"x": NAN}}, "non-finite-number", "features['x']"),
    (TextEvent, {"text": " \n "}, "empty-field", "text"),
    (TextEvent, {"text": "a" * 20_001}, "field-too-long", "text"),
    (TextEvent, {"label": ""}, "empty-field", "label"),
    (TextEvent, {"event_id": "e" * 257}, "field-too-long", "event_id"),
    (Label, {"label": ""}, "empty-field", "label"),
    (Label, {"label": "fraud"}, "invalid-label", "label"),
    (Label, {"label": "2"}, "invalid-label", "label"),
    (Label, {"label_time": datetime(2018, 4, 1)}, "naive-time", "label_time"),
    (Label, {"event_time": datetime(1900, 1, 1, tzinfo=UTC)}, "time-out-of-range", "event_time"),
    (Prediction, {"probabilities": {"joy": INF}}, "non-finite-number", "probabilities['joy']"),
    (Prediction, {"score": NAN}, "non-finite-number", "score"),
    (Prediction, {"processed_time": T0.replace(tzinfo=None)}, "naive-time", "processed_time"),
    (DriftAlert, {"alert_id": ""}, "empty-field", "alert_id"),
    (DriftAlert, {"state": "paused"}, "invalid-value", "state"),
    (DriftAlert, {"statistic": NAN}, "non-finite-number", "statistic"),
    (DeadLetter, {"failed_time": datetime(2018, 4, 1)}, "naive-time", "failed_time"),
]


@pytest.mark.parametrize(("cls", "changes", "kind", "field"), INVALID)
def test_every_rule_is_enforced_and_names_the_field(
    cls: type[Any], changes: dict[str, Any], kind: str, field: str
) -> None:
    record = dataclasses.replace(sample(cls), **changes)
    with pytest.raises(ValidationError) as caught:
        validate(record)
    assert caught.value.kind == kind
    assert f"{cls.__name__}.{field}" in caught.value.message
    assert policy(caught.value) is Action.DEAD_LETTER


@pytest.mark.parametrize(
    ("cls", "changes"),
    [
        (Transaction, {"event_id": "e" * 256, "amount": 0.0, "features": None}),
        (Transaction, {"event_time": datetime(1970, 1, 1, tzinfo=UTC)}),
        (Transaction, {"event_time": datetime(2200, 12, 31, 23, 59, tzinfo=UTC)}),
        (TextEvent, {"text": "a" * 20_000, "label": None}),
        (Label, {"label": "0"}),
        (Label, {"task": "emotion", "label": "surprise", "event_time": None}),
        (Prediction, {"score": None, "probabilities": {}, "flags": []}),
    ],
)
def test_values_at_the_edge_of_the_rules_are_valid(cls: type[Any], changes: dict[str, Any]) -> None:
    validate(dataclasses.replace(sample(cls), **changes))


def test_invalid_records_are_never_encoded() -> None:
    bad = dataclasses.replace(sample(Transaction), amount=-1.0)
    for fmt in ("avro", "json"):
        with pytest.raises(ValidationError):
            encode_record(bad, fmt)


def test_decoding_checks_the_rules_after_the_schema() -> None:
    wire = {**to_wire(sample(Transaction)), "amount": -5.0}
    data = Codec("transaction").encode(wire, "json")
    with pytest.raises(ValidationError) as caught:
        decode_record(Transaction, data)
    assert caught.value.kind == "negative-number"
    with pytest.raises(DecodeError):
        decode_record(Transaction, b"")


def test_from_wire_names_a_missing_required_field() -> None:
    wire = to_wire(sample(Label))
    del wire["label_time"]
    with pytest.raises(ValidationError, match=r"Label\.label_time is missing"):
        from_wire(Label, wire)
    assert from_wire(Label, {**to_wire(sample(Label)), "unknown": 1}) == sample(Label)
