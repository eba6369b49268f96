"""Wire codec: Avro single-object encoding or JSON, told apart by the header.

An Avro value is ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's Parsing Canonical Form, then Avro binary (the Avro spec's single-object
encoding, so no schema registry is needed). Anything else must be a UTF-8 JSON object.
Decoding resolves the writer schema to the codec's reader schema, so producers and
consumers may run different versions of a contract in ``schemas/``.
"""

from __future__ import annotations

import base64
import copy
import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from io import BytesIO
from pathlib import Path
from typing import Any

from fastavro import schemaless_reader, schemaless_writer
from fastavro.read import SchemaResolutionError
from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from streamml.errors import DecodeError
from streamml.settings import WireFormat

MAGIC = b"\xc3\x01"
"""First two bytes of every Avro single-object encoded value."""
HEADER_SIZE = 10
_JSON_START = frozenset(b'{["-0123456789tfn')
_NOT_SPACE = re.compile(rb"[^ \t\r\n]")


@dataclass(frozen=True, eq=False, slots=True)
class ParsedSchema:
    """A record schema parsed once: full name, fastavro form, canonical form, fingerprint.

    Examples
    --------
    >>> s = ParsedSchema.from_dict(
    ...     {"type": "record", "name": "P", "namespace": "ex", "fields": [
    ...         {"name": "x", "type": "long"}]})
    >>> s.name, s.canonical
    ('ex.P', '{"name":"ex.P","type":"record","fields":[{"name":"x","type":"long"}]}')
    >>> s.header == MAGIC + s.fingerprint and len(s.fingerprint) == 8
    True
    """

    name: str
    parsed: dict[str, Any]
    canonical: str
    fingerprint: bytes
    header: bytes

    @classmethod
    def from_dict(cls, schema: Mapping[str, Any]) -> ParsedSchema:
        """Parse an Avro record schema given as its JSON object."""
        parsed = parse_schema(dict(schema))
        if not isinstance(parsed, dict) or parsed.get("type") != "record":
            raise ValueError("a wire contract must be an Avro record schema")
        canonical = to_parsing_canonical_form(parsed)
        # fastavro gives the CRC-64-AVRO bytes little-endian, as single-object encoding wants.
        digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
        return cls(parsed["name"], parsed, canonical, digest, MAGIC + digest)


def _schema_dir() -> Traversable:
    """``schemas/`` of a source checkout, else the copy packed into the wheel."""
    root = Path(__file__).resolve().parents[2]
    if (root / "schemas").is_dir() and (root / "pyproject.toml").is_file():
        return root / "schemas"
    return resources.files("streamml") / "_schemas"


@cache
def load_schema(name: str) -> ParsedSchema:
    """Load and parse ``schemas/<name>.avsc`` (parsed once, then cached).

    Examples
    --------
    >>> load_schema("transaction").name
    'dev.streamml.Transaction'
    """
    path = _schema_dir() / f"{name}.avsc"
    if not path.is_file():
        raise ValueError(f"no schema {name!r}: {path} does not exist")
    return ParsedSchema.from_dict(json.loads(path.read_text(encoding="utf-8")))


@cache
def known_schemas() -> Mapping[bytes, ParsedSchema]:
    """Every schema (every version of every contract) in ``schemas/``, by fingerprint."""
    found = (p for p in _schema_dir().iterdir() if p.name.endswith(".avsc"))
    return {s.fingerprint: s for s in (load_schema(p.name[: -len(".avsc")]) for p in found)}


def detect_format(data: bytes) -> WireFormat:
    """Tell the wire format of a value by its first bytes; the only place that does.

    Raises
    ------
    DecodeError
        ``empty`` for no bytes or only whitespace, ``unknown-format`` for anything that
        is neither Avro single-object encoded nor JSON.

    Examples
    --------
    >>> detect_format(b"\\xc3\\x01" + bytes(8)), detect_format(b' {"a": 1}')
    ('avro', 'json')
    """
    start = _NOT_SPACE.search(data) if data else None  # also refuses None (a tombstone)
    if start is None:
        raise DecodeError("empty", "the value is empty (zero bytes, blank or a tombstone)")
    if data[:2] == MAGIC:
        return "avro"
    if data[start.start()] in _JSON_START:
        return "json"
    hint = " (Confluent Schema Registry framing is not supported)" if data[0] == 0 else ""
    raise DecodeError(
        "unknown-format",
        f"the value starts with {data[:4].hex(' ')}: neither Avro single-object encoding "
        f"(C3 01 + schema fingerprint) nor a JSON object{hint}",
    )


