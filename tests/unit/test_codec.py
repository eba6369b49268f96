"""The wire codec: both formats, header detection, every decode failure, schema evolution."""

from __future__ import annotations

import copy
import json
import os
import random
import shutil
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

import streamml.codec
from streamml.codec import MAGIC, Codec, ParsedSchema, detect_format, known_schemas, load_schema
from streamml.errors import DecodeError
from streamml.settings import WireFormat

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
NAMES = ["transaction", "text_event", "label", "prediction", "drift_alert", "dead_letter"]
T0 = datetime(2018, 4, 1, 12, 30, 15, 123000, tzinfo=UTC)


def transaction(**changes: Any) -> dict[str, Any]:
    value = {
        "event_id": "tx-1",
        "event_time": T0,
        "customer_id": "c-1",
        "terminal_id": "t-1",
        "amount": 57.16,
        "channel": "card",
        "session_id": None,
        "features": {"tx_count_1d": 3.0},
    }
    return {**value, **changes}


def raw_schema(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads((SCHEMA_DIR / f"{name}.avsc").read_text("utf-8"))
    return result


def evolved_transaction() -> dict[str, Any]:
    """transaction.avsc plus two optional fields, as a producer on a newer version has it."""
    schema = copy.deepcopy(raw_schema("transaction"))
    schema["fields"] += [
        {"name": "device", "type": ["null", "string"], "default": None, "doc": "new"},
        {"name": "currency", "type": "string", "default": "EUR", "doc": "new"},
    ]
    return schema


def decode_error(codec: Codec, data: bytes) -> DecodeError:
    with pytest.raises(DecodeError) as caught:
        codec.decode(data)
    return caught.value


# --- schemas and the header -------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_avro_header_is_magic_and_fingerprint_of_canonical_form(name: str) -> None:
    canonical = to_parsing_canonical_form(parse_schema(raw_schema(name)))
    expected = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    codec = Codec(name)
    data = codec.encode(random_value(codec.reader.parsed, random.Random(1)))
    assert data[:2] == b"\xc3\x01" == MAGIC
    assert data[2:10] == expected == codec.reader.fingerprint


def test_fingerprint_bytes_match_the_avro_spec_test_vectors() -> None:
    # Avro's share/test/data/schema-tests.txt gives fingerprints as signed 64-bit numbers;
    # single-object encoding writes them little-endian.
    record = {"type": "record", "name": "foo", "fields": [{"name": "f1", "type": "boolean"}]}
    assert ParsedSchema.from_dict(record).fingerprint == (7843277075252814651).to_bytes(
        8, "little", signed=True
    )
    assert bytes.fromhex(fingerprint('"null"', "CRC-64-AVRO")) == (7195948357588979594).to_bytes(
        8, "little", signed=True
    )


def test_every_contract_loads_from_the_schema_directory() -> None:
    names = {schema.name for schema in known_schemas().values()}
    assert {f"dev.streamml.{n}" for n in ["Transaction", "TextEvent", "Label"]} <= names
    assert {
        "dev.streamml.Prediction",
        "dev.streamml.DriftAlert",
        "dev.streamml.DeadLetter",
    } <= names
    assert load_schema("label") is load_schema("label")  # parsed once


def test_an_installed_package_reads_its_packed_schemas(tmp_path: Path) -> None:
    # A wheel has no checkout around it: schemas/ is packed as streamml/_schemas.
    package = Path(streamml.codec.__file__).parent
    shutil.copytree(package, tmp_path / "streamml", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(SCHEMA_DIR, tmp_path / "streamml" / "_schemas")
    script = "from streamml.codec import _schema_dir, load_schema as l; "
    script += "print(_schema_dir(), l('label').fingerprint.hex())"
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, check=True
    )
    where, digest = out.stdout.decode().split()
    assert where == str(tmp_path / "streamml" / "_schemas")
    assert digest == load_schema("label").fingerprint.hex()


def test_unknown_schema_name_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no schema 'nope'"):
        load_schema("nope")


# --- format detection -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "fmt"),
    [
        (MAGIC + bytes(8), "avro"),
        (MAGIC, "avro"),  # detected as Avro, then reported truncated
        (b'{"a": 1}', "json"),
        (b' \r\n\t{"a": 1}', "json"),
        (b"[1, 2]", "json"),  # JSON, then reported not-an-object
        (b'"text"', "json"),
    ],
)
def test_detect_format_by_header(data: bytes, fmt: str) -> None:
    assert detect_format(data) == fmt


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", "empty"),
        (b"  \n", "empty"),
        (b"\x00\x00\x00\x00\x07\x02x", "unknown-format"),  # Confluent registry framing
        (b"\xc3\x02" + bytes(8), "unknown-format"),
        (b"hello", "unknown-format"),
        (b"\xff\xfe{", "unknown-format"),
    ],
)
def test_detect_format_rejects_what_is_neither(data: bytes, kind: str) -> None:
    with pytest.raises(DecodeError) as caught:
        detect_format(data)
    assert caught.value.kind == kind


