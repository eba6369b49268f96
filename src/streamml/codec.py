"""Wire codec: Avro single-object encoding or JSON, told apart by the header.

An Avro value is ``C3 01``, the 8-byte little-endian CRC-64-AVRO fingerprint of the
writer schema's Parsing Canonical Form, then Avro binary (the Avro spec's single-object
encoding, so no schema registry is needed). Anything else must be a UTF-8 JSON object.
Decoding resolves the writer schema to the codec's reader schema, so producers and
consumers may run different versions of a contract in ``schemas/``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
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
from streamml.jsonwire import (
    JSON_READERS,
    JSON_WRITERS,
    Converter,
    MismatchError,
    compile_converter,
    describe_json,
)
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
        self._from_json: Converter = compile_converter(self.reader.parsed, JSON_READERS)
        self._to_json: Converter = compile_converter(self.reader.parsed, JSON_WRITERS)

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
            raise DecodeError(
                "not-an-object", f"the JSON value is {describe_json(obj)}, not an object"
            )
        try:
            value: dict[str, Any] = self._from_json(obj)
        except MismatchError as exc:
            raise DecodeError("schema-mismatch", f"{self.reader.name}: {exc}") from None
        return value
