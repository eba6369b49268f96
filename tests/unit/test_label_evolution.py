"""Label gained customer_id and terminal_id: both generations of readers keep working."""

from __future__ import annotations

from datetime import UTC, datetime

from streamml.codec import Codec, load_schema
from streamml.contracts import decode_record, encode_record
from streamml.records import Label

WHEN = datetime(2018, 4, 8, tzinfo=UTC)


def test_a_new_reader_reads_a_label_written_with_version_1() -> None:
    old_writer = Codec(load_schema("label.v1"))
    raw = old_writer.encode({"event_id": "e1", "task": "fraud", "label": "1", "label_time": WHEN})
    label = decode_record(Label, raw)
    assert (label.event_id, label.customer_id, label.terminal_id) == ("e1", None, None)


def test_a_version_1_reader_reads_a_label_with_the_new_fields() -> None:
    raw = encode_record(Label("e1", "fraud", "0", WHEN, WHEN, "c7", "t9"), "avro")
    value = Codec(load_schema("label.v1")).decode(raw)
    assert value["event_id"] == "e1" and "terminal_id" not in value
