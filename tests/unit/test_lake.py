"""Lake files, object names, batch rolling and the file store, without Kafka or S3."""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

import fastavro
import pyarrow.parquet as pq
import pytest

from streamml.errors import ConfigurationError
from streamml.lakefiles import encode_batch, lake_row, record_class
from streamml.records import DeadLetter, Prediction, Transaction
from streamml.settings import Settings, Topics
from streamml.sink import Batch, BatchLimits
from streamml.store import FileStore, S3Store, StoreError, open_store

WHEN = datetime(2024, 3, 1, 23, 59, 59, tzinfo=UTC)


def prediction(i: int) -> Prediction:
    return Prediction(
        f"e{i}", "emotion6", "emotion6-v3", WHEN, WHEN, None, "joy", {"joy": 0.75, "fear": 0.25}
    )


@pytest.mark.parametrize("fmt", ["avro", "parquet"])
def test_a_batch_file_holds_the_contract_fields_and_the_source(fmt: str) -> None:
    rows = [lake_row(prediction(i), 2, 100 + i, 1_709_337_599_000) for i in range(5)]
    data = encode_batch(Prediction, rows, fmt)  # type: ignore[arg-type]
    if fmt == "avro":
        back = list(fastavro.reader(io.BytesIO(data)))
    else:
        back = pq.read_table(io.BytesIO(data)).to_pylist()
        for row in back:
            row["probabilities"] = dict(row["probabilities"])
    assert [r["event_id"] for r in back] == [f"e{i}" for i in range(5)]
    assert back[0]["probabilities"] == {"joy": 0.75, "fear": 0.25}
    assert back[0]["event_time"] == WHEN and back[0]["score"] is None
    assert (back[4]["kafka_partition"], back[4]["kafka_offset"]) == (2, 104)
    # Written again after a crash, the same rows give the same object.
    assert encode_batch(Prediction, rows, fmt) == data  # type: ignore[arg-type]


def test_dead_letters_keep_their_raw_bytes_in_the_lake() -> None:
    letter = DeadLetter("texts", 0, 7, "decode-error", "not Avro", b"\x00\xff", WHEN, b"k")
    data = encode_batch(DeadLetter, [lake_row(letter, 0, 3, 0)], "parquet")
    (row,) = pq.read_table(io.BytesIO(data)).to_pylist()
    assert row["raw"] == b"\x00\xff" and row["error_kind"] == "decode-error"


def test_every_topic_the_sink_lands_has_a_contract() -> None:
    settings = Settings(topic_prefix="p-")
    names = settings.sink_topic_names()
    assert "p-transactions" in names and "p-dead-letters" in names and "p-drift-alerts" in names
    assert all(record_class(settings.topics, t) for t in names)
    chosen = Settings(topic_prefix="p-", sink_topics=("fraud-predictions",))
    assert chosen.sink_topic_names() == ["p-fraud-predictions"]
    with pytest.raises(KeyError, match="p-fraud-enriched"):
        record_class(Topics.with_prefix("p-"), "p-fraud-enriched")


def test_objects_are_named_by_topic_partition_first_offset_under_day_and_hour() -> None:
    batch = Batch("p-transactions", 2, 1234, int(WHEN.timestamp() * 1000))
    assert batch.key("parquet") == (
        "topic=p-transactions/dt=2024-03-01/hour=23/p-transactions-2-00000000000000001234.parquet"
    )


def test_a_batch_rolls_on_count_bytes_or_record_time_span() -> None:
    limits = BatchLimits(records=3, bytes=1000, span_ms=60_000, idle_seconds=5)
    batch = Batch("t", 0, 0, first_ms=0)
    batch.rows = [{}, {}]
    assert not batch.full(limits, last_ms=59_999)
    assert batch.full(limits, last_ms=60_000)
    batch.rows.append({})
    assert batch.full(limits, last_ms=0)
    batch.rows, batch.size = [{}], 1000
    assert batch.full(limits, last_ms=0)


def test_the_file_store_writes_atomically_and_stays_inside_its_root(tmp_path: Path) -> None:
    store = open_store(f"file://{tmp_path}/lake")
    assert isinstance(store, FileStore)
    store.put("topic=t/dt=2024-01-01/x.parquet", b"one")
    store.put("topic=t/dt=2024-01-01/x.parquet", b"two")
    assert store.get("topic=t/dt=2024-01-01/x.parquet") == b"two"
    assert store.get("missing") is None
    assert store.list("topic=t/") == ["topic=t/dt=2024-01-01/x.parquet"]
    assert not list((tmp_path / "lake").rglob(".tmp-*"))
    with pytest.raises(StoreError, match="outside the store"):
        store.put("../escape", b"x")


def test_store_urls() -> None:
    store = open_store("s3://bucket/some/prefix")
    assert isinstance(store, S3Store) and (store.bucket, store.prefix) == ("bucket", "some/prefix")
    with pytest.raises(ConfigurationError, match="unsupported store URL"):
        open_store("ftp://host/x")
    with pytest.raises(ConfigurationError, match="needs a bucket"):
        open_store("s3:///prefix")
    with pytest.raises(ConfigurationError, match="STREAMML_LAKE_URL"):
        Settings().lake()


def test_an_unreachable_s3_store_raises_a_store_error_naming_it() -> None:
    from streamml.store import S3Options

    store = open_store(
        "s3://bucket/p",
        S3Options("http://127.0.0.1:9", "us-east-1", "k", "s", timeout_seconds=0.5),
    )
    with pytest.raises(StoreError, match="s3://bucket/p: cannot write a/b"):
        store.put("a/b", b"x")


def test_transactions_round_trip_with_their_features(tmp_path: Path) -> None:
    tx = Transaction("t1", WHEN, "c", "m", 12.5, "web", "s", {"a": 1.0})
    data = encode_batch(Transaction, [lake_row(tx, 0, 0, 0)], "parquet")
    (row,) = pq.read_table(io.BytesIO(data)).to_pylist()
    assert row["features"] == [("a", 1.0)] and row["amount"] == 12.5