class Codec:
    """Encode and decode values of one contract (the reader schema) in either wire format.

    Parameters
    ----------
    reader
        Name of a schema in ``schemas/`` (``"transaction"``) or a parsed schema. Values
        are encoded with it and decoded into its shape.
    writers
        Extra writer schemas to accept beside every schema in ``schemas/``.

    Examples
    --------
    >>> codec = Codec("label")
    >>> value = {"event_id": "e1", "task": "fraud", "label": "1", "label_time": 0}
    >>> codec.decode(codec.encode(value))["label_time"].isoformat()
    '1970-01-01T00:00:00+00:00'
    >>> codec.encode(value, "json")[:40]
    b'{"event_id":"e1","task":"fraud","label":'
    """

    __slots__ = ("_from_json", "_to_json", "_writers", "reader")

    def __init__(
        self,
        reader: str | ParsedSchema,
        writers: Iterable[ParsedSchema | Mapping[str, Any]] = (),
    ) -> None:
        self.reader = load_schema(reader) if isinstance(reader, str) else reader
        self._writers = dict(known_schemas())
        for writer in writers:
            parsed = writer if isinstance(writer, ParsedSchema) else ParsedSchema.from_dict(writer)
            self._writers[parsed.fingerprint] = parsed
        self._writers[self.reader.fingerprint] = self.reader
        self._from_json: _Converter = _compile(self.reader.parsed, _JSON_READERS)
        self._to_json: _Converter = _compile(self.reader.parsed, _JSON_WRITERS)

    def encode(self, value: Mapping[str, Any], fmt: WireFormat = "avro") -> bytes:
        """Serialise ``value`` (a wire dict: datetimes, bytes, floats...) with the reader schema.

        Raises
        ------
        ValueError, TypeError
            If ``value`` does not fit the schema (a bug of the caller, never input data).
        """
        if fmt == "avro":
            out = BytesIO()
            out.write(self.reader.header)
            schemaless_writer(out, self.reader.parsed, value)
            return out.getvalue()
        if fmt == "json":
            try:
                obj = self._to_json(value)
                text = json.dumps(obj, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
            except ValueError as exc:
                raise ValueError(f"cannot encode {self.reader.name} as JSON: {exc}") from None
            return text.encode("utf-8")
        raise ValueError(f"unknown wire format {fmt!r}; expected 'avro' or 'json'")

    def decode(self, data: bytes) -> dict[str, Any]:
        """Read one value in either wire format into a dict shaped by the reader schema.

        Raises
        ------
        DecodeError
            Always with a short ``kind``: ``empty``, ``unknown-format``, ``truncated-avro``,
            ``unknown-schema``, ``invalid-avro``, ``invalid-json``, ``not-an-object`` or
            ``schema-mismatch``; never a raw fastavro or json exception.
        """
        if detect_format(data) == "avro":
            return self._decode_avro(data)
        return self._decode_json(data)

    def _decode_avro(self, data: bytes) -> dict[str, Any]:
        if len(data) < HEADER_SIZE:
            raise DecodeError("truncated-avro", f"Avro header cut short: {len(data)} of 10 bytes")
        writer = self._writers.get(data[2:HEADER_SIZE])
        if writer is None:
            raise DecodeError(
                "unknown-schema",
                f"no known schema has fingerprint {data[2:HEADER_SIZE].hex()} "
                f"(expected {self.reader.name}, fingerprint {self.reader.fingerprint.hex()})",
            )
        reader = None if writer is self.reader else self.reader.parsed
        stream = BytesIO(data)
        stream.seek(HEADER_SIZE)
        try:
            value = schemaless_reader(stream, writer.parsed, reader)
        except Exception as exc:  # fastavro raises many types; each becomes a DecodeError
            raise self._avro_error(exc, writer, stream.tell() >= len(data)) from None
        if stream.tell() != len(data):
            raise DecodeError(
                "invalid-avro",
                f"{len(data) - stream.tell()} bytes left over after the {writer.name} record",
            )
        if not isinstance(value, dict):
            raise DecodeError("invalid-avro", f"{writer.name} did not decode to a record")
        return value

    def _avro_error(self, exc: Exception, writer: ParsedSchema, at_end: bool) -> DecodeError:
        where = f"{writer.name} (fingerprint {writer.fingerprint.hex()})"
        if isinstance(exc, SchemaResolutionError):
            if writer.name != self.reader.name:
                detail = f"it is a {writer.name}, not a {self.reader.name}"
            else:
                detail = str(exc)[:200]
            return DecodeError("schema-mismatch", f"cannot read {where}: {detail}")
        if isinstance(exc, EOFError) or (isinstance(exc, IndexError) and at_end):
            return DecodeError("truncated-avro", f"the {where} record is cut short")
        reason = f"{type(exc).__name__}: {str(exc)[:200]}"
        return DecodeError("invalid-avro", f"corrupt {where} record ({reason})")

    def _decode_json(self, data: bytes) -> dict[str, Any]:
        try:
            obj = json.loads(data.decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise DecodeError("invalid-json", f"not UTF-8 at byte {exc.start}") from None
        except RecursionError:
            raise DecodeError("invalid-json", "invalid JSON: nested too deeply") from None
        except ValueError as exc:  # JSONDecodeError, or an integer of over 4300 digits
            raise DecodeError("invalid-json", f"invalid JSON: {str(exc)[:200]}") from None
        if not isinstance(obj, dict):
            raise DecodeError("not-an-object", f"the JSON value is {_what(obj)}, not an object")
        try:
            value: dict[str, Any] = self._from_json(obj)
        except _MismatchError as exc:
            raise DecodeError("schema-mismatch", f"{self.reader.name}: {exc}") from None
        return value


# --- JSON conformance: one walker over the reader schema, leaves per direction -------------

_Converter = Callable[[Any], Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_DEFAULT = object()


class _MismatchError(ValueError):
    """A value does not fit the schema; ``path`` names the field once the error unwinds."""

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(problem)
        self.problem, self.path = problem, path

    def at(self, name: str) -> _MismatchError:
        return _MismatchError(self.problem, f"{name}.{self.path}" if self.path else name)

    def __str__(self) -> str:
        return f"field '{self.path}': {self.problem}" if self.path else self.problem


_JSON_NAMES = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
               str: "a string", list: "an array", dict: "an object"}  # fmt: skip


def _what(value: Any) -> str:
    return _JSON_NAMES.get(type(value)) or type(value).__name__


def _integer(bits: int) -> _Converter:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def convert(v: Any) -> int:
        if isinstance(v, int) and not isinstance(v, bool) and low <= v < high:
            return v
        raise _MismatchError(f"expected a {bits}-bit integer, got {_what(v)}")

    return convert


def _typed(kind: type, label: str) -> _Converter:
    def convert(v: Any) -> Any:
        if isinstance(v, kind):
            return v
        raise _MismatchError(f"expected {label}, got {_what(v)}")

    return convert


def _double(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**1023:
        return float(v)
    raise _MismatchError(f"expected a number, got {_what(v)}")


def _time_in(v: Any) -> datetime:
    """Epoch milliseconds or an ISO-8601 string with an offset, to UTC at millisecond precision."""
    try:
        if isinstance(v, int) and not isinstance(v, bool):
            return _EPOCH + timedelta(milliseconds=v)
        if isinstance(v, str):
            t = datetime.fromisoformat(v)
            if t.tzinfo is None:
                raise _MismatchError(f"timestamp {v!r} has no UTC offset (add 'Z' or '+00:00')")
            t = t.astimezone(UTC)
            return t.replace(microsecond=t.microsecond - t.microsecond % 1000)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, _MismatchError):
            raise
        raise _MismatchError(f"{str(v)[:40]!r} is not a valid timestamp") from None
    raise _MismatchError(f"expected epoch milliseconds or an ISO-8601 string, got {_what(v)}")


def _time_out(v: Any) -> str:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise _MismatchError("naive datetime; timestamps must be timezone-aware")
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return _time_out(_time_in(v))  # epoch millis or ISO text: normalise to one spelling


def _bytes_in(v: Any) -> bytes:
    if not isinstance(v, str):
        raise _MismatchError(f"expected base64 text, got {_what(v)}")
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        raise _MismatchError("invalid base64") from None


def _bytes_out(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(v).decode("ascii")
    raise _MismatchError(f"expected bytes, got {_what(v)}")


_COMMON: dict[str, _Converter] = {
    "null": _typed(type(None), "null"),
    "boolean": _typed(bool, "a boolean"),
    "int": _integer(32),
    "long": _integer(64),
    "float": _double,
    "double": _double,
    "string": _typed(str, "a string"),
}
_JSON_READERS = {**_COMMON, "bytes": _bytes_in, "timestamp-millis": _time_in}
_JSON_WRITERS = {**_COMMON, "bytes": _bytes_out, "timestamp-millis": _time_out}


def _compile(
    schema: Any, leaves: Mapping[str, _Converter], named: dict[str, _Converter] | None = None
) -> _Converter:
    """Build once a converter for values of ``schema`` (a fastavro-parsed schema)."""
    named = {} if named is None else named
    if isinstance(schema, str):  # a primitive, or a named type defined earlier
        return leaves.get(schema) or named[schema]
    if isinstance(schema, list):
        return _union([_compile(s, leaves, named) for s in schema], schema)
    kind = schema.get("logicalType") if schema.get("logicalType") in leaves else schema["type"]
    if kind == "record":
        return _record(schema, leaves, named)
    if kind == "array":
        return _array(_compile(schema["items"], leaves, named))
    if kind == "map":
        return _map(_compile(schema["values"], leaves, named))
    if isinstance(kind, str) and kind in leaves:
        return leaves[kind]
    raise ValueError(f"Avro type {kind!r} is not supported in JSON values (enum and fixed)")


def _record(
    schema: Any, leaves: Mapping[str, _Converter], named: dict[str, _Converter]
) -> _Converter:
    fields: list[tuple[str, _Converter, Any]] = []

    def convert(v: Any) -> dict[str, Any]:
        if not isinstance(v, dict | Mapping):
            raise _MismatchError(f"expected an object, got {_what(v)}")
        out = {}
        for name, field, default in fields:
            if name in v:
                try:
                    out[name] = field(v[name])
                except _MismatchError as exc:
                    raise exc.at(name) from None
            elif default is _NO_DEFAULT:
                raise _MismatchError("required field is missing").at(name)
            else:  # a fresh copy: a mutable default must not be shared between values
                out[name] = copy.deepcopy(default) if isinstance(default, list | dict) else default
        return out

    named[schema["name"]] = convert
    for f in schema["fields"]:
        field = _compile(f["type"], leaves, named)
        default = field(f["default"]) if "default" in f else _NO_DEFAULT
        fields.append((f["name"], field, default))
    return convert


def _union(branches: list[_Converter], schema: list[Any]) -> _Converter:
    if len(branches) == 2 and schema[0] == "null":  # the optional-field fast path
        inner = branches[1]
        return lambda v: None if v is None else inner(v)

    def convert(v: Any) -> Any:
        for branch in branches:
            try:
                return branch(v)
            except _MismatchError:
                continue
        raise _MismatchError(f"{_what(v)} fits no branch of the union")

    return convert


def _array(item: _Converter) -> _Converter:
    def convert(v: Any) -> list[Any]:
        if not isinstance(v, list | tuple):
            raise _MismatchError(f"expected an array, got {_what(v)}")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except _MismatchError as exc:
                raise exc.at(str(i)) from None
        return out

    return convert


def _map(value: _Converter) -> _Converter:
    def convert(v: Any) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise _MismatchError(f"expected an object, got {_what(v)}")
        out = {}
        for k, x in v.items():
            try:
                out[str(k)] = value(x)
            except _MismatchError as exc:
                raise exc.at(str(k)) from None
        return out

    return convert