# --- round trips ------------------------------------------------------------------------------


def random_text(rng: random.Random, longest: int = 12) -> str:
    pool = 'abcXYZ09 _-"\\/\n\t\x00éßø漢字😀'
    return "".join(rng.choice(pool) for _ in range(rng.randrange(longest)))


def random_value(schema: Any, rng: random.Random) -> Any:
    """A random value of a fastavro-parsed schema, in the form the codec decodes to."""
    if isinstance(schema, list):
        return random_value(rng.choice(schema), rng)
    kind = schema if isinstance(schema, str) else schema["type"]
    if isinstance(schema, dict) and schema.get("logicalType") == "timestamp-millis":
        return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=rng.randrange(7 * 10**12))
    makers: dict[str, Callable[[], Any]] = {
        "null": lambda: None,
        "boolean": lambda: rng.random() < 0.5,
        "int": lambda: rng.randrange(-(2**31), 2**31),
        "long": lambda: rng.randrange(-(2**63), 2**63),
        "double": lambda: rng.choice([0.0, -1.5, 1e-300, 1.7e308, rng.uniform(-1e9, 1e9)]),
        "string": lambda: random_text(rng),
        "bytes": lambda: rng.randbytes(rng.randrange(20)),
        "array": lambda: [random_value(schema["items"], rng) for _ in range(rng.randrange(4))],
        "map": lambda: {
            random_text(rng): random_value(schema["values"], rng) for _ in range(rng.randrange(4))
        },
        "record": lambda: {f["name"]: random_value(f["type"], rng) for f in schema["fields"]},
    }
    return makers[kind]()


@pytest.mark.parametrize("fmt", ["avro", "json"])
@pytest.mark.parametrize("name", NAMES)
def test_random_values_of_every_contract_round_trip(name: str, fmt: WireFormat) -> None:
    codec = Codec(name)
    rng = random.Random(f"{name}-{fmt}")
    for _ in range(300):
        value = random_value(codec.reader.parsed, rng)
        assert codec.decode(codec.encode(value, fmt)) == value


def test_json_encodes_timestamps_as_iso_utc_and_bytes_as_base64() -> None:
    codec = Codec("dead_letter")
    value = {
        "source_topic": "texts",
        "source_partition": 2,
        "source_offset": 41,
        "error_kind": "invalid-json",
        "message": "bad",
        "raw": b"\xff\x00{",
        "failed_time": datetime(2024, 5, 1, 14, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2))),
        "key": None,
    }
    obj = json.loads(codec.encode(value, "json"))
    assert obj["failed_time"] == "2024-05-01T12:00:00.123Z"
    assert obj["raw"] == "/wB7"
    assert codec.decode(codec.encode(value, "json"))["raw"] == b"\xff\x00{"


