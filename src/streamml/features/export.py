"""Replay a labelled stream through the online fraud features and write them as CSV.

What the worker would compute, event by event, for a date range of a data file: the
stream runs from the file's start (the windows need history) and rows are written only
for the range.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

from streamml.datasets import ReplayRecord
from streamml.features.fraud import FEATURE_NAMES
from streamml.features.store import FraudFeatureStore
from streamml.records import Label, Transaction

Progress = Callable[[datetime, int], None]
"""Told the event time reached and the number of transactions seen so far: at the first
transaction, every :data:`PROGRESS_EVERY` after it, and once at the end."""

PROGRESS_EVERY = 16_384


@dataclass(frozen=True, slots=True)
class ExportSummary:
    """What :func:`write_fraud_features` did."""

    transactions: int
    written: int
    seconds: float

    @property
    def rate(self) -> float:
        """Transactions streamed per second of wall time."""
        return self.transactions / self.seconds if self.seconds > 0 else 0.0


def stream_fraud_features(
    records: Iterable[ReplayRecord], store: FraudFeatureStore
) -> Iterator[tuple[Transaction, dict[str, float]]]:
    """Feed transactions and labels (in arrival order) to ``store``; yield each
    transaction with its features.

    Examples
    --------
    >>> from datetime import UTC
    >>> t0 = datetime(2018, 4, 1, tzinfo=UTC)
    >>> stream = [Transaction("a", t0, "c", "t", 1.0), Label("a", "fraud", "0", t0)]
    >>> [(tx.event_id, x["TX_AMOUNT"]) for tx, x in stream_fraud_features(stream,
    ...     FraudFeatureStore())]
    [('a', 1.0)]
    """
    on_transaction, on_label = store.on_transaction, store.on_label
    for record in records:
        if isinstance(record, Transaction):
            yield record, on_transaction(record)
        elif isinstance(record, Label):
            on_label(record)


def write_fraud_features(
    records: Iterable[ReplayRecord],
    out: TextIO,
    *,
    start: datetime,
    end: datetime,
    store: FraudFeatureStore | None = None,
    progress: Progress | None = None,
) -> ExportSummary:
    """Write ``TRANSACTION_ID`` and :data:`FEATURE_NAMES` for each transaction of
    ``[start, end)``; stop at the first transaction at or after ``end``.

    ``records`` come in arrival order (labels at their label time) from before ``start``
    so that the windows hold their history. Values are written exactly (``repr``).
    """
    store = store or FraudFeatureStore()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(("TRANSACTION_ID", *FEATURE_NAMES))
    began = time.perf_counter()
    seen = written = 0
    when = start
    for tx, x in stream_fraud_features(records, store):
        when = tx.event_time
        if when >= end:
            break
        seen += 1
        if when >= start:
            writer.writerow([tx.event_id, *[x[name] for name in FEATURE_NAMES]])
            written += 1
        if progress is not None and seen % PROGRESS_EVERY == 1:
            progress(when, seen)
    if progress is not None:
        progress(min(when, end), seen)
    return ExportSummary(seen, written, time.perf_counter() - began)
