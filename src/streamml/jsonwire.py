"""JSON conformance for the codec: one walker over the reader schema, with leaves per
direction (JSON in: defaults filled, times and bytes parsed; JSON out: ISO times, base64)."""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

Converter = Callable[[Any], Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NO_DEFAULT = object()


class MismatchError(ValueError):
    """A value does not fit the schema; ``path`` names the field once the error unwinds."""

    def __init__(self, problem: str, path: str = "") -> None:
        super().__init__(problem)
        self.problem, self.path = problem, path

    def at(self, name: str) -> MismatchError:
        return MismatchError(self.problem, f"{name}.{self.path}" if self.path else name)

    def __str__(self) -> str:
        return f"field '{self.path}': {self.problem}" if self.path else self.problem


_JSON_NAMES = {type(None): "null", bool: "a boolean", int: "an integer", float: "a number",
               str: "a string", list: "an array", dict: "an object"}  # fmt: skip


def describe_json(value: Any) -> str:
    return _JSON_NAMES.get(type(value)) or type(value).__name__


def _integer(bits: int) -> Converter:
    low, high = -(1 << (bits - 1)), 1 << (bits - 1)

    def convert(v: Any) -> int:
        if isinstance(v, int) and not isinstance(v, bool) and low <= v < high:
            return v
        raise MismatchError(f"expected a {bits}-bit integer, got {describe_json(v)}")

    return convert


def _typed(kind: type, label: str) -> Converter:
    def convert(v: Any) -> Any:
        if isinstance(v, kind):
            return v
        raise MismatchError(f"expected {label}, got {describe_json(v)}")

    return convert


def _double(v: Any) -> float:
    if isinstance(v, float):
        return v
    if isinstance(v, int) and not isinstance(v, bool) and abs(v) < 2**1023:
        return float(v)
    raise MismatchError(f"expected a number, got {describe_json(v)}")


def _time_in(v: Any) -> datetime:
    """Epoch milliseconds or an ISO-8601 string with an offset, to UTC at millisecond precision."""
    try:
        if isinstance(v, int) and not isinstance(v, bool):
            return _EPOCH + timedelta(milliseconds=v)
        if isinstance(v, str):
            t = datetime.fromisoformat(v)
            if t.tzinfo is None:
                raise MismatchError(f"timestamp {v!r} has no UTC offset (add 'Z' or '+00:00')")
            t = t.astimezone(UTC)
            return t.replace(microsecond=t.microsecond - t.microsecond % 1000)
    except (ValueError, OverflowError) as exc:
        if isinstance(exc, MismatchError):
            raise
        raise MismatchError(f"{str(v)[:40]!r} is not a valid timestamp") from None
    raise MismatchError(
        f"expected epoch milliseconds or an ISO-8601 string, got {describe_json(v)}"
    )


def _time_out(v: Any) -> str:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            raise MismatchError("naive datetime; timestamps must be timezone-aware")
        return v.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"
    return _time_out(_time_in(v))  # epoch millis or ISO text: normalise to one spelling


def _bytes_in(v: Any) -> bytes:
    if not isinstance(v, str):
        raise MismatchError(f"expected base64 text, got {describe_json(v)}")
    try:
        return base64.b64decode(v, validate=True)
    except ValueError:
        raise MismatchError("invalid base64") from None


def _bytes_out(v: Any) -> str:
    if isinstance(v, bytes | bytearray | memoryview):
        return base64.b64encode(v).decode("ascii")
    raise MismatchError(f"expected bytes, got {describe_json(v)}")


_COMMON: dict[str, Converter] = {
    "null": _typed(type(None), "null"),
    "boolean": _typed(bool, "a boolean"),
    "int": _integer(32),
    "long": _integer(64),
    "float": _double,
    "double": _double,
    "string": _typed(str, "a string"),
}
JSON_READERS = {**_COMMON, "bytes": _bytes_in, "timestamp-millis": _time_in}
JSON_WRITERS = {**_COMMON, "bytes": _bytes_out, "timestamp-millis": _time_out}


def compile_converter(
    schema: Any, leaves: Mapping[str, Converter], named: dict[str, Converter] | None = None
) -> Converter:
    """Build once a converter for values of ``schema`` (a fastavro-parsed schema)."""
    named = {} if named is None else named
    if isinstance(schema, str):  # a primitive, or a named type defined earlier
        return leaves.get(schema) or named[schema]
    if isinstance(schema, list):
        return _union([compile_converter(s, leaves, named) for s in schema], schema)
    kind = schema.get("logicalType") if schema.get("logicalType") in leaves else schema["type"]
    if kind == "record":
        return _record(schema, leaves, named)
    if kind == "array":
        return _array(compile_converter(schema["items"], leaves, named))
    if kind == "map":
        return _map(compile_converter(schema["values"], leaves, named))
    if isinstance(kind, str) and kind in leaves:
        return leaves[kind]
    raise ValueError(f"Avro type {kind!r} is not supported in JSON values (enum and fixed)")


def _record(schema: Any, leaves: Mapping[str, Converter], named: dict[str, Converter]) -> Converter:
    fields: list[tuple[str, Converter, Any]] = []

    def convert(v: Any) -> dict[str, Any]:
        if not isinstance(v, dict | Mapping):
            raise MismatchError(f"expected an object, got {describe_json(v)}")
        out = {}
        for name, field, default in fields:
            if name in v:
                try:
                    out[name] = field(v[name])
                except MismatchError as exc:
                    raise exc.at(name) from None
            elif default is _NO_DEFAULT:
                raise MismatchError("required field is missing").at(name)
            else:  # a fresh copy: a mutable default must not be shared between values
                out[name] = copy.deepcopy(default) if isinstance(default, list | dict) else default
        return out

    named[schema["name"]] = convert
    for f in schema["fields"]:
        field = compile_converter(f["type"], leaves, named)
        default = field(f["default"]) if "default" in f else _NO_DEFAULT
        fields.append((f["name"], field, default))
    return convert


def _union(branches: list[Converter], schema: list[Any]) -> Converter:
    if len(branches) == 2 and schema[0] == "null":  # the optional-field fast path
        inner = branches[1]
        return lambda v: None if v is None else inner(v)

    def convert(v: Any) -> Any:
        for branch in branches:
            try:
                return branch(v)
            except MismatchError:
                continue
        raise MismatchError(f"{describe_json(v)} fits no branch of the union")

    return convert


def _array(item: Converter) -> Converter:
    def convert(v: Any) -> list[Any]:
        if not isinstance(v, list | tuple):
            raise MismatchError(f"expected an array, got {describe_json(v)}")
        out = []
        for i, x in enumerate(v):
            try:
                out.append(item(x))
            except MismatchError as exc:
                raise exc.at(str(i)) from None
        return out

    return convert


def _map(value: Converter) -> Converter:
    def convert(v: Any) -> dict[str, Any]:
        if not isinstance(v, Mapping):
            raise MismatchError(f"expected an object, got {describe_json(v)}")
        out = {}
        for k, x in v.items():
            try:
                out[str(k)] = value(x)
            except MismatchError as exc:
                raise exc.at(str(k)) from None
        return out

    return convert
