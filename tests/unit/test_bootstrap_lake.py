"""A bootstrap reads history back from the lake the sink wrote: in time order, each row
once, bad rows counted and left out, nothing known after the cut-off."""

from __future__ import annotations

import io
import logging
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from streamml.bootstrap.lake import LakeHistory
from streamml.codec import load_schema
from streamml.contracts import Record
from streamml.errors import ConfigurationError
from streamml.lakefiles import (
    SOURCE_FIELDS,
    LakeFormat,
    arrow_schema,
    encode_batch,
    lake_row,
    lake_schema,
)
from streamml.records import Label, TextEvent, Transaction
from streamml.settings import Topics
from streamml.sink import Batch
from streamml.store import FileStore, open_store

T0 = datetime(2024, 3, 1, tzinfo=UTC)
UNTIL = T0 + timedelta(hours=10)
TOPICS = Topics.with_prefix("p-")


def at(hours: float) -> datetime:
    return T0 + timedelta(hours=hours)


def tx(event_id: str, hours: float) -> Transaction:
    return Transaction(event_id, at(hours), "c1", "t1", 12.5, features={"f": 1.0})


def label(
    event_id: str, hours: float, event_hours: float | None = None, task: str = "fraud"
) -> Label:
    event_time = None if event_hours is None else at(event_hours)
    return Label(event_id, task, "1" if task == "fraud" else "joy", at(hours), event_time)


def land(
    store: FileStore,
    topic: str,
    records: Sequence[tuple[int, Record]],
    partition: int,
    fmt: LakeFormat,
    *,
    produced: datetime = T0,
    damage: dict[int, dict[str, Any]] | None = None,
) -> str:
    """Write a batch as the sink does: (offset, record) pairs of one partition, produced
    (Kafka time) at ``produced``; ``damage`` overrides fields of the rows at some offsets
    (the writer does not validate: damaged rows land as they are)."""
    ms = int(produced.timestamp() * 1000)
    rows = [lake_row(record, partition, offset, ms) for offset, record in records]
    for row in rows:
        row.update((damage or {}).get(row["kafka_offset"], {}))
    key = Batch(topic, partition, records[0][0], ms).key(fmt)
    store.put(key, encode_batch(type(records[0][1]), rows, fmt))
    return key


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    lake = open_store(f"file://{tmp_path}/lake")
    assert isinstance(lake, FileStore)
    return lake


@pytest.fixture
def fraud_lake(store: FileStore) -> FileStore:
    t = TOPICS.transactions
    first = [(0, tx("e0", 1)), (1, tx("e1", 2)), (2, tx("blank", 3)), (3, tx("e3", 12))]
    land(store, t, first, 0, "parquet", damage={2: {"event_id": ""}})
    # A replay after a crash: offset 3 lands again, in a batch produced days later.
    land(
        store,
        t,
        [(3, tx("e3", 12)), (4, tx("e4", 0.5))],
        0,
        "parquet",
        produced=T0 + timedelta(days=4),
    )
    land(store, t, [(0, tx("e5", 1.5)), (1, tx("e1", 7))], 1, "avro")  # e1 again: duplicate
    # A file written by another tool, with a text amount.
    schema = arrow_schema(lake_schema(Transaction))
    odd = lake_row(tx("e6", 1), 2, 0, 0) | {"amount": "12,50", "features": None}
    fields = [f if f.name != "amount" else pa.field("amount", pa.string()) for f in schema]
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([odd], schema=pa.schema(fields)), out)
    store.put(f"topic={t}/dt=2024-03-01/hour=00/{t}-2-00000000000000000000.parquet", out.getvalue())
    store.put(f"topic={t}/dt=2024-03-01/hour=00/{t}-3-00000000000000000000.parquet", b"junk")
    labels = [
        (0, label("e0", 2, 1)),  # due at the instant e1 happens: comes before it
        (1, label("e1", 11, 2)),  # known only after the cut-off
        (2, label("e4", 0.2)),  # before its own transaction (found from the transactions)
        (3, label("e5", 4, 1.5)),
        (4, label("e0", 3, 1, task="emotion")),  # not a fraud label
    ]
    land(store, TOPICS.fraud_labels, labels, 0, "avro")
    return store


