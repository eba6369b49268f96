"""History from files: a table of transactions (CSV or Parquet, columns named by options)
read leniently, and the labelled texts of the emotion data sets.

A live replay must be exact, so :mod:`streamml.datasets` stops at the first bad row; a
bootstrap reads months of exported history, where a few bad rows are a fact of life: each
is counted by reason and left out, never used and never silent.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from streamml.datasets.fraud_handbook import DEFAULT_LABEL_DELAY
from streamml.errors import ConfigurationError
from streamml.records import Label, Transaction

logger = logging.getLogger(__name__)

FRAUD_TASK = "fraud"


@dataclass(frozen=True, slots=True)
class FraudColumns:
    """Which columns of a table hold what; the defaults are the handbook file's.

    Without ``label_time``, a label is known ``label_delay`` after its transaction (the
    handbook's protocol); without ``label``, the table holds transactions only.
    """

    event_id: str = "TRANSACTION_ID"
    time: str = "TX_DATETIME"
    customer: str = "CUSTOMER_ID"
    terminal: str = "TERMINAL_ID"
    amount: str = "TX_AMOUNT"
    label: str | None = "TX_FRAUD"
    label_time: str | None = None
    label_delay: timedelta = DEFAULT_LABEL_DELAY

    def required(self) -> list[str]:
        names = [self.event_id, self.time, self.customer, self.terminal, self.amount]
        return names + [c for c in (self.label, self.label_time) if c is not None]


@dataclass(frozen=True, slots=True)
class TableSpan:
    """What a table held: its valid rows' first and last event time."""

    first: datetime
    last: datetime
    rows: int


def load_table(path: Path, columns: FraudColumns) -> pd.DataFrame:
    """The table's needed columns as strings (``*.parquet``, else CSV, gzipped or not)."""
    try:
        if path.suffix == ".parquet":
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except FileNotFoundError:
        raise ConfigurationError(f"{path}: no such file") from None
    except (OSError, ValueError, EOFError) as error:
        raise ConfigurationError(f"{path}: cannot read the table: {error}") from None
    missing = [c for c in columns.required() if c not in frame.columns]
    if missing:
        found = ", ".join(map(str, frame.columns[:12]))
        raise ConfigurationError(
            f"{path}: no column(s) {', '.join(missing)} (it has {found}); "
            "name them with the column options"
        )
    return frame[columns.required()]


def fraud_table_records(
    frame: pd.DataFrame, columns: FraudColumns, until: datetime, bad: Counter[str]
) -> tuple[Iterator[Transaction | Label], TableSpan]:
    """Valid transactions before ``until`` in event-time order, each followed by its
    label (when the table has one); bad rows are counted in ``bad`` by reason.

    Examples
    --------
    >>> from datetime import UTC
    >>> frame = pd.DataFrame({"TRANSACTION_ID": ["1", "2", "", "4"],
    ...     "TX_DATETIME": ["2018-04-01 00:00:05", "2018-04-01 00:00:01", "2018-04-01", "?"],
    ...     "CUSTOMER_ID": ["c", "c", "c", "c"], "TERMINAL_ID": ["t", "t", "t", "t"],
    ...     "TX_AMOUNT": ["1.5", "x", "3", "4"], "TX_FRAUD": ["1", "0", "0", "0"]})
    >>> bad = Counter()
    >>> records, span = fraud_table_records(frame, FraudColumns(), datetime(2019, 1, 1,
    ...     tzinfo=UTC), bad)
    >>> [(type(r).__name__, r.event_id) for r in records]
    [('Transaction', '1'), ('Label', '1')]
    >>> sorted(bad.items())
    [('missing-id', 1), ('non-numeric-amount', 1), ('unparseable-time', 1)]
    """
    c = columns
    times = _times(frame[c.time])
    amounts = pd.to_numeric(frame[c.amount], errors="coerce").to_numpy(dtype=np.float64)
    valid = _count_bad(frame, c, times, amounts, bad)
    kept = frame[valid].assign(_time=times[valid], _amount=amounts[valid])
    kept = kept.sort_values("_time", kind="stable")
    if kept.empty:
        raise ConfigurationError("no valid transaction in the history")
    span = TableSpan(
        kept["_time"].iloc[0].to_pydatetime(), kept["_time"].iloc[-1].to_pydatetime(), len(kept)
    )
    kept = kept[kept["_time"] < pd.Timestamp(until)]
    return _records(kept, c, bad), span


def _times(column: pd.Series[Any]) -> pd.Series[Any]:
    numeric = pd.to_numeric(column, errors="coerce")
    if numeric.notna().all() and len(column):
        return pd.to_datetime(numeric, unit="s", utc=True, errors="coerce")
    return pd.to_datetime(column, utc=True, errors="coerce", format="ISO8601")


def _count_bad(
    frame: pd.DataFrame,
    c: FraudColumns,
    times: pd.Series[Any],
    amounts: np.ndarray[Any, Any],
    bad: Counter[str],
) -> np.ndarray[Any, Any]:
    """A mask of the usable rows; each other row counted once, by its first fault."""
    checks: list[tuple[str, np.ndarray[Any, Any]]] = [
        ("missing-id", _blank(frame[c.event_id]) | _blank(frame[c.customer])),
        ("missing-id", _blank(frame[c.terminal])),
        ("unparseable-time", times.isna().to_numpy()),
        ("non-numeric-amount", ~np.isfinite(amounts)),
        ("negative-amount", amounts < 0),
    ]
    if c.label is not None:
        label = frame[c.label].astype(str).str.strip().str.lower()
        known = label.isin(["0", "1", "true", "false", "0.0", "1.0"])
        checks.append(("bad-label", ~(known | (label == "")).to_numpy()))
    checks.append(("duplicate-event-id", frame[c.event_id].duplicated().to_numpy()))
    valid = np.ones(len(frame), dtype=bool)
    for reason, fault in checks:
        hit = valid & fault
        if hit.any():
            bad[reason] += int(hit.sum())
            valid &= ~fault
    return valid


def _blank(column: pd.Series[Any]) -> np.ndarray[Any, Any]:
    return (column.isna() | (column.astype(str).str.strip() == "")).to_numpy()


def _records(
    kept: pd.DataFrame, c: FraudColumns, bad: Counter[str]
) -> Iterator[Transaction | Label]:
    ids = kept[c.event_id].astype(str).tolist()
    customers = kept[c.customer].astype(str).tolist()
    terminals = kept[c.terminal].astype(str).tolist()
    times = kept["_time"].dt.to_pydatetime().tolist()
    amounts = kept["_amount"].tolist()
    labels = _label_values(kept, c)
    label_times = _label_times(kept, c, times)
    for i, event_id in enumerate(ids):
        when = times[i]
        yield Transaction(event_id, when, customers[i], terminals[i], amounts[i], "card")
        value = labels[i]
        if value is None:
            continue
        known = label_times[i]
        if known is None:
            bad["unparseable-label-time"] += 1
        elif known < when:
            bad["label-before-event"] += 1
        else:
            yield Label(event_id, FRAUD_TASK, value, known, when, customers[i], terminals[i])


def _label_values(kept: pd.DataFrame, c: FraudColumns) -> list[str | None]:
    if c.label is None:
        return [None] * len(kept)
    text = kept[c.label].astype(str).str.strip().str.lower()
    mapped = text.map({"1": "1", "1.0": "1", "true": "1", "0": "0", "0.0": "0", "false": "0"})
    return [v if isinstance(v, str) else None for v in mapped.tolist()]


def _label_times(kept: pd.DataFrame, c: FraudColumns, times: list[datetime]) -> list[Any]:
    if c.label_time is None:
        return [t + c.label_delay for t in times]
    parsed = _times(kept[c.label_time])
    return [None if pd.isna(t) else t.to_pydatetime() for t in parsed.tolist()]