def test_json_accepts_epoch_millis_and_iso_timestamps_with_any_offset() -> None:
    codec = Codec("transaction")
    expected = datetime(2018, 4, 1, 12, 0, 0, 5000, tzinfo=UTC)
    spellings = [1522584000005, "2018-04-01T12:00:00.005Z", "2018-04-01T14:00:00.005999+02:00"]
    for spelling in spellings:
        data = json.dumps({**transaction(features=None), "event_time": spelling}).encode()
        assert codec.decode(data)["event_time"] == expected


def test_json_fills_defaults_ignores_unknown_fields_and_widens_integers() -> None:
    data = b'{"event_id": "e", "event_time": 0, "customer_id": "c", "terminal_id": "t",'
    data += b' "amount": 12, "from_the_future": {"x": [1]}}'
    value = Codec("transaction").decode(data)
    assert value["channel"] == "card" and value["session_id"] is None
    assert value["amount"] == 12.0 and isinstance(value["amount"], float)
    assert "from_the_future" not in value


def test_json_array_defaults_are_not_shared_between_values() -> None:
    codec = Codec("prediction")
    data = b'{"event_id":"e","task":"fraud","model_version":"v","event_time":0,"processed_time":0}'
    first = codec.decode(data)
    first["flags"].append("cold-start")
    assert codec.decode(data)["flags"] == []


# --- every decode failure has a kind ---------------------------------------------------------


def test_truncated_avro_at_every_length_is_reported_as_truncated() -> None:
    codec = Codec("transaction")
    data = codec.encode(transaction())
    for end in range(2, len(data)):
        error = decode_error(codec, data[:end])
        assert error.kind == "truncated-avro", (end, error)


def test_unknown_writer_fingerprint_is_named_in_hex() -> None:
    data = MAGIC + bytes.fromhex("0123456789abcdef") + b"\x00"
    error = decode_error(Codec("transaction"), data)
    assert error.kind == "unknown-schema"
    assert "0123456789abcdef" in error.message


@pytest.mark.parametrize(
    ("tail", "reason"),
    [(b"\x00\x00", "left over"), (None, "UnicodeDecodeError")],
)
def test_corrupt_avro_is_invalid_avro(tail: bytes | None, reason: str) -> None:
    codec = Codec("transaction")
    data = codec.encode(transaction())
    if tail is None:  # event_id "tx-1" replaced by bytes that are not UTF-8
        data = data[:11] + b"\xff\xfe\xfd\xfc" + data[15:]
    else:
        data += tail
    error = decode_error(codec, data)
    assert error.kind == "invalid-avro" and reason in error.message


def test_a_record_of_another_contract_is_a_schema_mismatch() -> None:
    label = Codec("label").encode(
        {"event_id": "e", "task": "fraud", "label": "1", "label_time": T0}
    )
    error = decode_error(Codec("transaction"), label)
    assert error.kind == "schema-mismatch"
    assert "dev.streamml.Label" in error.message and "dev.streamml.Transaction" in error.message


@pytest.mark.parametrize(
    ("data", "kind", "mentions"),
    [
        (b'{"event_id": ', "invalid-json", "invalid JSON"),
        (b'{"event_id": "\xff"}', "invalid-json", "UTF-8"),
        (b"[" * 100_000, "invalid-json", "nested too deeply"),
        (b'{"amount": ' + b"9" * 5000 + b"}", "invalid-json", "digits"),
        (b"[1, 2]", "not-an-object", "array"),
        (b"null", "not-an-object", "null"),
        (b'"x"', "not-an-object", "string"),
        (json.dumps({**transaction(), "event_time": 0, "amount": "12"}).encode(), "", "amount"),
        (b'{"event_id": "e"}', "schema-mismatch", "event_time"),
    ],
)
def test_json_failures(data: bytes, kind: str, mentions: str) -> None:
    error = decode_error(Codec("transaction"), data)
    assert error.kind == (kind or "schema-mismatch")
    assert mentions in error.message


