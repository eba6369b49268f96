"""History from the project's own lake: the rows the lake sink landed, read back in time order.

The sink writes ``topic=T/dt=D/hour=H/T-PARTITION-FIRSTOFFSET.parquet|.avro`` (see
:mod:`streamml.sink`); a row is a contract's fields plus ``kafka_partition``,
``kafka_offset`` and ``kafka_timestamp``. ``dt`` and ``hour`` are the *Kafka* timestamp's
(for a replayed history, when it was produced), not the event time: every file is read.

A sink replaying after a crash may land a record twice, in batches that start at
different offsets. Files are read per partition in first-offset order, each holding
increasing offsets, so a row at or below its partition's highest offset read so far is
such a copy and is skipped. Rows that break the contract are counted in ``bad`` by reason
and left out; a file that cannot be parsed is counted once, as ``unreadable-file``.
"""

from __future__ import annotations

import heapq
import io
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import MISSING, dataclass, fields
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, TypeVar

import fastavro
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from streamml.contracts import validate
from streamml.datasets.timeline import record_time
from streamml.errors import ConfigurationError, ValidationError
from streamml.records import Label, TextEvent, Transaction
from streamml.settings import Topics
from streamml.store import ObjectStore

logger = logging.getLogger(__name__)

R = TypeVar("R", Transaction, TextEvent, Label)
E = TypeVar("E", Transaction, TextEvent)

LAKE_EXTENSIONS = (".parquet", ".avro")
PROGRESS_SECONDS = 5.0
TIME_FIELDS = frozenset({"event_time", "label_time"})
FRAUD_TASK = "fraud"
SHARED = frozenset(
    {"customer_id", "terminal_id", "channel", "source", "author", "label", "taxonomy", "task"}
)


@dataclass
class LakeHistory:
    """The inputs of both tasks as the lake holds them, up to a cut-off.

    ``fraud`` and ``texts`` keep events before ``until`` and labels known before it
    (``label_time < until``), in record-time order (:func:`record_time`; a label before an
    event due at the same instant), which :func:`interleave_labels` accepts as it is.
    One task's history is held in memory to be sorted (about 200 bytes a record).
    """

    store: ObjectStore
    topics: Topics

    def fraud(self, until: datetime, bad: Counter[str]) -> Iterator[Transaction | Label]:
        """The transactions of ``transactions`` and the labels of ``fraud-labels``.

        Parameters
        ----------
        until
            The cut-off (naive means UTC): events from it on, and labels whose
            ``label_time`` is not before it, are left out.
        bad
            Counts each row left out by reason (``missing-event-id``, ``unparseable-time``,
            ``duplicate-event-id``, ``label-before-event``, ``wrong-task``, a contract
            rule's kind...) and each file that cannot be parsed (``unreadable-file``).

        Yields
        ------
        Transaction | Label
            In record-time order; the lake is read when the first one is asked for.
        """
        topics = self.topics
        yield from self._history(
            Transaction, topics.transactions, topics.fraud_labels, fraud=True, until=until, bad=bad
        )

    def texts(self, until: datetime, bad: Counter[str]) -> Iterator[TextEvent | Label]:
        """Like :meth:`fraud`, for ``texts`` and ``emotion-labels`` (any task but fraud)."""
        topics = self.topics
        yield from self._history(
            TextEvent, topics.texts, topics.emotion_labels, fraud=False, until=until, bad=bad
        )

    def require(self, datasets: Iterable[str]) -> None:
        """Check the lake holds files of each dataset (a topic name without prefix).

        Raises
        ------
        ConfigurationError
            Naming the lake and every dataset without a file.
        ValueError
            For a name that is no topic of :class:`Topics`.
        """
        missing = []
        for name in datasets:
            topic = getattr(self.topics, name.replace("-", "_"), None)
            if not isinstance(topic, str):
                raise ValueError(f"{name!r} is not a topic the lake can hold")
            if not lake_keys(self.store, topic):
                missing.append(f"{name} (topic={topic}/)")
        if missing:
            raise ConfigurationError(
                f"the lake at {self.store.url} has no files for {', '.join(missing)}; "
                "a worker with a lake_url lands them there"
            )

    def _history(
        self,
        cls: type[E],
        event_topic: str,
        label_topic: str,
        *,
        fraud: bool,
        until: datetime,
        bad: Counter[str],
    ) -> Iterator[E | Label]:
        until = until if until.tzinfo else until.replace(tzinfo=UTC)
        seen: dict[str, datetime] = {}  # every event's time, also those after the cut-off
        events: list[E] = []
        for event in self._read(cls, event_topic, bad):
            if event.event_id in seen:
                bad["duplicate-event-id"] += 1
                continue
            seen[event.event_id] = event.event_time
            if event.event_time < until:
                events.append(event)
        labels: list[Label] = []
        for label in self._read(Label, label_topic, bad):
            if (label.task == FRAUD_TASK) != fraud:
                bad["wrong-task"] += 1
            elif label.label_time >= until:
                continue  # not yet known at the cut-off
            elif any(
                label.label_time < t
                for t in (label.event_time, seen.get(label.event_id))
                if t is not None
            ):
                bad["label-before-event"] += 1
            else:
                labels.append(label)
        del seen
        events.sort(key=attrgetter("event_time"))
        labels.sort(key=attrgetter("label_time"))
        logger.info("lake history: %d events, %d labels before %s", len(events), len(labels), until)
        ordered: list[Iterable[E | Label]] = [labels, events]
        yield from heapq.merge(*ordered, key=record_time)

    def _read(self, cls: type[R], topic: str, bad: Counter[str]) -> Iterator[R]:
        """The valid, first-landed rows of ``topic`` as ``cls`` records, in file order."""
        names: list[str] = [f.name for f in fields(cls)]
        required = {f.name for f in fields(cls) if f.default is MISSING}
        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        keys = lake_keys(self.store, topic)
        highest: dict[int, int] = {}
        strings: dict[str, str] = {}
        rows = copies = 0
        reported = time.monotonic()
        for done, key in enumerate(keys, 1):
            data = self.store.get(key)
            if data is None:
                bad["vanished-file"] += 1
                logger.warning("lake history: %s vanished while being read", key)
                continue
            try:
                columns = read_columns(data, key, [*names, "kafka_partition", "kafka_offset"])
                for i, name in enumerate(names):
                    if name in SHARED:  # few distinct values: one string object each
                        columns[i] = [
                            strings.setdefault(v, v) if isinstance(v, str) else v
                            for v in columns[i]
                        ]
            except Exception as error:  # pyarrow and fastavro raise many types
                bad["unreadable-file"] += 1
                logger.warning("lake history: cannot read %s: %s", key, error)
                continue
            partitions, offsets = columns[-2:]
            for row, partition, offset in zip(
                zip(*columns[:-2], strict=True), partitions, offsets, strict=True
            ):
                rows += 1
                if isinstance(partition, int) and isinstance(offset, int):
                    if offset <= highest.get(partition, -1):
                        copies += 1
                        continue
                    highest[partition] = offset
                made = build(cls, names, required, defaults, row)
                if isinstance(made, str):
                    bad[made] += 1
                else:
                    yield made
            if time.monotonic() - reported >= PROGRESS_SECONDS:
                reported = time.monotonic()
                logger.info(
                    "lake history: %s: %d of %d files, %d rows", topic, done, len(keys), rows
                )
        n = len(keys)
        logger.info("lake history: %s: %d rows, %d files, %d landed twice", topic, rows, n, copies)


