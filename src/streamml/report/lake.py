"""The lake's topics as pandas frames, read from the object store's files."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import Any

import fastavro
import pandas as pd
import pyarrow.parquet as pq

from streamml.settings import Topics
from streamml.store import ObjectStore

logger = logging.getLogger(__name__)

TIME_COLUMNS = (
    "event_time",
    "processed_time",
    "label_time",
    "window_start_time",
    "window_end_time",
    "created_time",
    "failed_time",
)


@dataclass(frozen=True, slots=True)
class LakeTables:
    """One frame per topic the report reads (empty when the lake has none of it)."""

    fraud_predictions: pd.DataFrame
    emotion_predictions: pd.DataFrame
    labels: pd.DataFrame
    texts: pd.DataFrame
    transactions: pd.DataFrame
    drift_alerts: pd.DataFrame
    dead_letters: pd.DataFrame
    files: int


def read_file(data: bytes, key: str) -> pd.DataFrame:
    """One lake file (Avro container or Parquet, by its extension) as a frame."""
    if key.endswith(".parquet"):
        frame: pd.DataFrame = pq.read_table(io.BytesIO(data)).to_pandas()
        return frame
    rows: list[Any] = list(fastavro.reader(io.BytesIO(data)))
    return pd.DataFrame.from_records(rows)


def read_topic(store: ObjectStore, topic: str) -> tuple[pd.DataFrame, int]:
    """Every row the lake holds for ``topic``, with UTC times, and how many files."""
    keys = [k for k in store.list(f"topic={topic}/") if k.endswith((".parquet", ".avro"))]
    frames = []
    for key in keys:
        data = store.get(key)
        if data is not None:
            frames.append(read_file(data, key))
    if not frames:
        return pd.DataFrame(), 0
    frame = pd.concat(frames, ignore_index=True)
    for column in TIME_COLUMNS:
        if column in frame:
            frame[column] = pd.to_datetime(frame[column], utc=True)
    if "kafka_timestamp" in frame:
        frame["kafka_timestamp"] = pd.to_datetime(frame["kafka_timestamp"], utc=True, unit="ms")
    return frame, len(keys)


def read_lake(store: ObjectStore, topics: Topics) -> LakeTables:
    """The topics the report needs; labels of both tasks together."""
    read = {}
    files = 0
    names = {
        "fraud_predictions": topics.fraud_predictions,
        "emotion_predictions": topics.emotion_predictions,
        "fraud_labels": topics.fraud_labels,
        "emotion_labels": topics.emotion_labels,
        "texts": topics.texts,
        "transactions": topics.transactions,
        "drift_alerts": topics.drift_alerts,
        "dead_letters": topics.dead_letters,
    }
    for field_name, topic in names.items():
        read[field_name], n = read_topic(store, topic)
        files += n
        logger.info("report: %s: %d rows in %d files", topic, len(read[field_name]), n)
    labels = pd.concat([read.pop("fraud_labels"), read.pop("emotion_labels")], ignore_index=True)
    return LakeTables(labels=labels, files=files, **read)