@pytest.mark.parametrize(
    ("field", "bad", "mentions"),
    [
        ("event_time", "2018-04-01T12:00:00", "no UTC offset"),
        ("event_time", "yesterday", "not a valid timestamp"),
        ("event_time", 10**20, "not a valid timestamp"),
        ("event_time", True, "epoch milliseconds"),
        ("customer_id", None, "expected a string"),
        ("features", {"x": "1"}, "features.x"),
        ("session_id", 5, "session_id"),
    ],
)
def test_json_schema_mismatch_names_the_field(field: str, bad: Any, mentions: str) -> None:
    value = {**transaction(), "event_time": 0, field: bad}
    error = decode_error(Codec("transaction"), json.dumps(value).encode())
    assert error.kind == "schema-mismatch"
    assert field in error.message and mentions in error.message


def test_json_bytes_must_be_base64() -> None:
    data = b'{"source_topic":"t","source_partition":0,"source_offset":1,"error_kind":"k",'
    data += b'"message":"m","raw":"not base64!","failed_time":0}'
    error = decode_error(Codec("dead_letter"), data)
    assert error.kind == "schema-mismatch" and "raw" in error.message


def test_mutated_values_never_raise_anything_but_decode_error() -> None:
    codec = Codec("prediction")
    rng = random.Random(7)
    seeds = [codec.encode(random_value(codec.reader.parsed, rng), fmt) for fmt in ("avro", "json")]
    seen: set[str] = set()
    for _ in range(3000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randrange(1, 4)):
            position = rng.randrange(10 if data[:2] == MAGIC else 0, len(data))
            data[position] = rng.randrange(256)
        try:
            assert isinstance(codec.decode(bytes(data)), dict)
        except DecodeError as error:
            seen.add(error.kind)
    assert {"invalid-avro", "invalid-json"} <= seen


# --- schema evolution ------------------------------------------------------------------------


def test_avro_old_reader_reads_a_record_with_a_new_optional_field() -> None:
    new = ParsedSchema.from_dict(evolved_transaction())
    data = Codec(new).encode({**transaction(), "device": "phone", "currency": "USD"})
    assert data[2:10] == new.fingerprint != load_schema("transaction").fingerprint
    assert Codec("transaction", writers=[evolved_transaction()]).decode(data) == transaction()
    # A writer nobody told the reader about is reported, not guessed at.
    assert decode_error(Codec("transaction"), data).kind == "unknown-schema"


def test_avro_new_reader_reads_an_old_record_filling_defaults() -> None:
    old_bytes = Codec("transaction").encode(transaction())
    value = Codec(ParsedSchema.from_dict(evolved_transaction())).decode(old_bytes)
    assert value == {**transaction(), "device": None, "currency": "EUR"}


def test_avro_new_required_field_without_default_cannot_read_old_records() -> None:
    schema = raw_schema("transaction")
    schema["fields"].append({"name": "mcc", "type": "int"})
    error = decode_error(
        Codec(ParsedSchema.from_dict(schema)), Codec("transaction").encode(transaction())
    )
    assert error.kind == "schema-mismatch" and "mcc" in error.message


def test_json_evolution_in_both_directions() -> None:
    new = Codec(ParsedSchema.from_dict(evolved_transaction()))
    new_json = new.encode({**transaction(), "device": "phone", "currency": "USD"}, "json")
    assert Codec("transaction").decode(new_json) == transaction()
    old_json = Codec("transaction").encode(transaction(), "json")
    assert new.decode(old_json) == {**transaction(), "device": None, "currency": "EUR"}


# --- encoding is the caller's responsibility --------------------------------------------------


@pytest.mark.parametrize(
    ("value", "fmt"),
    [
        (transaction(amount=float("nan")), "json"),
        (transaction(event_time=datetime(2018, 4, 1)), "json"),  # naive: ambiguous
        (transaction(customer_id=None), "json"),
        (transaction(customer_id=None), "avro"),
    ],
)
def test_encoding_a_value_that_breaks_the_schema_raises(value: dict[str, Any], fmt: Any) -> None:
    with pytest.raises((ValueError, TypeError)):
        Codec("transaction").encode(value, fmt)


def test_unknown_wire_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown wire format"):
        Codec("transaction").encode(transaction(), "xml")  # type: ignore[arg-type]