def test_fraud_history_is_in_record_time_order_with_bad_rows_counted(
    fraud_lake: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    bad: Counter[str] = Counter()
    with caplog.at_level(logging.INFO, logger="streamml.bootstrap.lake"):
        records = list(LakeHistory(fraud_lake, TOPICS).fraud(UNTIL, bad))
    assert [(type(r).__name__[0], r.event_id) for r in records] == [
        ("T", "e4"),
        ("T", "e0"),
        ("T", "e5"),
        ("L", "e0"),
        ("T", "e1"),
        ("L", "e5"),
    ]
    assert records[1] == tx("e0", 1)  # features and times come back as they went in
    assert records[3] == label("e0", 2, 1)
    assert bad == Counter(
        {
            "missing-event-id": 1,
            "duplicate-event-id": 1,
            "non-numeric-amount": 1,
            "unreadable-file": 1,
            "label-before-event": 1,
            "wrong-task": 1,
        }
    )
    assert "p-transactions-3-00000000000000000000.parquet" in caplog.text  # the unreadable one
    assert "1 landed twice" in caplog.text  # offset 3 of partition 0


def test_the_cut_off_is_exclusive_and_a_naive_one_is_utc(fraud_lake: FileStore) -> None:
    history = LakeHistory(fraud_lake, TOPICS)
    records = list(history.fraud(at(2).replace(tzinfo=None), Counter()))
    # e1 happens at the cut-off; e0's label is due then: neither is known before it.
    assert [r.event_id for r in records] == ["e4", "e0", "e5"]
    later = [(type(r).__name__[0], r.event_id) for r in history.fraud(at(24), Counter())]
    assert later[-3:] == [("L", "e5"), ("L", "e1"), ("T", "e3")]


def test_texts_and_their_labels(store: FileStore) -> None:
    texts = [
        (0, TextEvent("x1", at(1), "so happy", "app")),
        (1, TextEvent("x2", at(0.5), "fine", "app")),
        (2, TextEvent("x3", at(3), "scared", "app", label="fear")),
    ]
    land(store, TOPICS.texts, texts, 0, "avro", damage={1: {"text": "   "}})
    land(
        store,
        TOPICS.emotion_labels,
        [(0, label("x1", 5, 1, task="emotion")), (1, label("x3", 12, 3, task="emotion"))],
        0,
        "parquet",
    )
    bad: Counter[str] = Counter()
    records = list(LakeHistory(store, TOPICS).texts(UNTIL, bad))
    assert [(type(r).__name__[0], r.event_id) for r in records] == [
        ("T", "x1"),
        ("T", "x3"),
        ("L", "x1"),
    ]
    assert records[1] == texts[2][1]
    assert bad == Counter({"empty-field": 1})


def test_require_names_the_lake_and_each_missing_dataset(fraud_lake: FileStore) -> None:
    history = LakeHistory(fraud_lake, TOPICS)
    history.require(["transactions", "fraud-labels"])
    with pytest.raises(ConfigurationError) as raised:
        history.require(["transactions", "texts", "emotion-labels"])
    message = str(raised.value)
    assert fraud_lake.url in message and "\n" not in message
    assert "texts (topic=p-texts/)" in message and "emotion-labels" in message
    assert "transactions" not in message
    with pytest.raises(ValueError, match="nonsense"):
        history.require(["nonsense"])


def test_labels_landed_before_the_contract_gained_fields_still_read(store: FileStore) -> None:
    old = lake_schema(Label) | {
        "fields": [*load_schema("label.v1").parsed["fields"], *SOURCE_FIELDS]
    }
    row = lake_row(label("e0", 2, 1), 0, 0, 0)
    del row["customer_id"], row["terminal_id"]
    out = io.BytesIO()
    fastavro.writer(out, fastavro.parse_schema(old), [row])
    store.put(f"topic={TOPICS.fraud_labels}/dt=1970-01-01/hour=00/x-0-0.avro", out.getvalue())
    land(store, TOPICS.transactions, [(0, tx("e0", 1))], 0, "parquet")
    bad: Counter[str] = Counter()
    assert list(LakeHistory(store, TOPICS).fraud(UNTIL, bad)) == [tx("e0", 1), label("e0", 2, 1)]
    assert not bad
