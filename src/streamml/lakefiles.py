"""Batches of one topic's records as lake files: Avro container files or Parquet.

A lake row is the record's contract fields (``schemas/``) followed by where it came from:
``kafka_partition``, ``kafka_offset`` and ``kafka_timestamp``. The same rows make the same
bytes, so a batch written again after a crash replaces its object with identical content.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq

from streamml.codec import load_schema
from streamml.contracts import SCHEMA_NAMES, Record, to_wire, topic_contract
from streamml.settings import Topics

LakeFormat = Literal["avro", "parquet"]

SOURCE_FIELDS: list[dict[str, Any]] = [
    {"name": "kafka_partition", "type": "int"},
    {"name": "kafka_offset", "type": "long"},
    {"name": "kafka_timestamp", "type": {"type": "long", "logicalType": "timestamp-millis"}},
]
EXTENSIONS: Mapping[LakeFormat, str] = {"avro": "avro", "parquet": "parquet"}


def record_class(topics: Topics, topic: str) -> type[Record]:
    """The contract of what ``topic`` carries; a ``KeyError`` names a topic without one.

    >>> record_class(Topics.with_prefix("x-"), "x-emotion-labels").__name__
    'Label'
    """
    cls = topic_contract(topic, topics)
    if cls is None:
        raise KeyError(f"topic {topic!r} carries no contract the lake knows")
    return cls


def lake_schema(cls: type[Record]) -> dict[str, Any]:
    """The Avro schema of ``cls``'s lake rows: its contract plus the source fields."""
    contract = load_schema(SCHEMA_NAMES[cls]).parsed
    return {
        "type": "record",
        "name": f"{contract['name']}Row",
        "fields": [*contract["fields"], *SOURCE_FIELDS],
    }


def lake_row(record: Record, partition: int, offset: int, timestamp_ms: int) -> dict[str, Any]:
    row = to_wire(record)
    row["kafka_partition"] = partition
    row["kafka_offset"] = offset
    row["kafka_timestamp"] = timestamp_ms
    return row


def encode_batch(cls: type[Record], rows: Sequence[dict[str, Any]], fmt: LakeFormat) -> bytes:
    """The file holding ``rows`` (lake rows of ``cls``) in ``fmt``."""
    schema = lake_schema(cls)
    out = io.BytesIO()
    if fmt == "avro":
        # A fixed sync marker: the same rows always give the same bytes.
        fastavro.writer(
            out,
            fastavro.parse_schema(schema),
            rows,
            codec="deflate",
            sync_marker=b"streamml-lake-01",
        )
    else:
        arrow = arrow_schema(schema)
        columns = {f.name: [_arrow_value(row.get(f.name), f.type) for row in rows] for f in arrow}
        table = pa.Table.from_pydict(columns, schema=arrow)
        pq.write_table(table, out, compression="zstd")
    return out.getvalue()


def arrow_schema(schema: Mapping[str, Any]) -> pa.Schema:
    """The Arrow schema of an Avro record schema (the types the contracts use)."""
    fields = []
    for f in schema["fields"]:
        arrow_type, nullable = _arrow_type(f["type"])
        fields.append(pa.field(f["name"], arrow_type, nullable=nullable))
    return pa.schema(fields)


_PRIMITIVES: Mapping[str, pa.DataType] = {
    "string": pa.string(),
    "bytes": pa.binary(),
    "long": pa.int64(),
    "int": pa.int32(),
    "double": pa.float64(),
    "float": pa.float32(),
    "boolean": pa.bool_(),
}


def _arrow_type(avro: Any) -> tuple[pa.DataType, bool]:
    """The Arrow type of an Avro type, and whether it is nullable."""
    if isinstance(avro, list):  # unions: only ["null", X] in the contracts
        branches = [b for b in avro if b != "null"]
        if len(branches) != 1:
            raise ValueError(f"unsupported Avro union {avro}")
        return _arrow_type(branches[0])[0], True
    if isinstance(avro, str):
        arrow = _PRIMITIVES[avro]
    elif avro.get("logicalType") == "timestamp-millis":
        arrow = pa.timestamp("ms", tz="UTC")
    elif avro["type"] == "map":
        arrow = pa.map_(pa.string(), _arrow_type(avro["values"])[0])
    elif avro["type"] == "array":
        arrow = pa.list_(_arrow_type(avro["items"])[0])
    elif avro["type"] == "enum":
        arrow = pa.string()
    else:
        return _arrow_type(avro["type"])
    return arrow, False


def _arrow_value(value: Any, arrow_type: pa.DataType) -> Any:
    if value is not None and pa.types.is_map(arrow_type):
        return list(value.items())
    return value


def lake_rows(data: bytes, key: str) -> int:
    """How many rows a lake file holds (``key`` names its format)."""
    if key.endswith(".parquet"):
        return int(pq.read_metadata(io.BytesIO(data)).num_rows)
    return sum(1 for _ in fastavro.reader(io.BytesIO(data)))
