"""Stateless features of one transaction.

Per-customer and per-terminal windows (the handbook's features) need state and arrive with
the fraud issue; these are the ones any event carries on its own.
"""

from __future__ import annotations

import math

from streamml.records import Transaction

SATURDAY = 5


def transaction_features(tx: Transaction) -> dict[str, float]:
    """Features of ``tx`` alone: amount, its log, calendar flags and carried numerics.

    Examples
    --------
    >>> from datetime import datetime, timezone
    >>> tx = Transaction("1", datetime(2018, 4, 7, 3, tzinfo=timezone.utc), "c", "t", 20.0)
    >>> f = transaction_features(tx)
    >>> f["TX_AMOUNT"], f["TX_DURING_WEEKEND"], f["TX_DURING_NIGHT"]
    (20.0, 1.0, 1.0)
    """
    when = tx.event_time
    x = {
        "TX_AMOUNT": tx.amount,
        "TX_LOG_AMOUNT": math.log1p(tx.amount),
        "TX_DURING_WEEKEND": float(when.weekday() >= SATURDAY),
        "TX_DURING_NIGHT": float(when.hour <= 6),
        "TX_HOUR": float(when.hour),
    }
    if tx.features:
        x.update({f"EVENT_{name}": value for name, value in tx.features.items()})
    return x
