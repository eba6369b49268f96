"""The Fraud Detection Handbook's simulated card transactions, with their fraud labels.

The file is chronological, so a date range is read by skipping to its start and stopping
at its end; the rest of the file is never parsed.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from streamml.datasets._common import as_utc, bad_row
from streamml.records import Label, Transaction

FILE_NAME = "fraud_handbook_sim_raw_2018-04-01_2018-09-30.csv.gz"
COLUMNS = [
    "TRANSACTION_ID",
    "TX_DATETIME",
    "CUSTOMER_ID",
    "TERMINAL_ID",
    "TX_AMOUNT",
    "TX_TIME_SECONDS",
    "TX_TIME_DAYS",
    "TX_FRAUD",
    "TX_FRAUD_SCENARIO",
]
DEFAULT_LABEL_DELAY = timedelta(days=7)
_STAMP = "%Y-%m-%d %H:%M:%S"  # TX_DATETIME's format; sorts like the times it writes


def open_text(path: Path) -> TextIO:
    """Open a UTF-8 text file for the csv module, gunzipping ``*.gz`` on the fly."""
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
    return path.open(encoding="utf-8", newline="")


def read_fraud_handbook(
    path: Path,
    *,
    start: datetime | None = None,
    end: datetime | None = None,
    limit: int | None = None,
    label_delay: timedelta = DEFAULT_LABEL_DELAY,
) -> Iterator[Transaction | Label]:
    """Yield each transaction of ``[start, end)`` followed at once by its fraud label.

    The label's ``label_time`` is ``event_time + label_delay``; put labels at that time
    with :func:`streamml.datasets.timeline.interleave_labels`. ``limit`` counts
    transactions. A malformed row or a time going backwards raises
    :class:`~streamml.errors.ConfigurationError` naming the line: a replay of a benchmark
    must be exact, so nothing is skipped silently.
    """
    start_key = as_utc(start).strftime(_STAMP) if start is not None else ""
    end_key = as_utc(end).strftime(_STAMP) if end is not None else None
    with open_text(path) as handle:
        rows = csv.reader(handle)
        _check_header(path, next(rows, None))
        emitted = 0
        previous = ""
        for lineno, row in enumerate(rows, start=2):
            if limit is not None and emitted >= limit:
                return
            if len(row) != len(COLUMNS):
                raise bad_row(path, lineno, f"expected {len(COLUMNS)} columns, got {len(row)}")
            stamp = row[1]
            if stamp < previous:
                raise bad_row(path, lineno, f"TX_DATETIME {stamp!r} is before {previous!r}")
            previous = stamp
            if stamp < start_key:
                continue
            if end_key is not None and stamp >= end_key:
                return
            transaction = _transaction(path, lineno, row)
            yield transaction
            yield _label(path, lineno, row[7], transaction, label_delay)
            emitted += 1


def _check_header(path: Path, header: list[str] | None) -> None:
    if header != COLUMNS:
        raise bad_row(path, 1, f"expected header {','.join(COLUMNS)}, got {header}")


def _transaction(path: Path, lineno: int, row: list[str]) -> Transaction:
    try:
        event_time = datetime.fromisoformat(row[1]).replace(tzinfo=UTC)
        amount = float(row[4])
    except ValueError as error:
        raise bad_row(path, lineno, str(error)) from None
    if not math.isfinite(amount) or amount < 0:
        raise bad_row(path, lineno, f"TX_AMOUNT {row[4]!r} is not a finite amount >= 0")
    if not (row[0] and row[2] and row[3]):
        raise bad_row(path, lineno, "empty TRANSACTION_ID, CUSTOMER_ID or TERMINAL_ID")
    return Transaction(row[0], event_time, row[2], row[3], amount, "card")


def _label(
    path: Path, lineno: int, fraud: str, transaction: Transaction, delay: timedelta
) -> Label:
    if fraud not in ("0", "1"):
        raise bad_row(path, lineno, f"TX_FRAUD {fraud!r} is neither 0 nor 1")
    when = transaction.event_time
    return Label(
        transaction.event_id,
        "fraud",
        fraud,
        when + delay,
        when,
        customer_id=transaction.customer_id,
        terminal_id=transaction.terminal_id,
    )