def lake_keys(store: ObjectStore, topic: str) -> list[str]:
    """The lake files of ``topic``, per partition in first-offset order (from the names
    ``T-PARTITION-FIRSTOFFSET.EXT``; others come last)."""

    def order(key: str) -> tuple[int, int, int, str]:
        parts = key.rsplit("/", 1)[-1].rsplit(".", 1)[0].rsplit("-", 2)
        try:
            return 0, int(parts[1]), int(parts[2]), key
        except (IndexError, ValueError):
            return 1, 0, 0, key

    return sorted(
        (k for k in store.list(f"topic={topic}/") if k.endswith(LAKE_EXTENSIONS)), key=order
    )


def read_columns(data: bytes, key: str, names: Sequence[str]) -> list[list[Any]]:
    """Columns ``names`` of one lake file (Parquet or Avro by ``key``); absent ones are
    nulls. Parquet maps read as lists of pairs."""
    if key.endswith(".parquet"):
        table = pq.read_table(io.BytesIO(data))
        return [
            _pylist(table.column(n)) if n in table.column_names else [None] * table.num_rows
            for n in names
        ]
    rows: list[Any] = list(fastavro.reader(io.BytesIO(data)))
    return [[row.get(n) for row in rows] for n in names]


def _pylist(column: pa.ChunkedArray) -> list[Any]:
    """A column's values; times as epoch milliseconds (much faster than pyarrow's datetimes)."""
    if pa.types.is_timestamp(column.type):
        ms = pc.cast(column, pa.timestamp("ms", column.type.tz), safe=False)
        return ms.cast(pa.int64()).to_pylist()  # type: ignore[no-any-return]
    return column.to_pylist()  # type: ignore[no-any-return]


def build(
    cls: type[R],
    names: Sequence[str],
    required: set[str],
    defaults: dict[str, Any],
    row: Sequence[Any],
) -> R | str:
    """The record of one row (values in ``cls``'s field order), or why it is bad."""
    values = list(row)
    try:
        for i, name in enumerate(names):
            value = values[i]
            if value is None or (value == "" and name in required):
                if name in required:
                    raise ValidationError(f"missing-{name.replace('_', '-')}", name)
                values[i] = defaults[name]
            elif name in TIME_FIELDS:
                values[i] = as_time(value)
                if values[i] is None:
                    raise ValidationError("unparseable-time", name)
            elif name == "amount":
                if not isinstance(value, int | float) or isinstance(value, bool):
                    raise ValidationError("non-numeric-amount", name)
                values[i] = float(value)
            elif name == "features" and isinstance(value, list):  # a Parquet map
                values[i] = dict(value)
        record = cls(*values)
        validate(record)
    except ValidationError as error:
        return error.kind
    except (TypeError, ValueError, OverflowError):  # values no contract check expects
        return "invalid-value"
    return record


def as_time(value: Any) -> datetime | None:
    """A UTC datetime from a datetime (naive means UTC), epoch milliseconds or ISO 8601."""
    try:
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            return datetime.fromtimestamp(value / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value if value.tzinfo is UTC else value.astimezone(UTC)
