"""Online fraud features in event time: the Fraud Detection Handbook's fourteen, and more.

Per-card state (:mod:`streamml.features.customer`) and per-terminal state
(:mod:`streamml.features.terminal`) are updated once per event, never by re-reading
history; :class:`FraudFeatureStore` (:mod:`streamml.features.store`) composes them in one
process. This module names the features and re-exports the API.
"""

from __future__ import annotations

import math

from streamml.features.customer import (
    CUSTOMER_EXTRA_FEATURES,
    HANDBOOK_CUSTOMER_FEATURES,
    NIGHT_LAST_HOUR,
    SATURDAY,
    CustomerState,
    customer_features,
    customer_known_fraud,
    mark_customer_fraud,
)
from streamml.features.store import FraudFeatureStore
from streamml.features.terminal import (
    HANDBOOK_TERMINAL_FEATURES,
    TERMINAL_EXTRA_FEATURES,
    TerminalState,
    record_terminal_fraud,
    terminal_features,
)
from streamml.records import Transaction

__all__ = [
    "EXTRA_FEATURES",
    "FEATURE_NAMES",
    "HANDBOOK_FEATURES",
    "CustomerState",
    "FraudFeatureStore",
    "TerminalState",
    "customer_features",
    "customer_known_fraud",
    "mark_customer_fraud",
    "record_terminal_fraud",
    "terminal_features",
    "transaction_features",
]

HANDBOOK_FEATURES: tuple[str, ...] = HANDBOOK_CUSTOMER_FEATURES + HANDBOOK_TERMINAL_FEATURES
"""The handbook's fourteen features, in its order (its models add ``TX_AMOUNT``)."""

EXTRA_FEATURES: tuple[str, ...] = CUSTOMER_EXTRA_FEATURES + TERMINAL_EXTRA_FEATURES
"""``TX_AMOUNT`` and streamml's own features, after the handbook's."""

FEATURE_NAMES: tuple[str, ...] = HANDBOOK_FEATURES + EXTRA_FEATURES
"""Every feature :meth:`FraudFeatureStore.on_transaction` returns, in a stable order
(``EVENT_<name>`` features carried by events come on top, in no fixed order)."""


def transaction_features(tx: Transaction) -> dict[str, float]:
    """Features of ``tx`` alone: amount, its log, calendar flags and carried numerics.

    Stateless; the online features are :class:`FraudFeatureStore`'s.

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
        "TX_DURING_NIGHT": float(when.hour <= NIGHT_LAST_HOUR),
        "TX_HOUR": float(when.hour),
    }
    if tx.features:
        x.update({f"EVENT_{name}": value for name, value in tx.features.items()})
    return x
