"""Prequential replay with delayed labels: score each event, learn when its label arrives.

This is River's ``progressive_val_score(..., delay=...)`` in event time, written as the
worker runs it: the features of a transaction are computed (and the feature state
updated) when it arrives, the model scores them, and the very same features are learned
when the label arrives, at its ``label_time``. Labels never reach the model earlier, so
the scores are those the worker would have published.
"""

from __future__ import annotations

import math
import resource
import time
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from streamml.datasets import interleave_labels
from streamml.datasets._common import ReplayRecord
from streamml.features.session import is_payment
from streamml.records import Label, Transaction

FRAUD = "1"
UNLABELLED = -1


class FeatureStage(Protocol):
    """What turns transactions into features and learns from labels (a feature store)."""

    def on_transaction(self, tx: Transaction) -> dict[str, float]:
        """The features of ``tx``, updating the state."""
        ...

    def on_label(self, label: Label) -> None:
        """Apply a label at its ``label_time``."""
        ...


class CarriedFeatures:
    """A feature stage for events that carry their features (``Transaction.features``).

    Examples
    --------
    >>> from datetime import UTC, datetime
    >>> tx = Transaction("1", datetime(2024, 1, 1, tzinfo=UTC), "c", "t", 0.0, features={"a": 2.0})
    >>> CarriedFeatures().on_transaction(tx)
    {'a': 2.0}
    """

    def on_transaction(self, tx: Transaction) -> dict[str, float]:
        return dict(tx.features or {})

    def on_label(self, label: Label) -> None:
        return None


@dataclass(slots=True)
class ReplayLog:
    """One row per transaction, in arrival order: what was scored and what it turned out.

    ``fraud`` is 1, 0 or -1 (no label arrived); ``known_fraud`` says whether a fraud
    label of the same customer had arrived when the transaction was scored. Clickstream
    events other than payments update the features but are not rows (``other_events``
    counts them).
    """

    seconds: array[float] = field(default_factory=lambda: array("d"))
    customer: array[int] = field(default_factory=lambda: array("q"))
    score: array[float] = field(default_factory=lambda: array("d"))
    fraud: array[int] = field(default_factory=lambda: array("b"))
    known_fraud: array[int] = field(default_factory=lambda: array("b"))
    customer_ids: dict[str, int] = field(default_factory=dict)
    labels: int = 0
    other_events: int = 0
    unmatched_labels: int = 0
    learned: int = 0
    seconds_total: float = 0.0
    seconds_model: float = 0.0
    seconds_features: float = 0.0

    def __len__(self) -> int:
        return len(self.score)

    def arrays(self) -> dict[str, npt.NDArray[Any]]:
        """The columns as numpy arrays (``seconds``, ``customer``, ``score``, ...)."""
        return {
            "seconds": np.frombuffer(self.seconds, dtype=np.float64),
            "customer": np.frombuffer(self.customer, dtype=np.int64),
            "score": np.frombuffer(self.score, dtype=np.float64),
            "fraud": np.frombuffer(self.fraud, dtype=np.int8),
            "known_fraud": np.frombuffer(self.known_fraud, dtype=np.int8).astype(bool),
        }


def replay(
    records: Iterable[ReplayRecord],
    features: FeatureStage,
    model: Any,
    *,
    on_progress: Callable[[ReplayLog], None] | None = None,
    progress_every: int = 100_000,
    score_from: datetime | None = None,
) -> ReplayLog:
    """Run ``records`` (event-time order, labels anywhere after their event) through
    ``features`` and ``model``, labels moved to their ``label_time``.

    The model is any River binary classifier: ``predict_proba_one(x)[True]`` is the score,
    ``learn_one(x, y)`` gets the features that were scored and ``y = label == "1"``.
    Transactions before ``score_from`` are not scored (their score is NaN): the model
    learns the same, so the figures from ``score_from`` on are the same, sooner.

    Examples
    --------
    >>> from datetime import UTC, datetime, timedelta
    >>> from river import linear_model
    >>> t0 = datetime(2024, 1, 1, tzinfo=UTC)
    >>> def tx(i, a):
    ...     return Transaction(str(i), t0 + timedelta(seconds=i), "c", "t", a, features={"a": a})
    >>> def label(i, y):
    ...     return Label(str(i), "fraud", y, t0 + timedelta(seconds=i + 1.5))
    >>> stream = [tx(0, 1.0), label(0, "1"), tx(1, -1.0), label(1, "0"), tx(2, 1.0)]
    >>> log = replay(stream, CarriedFeatures(), linear_model.LogisticRegression())
    >>> len(log), log.learned, log.arrays()["fraud"].tolist()
    (3, 2, [1, 0, -1])
    """
    replayer = _Replayer(features, model, score_from)
    log = replayer.log
    started = time.perf_counter()
    for record in interleave_labels(records):
        if isinstance(record, Transaction):
            replayer.score(record)
            seen = len(log) + log.other_events
            if on_progress is not None and seen % progress_every == 0:
                on_progress(log)
        elif isinstance(record, Label):
            replayer.learn(record)
    log.seconds_total = time.perf_counter() - started
    return log


class _Replayer:
    """The replay's state: features awaiting their label, customers known defrauded."""

    def __init__(self, features: FeatureStage, model: Any, score_from: datetime | None) -> None:
        self.features = features
        self.model = model
        self.score_from = score_from
        self.log = ReplayLog()
        self.pending: dict[str, tuple[int, dict[str, float]]] = {}
        self.fraud_customers: set[int] = set()

    def score(self, tx: Transaction) -> None:
        log, clock = self.log, time.perf_counter
        t0 = clock()
        x = self.features.on_transaction(tx)
        t1 = clock()
        log.seconds_features += t1 - t0
        if not is_payment(tx):  # a page view, a login...: features only, as in the worker
            log.other_events += 1
            return
        if self.score_from is None or tx.event_time >= self.score_from:
            score = self.model.predict_proba_one(x).get(True, 0.0)
        else:
            score = math.nan
        log.seconds_model += clock() - t1
        customer = log.customer_ids.setdefault(tx.customer_id, len(log.customer_ids))
        self.pending[tx.event_id] = (len(log), x)
        log.seconds.append(tx.event_time.timestamp())
        log.customer.append(customer)
        log.score.append(float(score))
        log.fraud.append(UNLABELLED)
        log.known_fraud.append(customer in self.fraud_customers)

    def learn(self, label: Label) -> None:
        log, clock = self.log, time.perf_counter
        t0 = clock()
        self.features.on_label(label)
        t1 = clock()
        log.seconds_features += t1 - t0
        log.labels += 1
        seen = self.pending.pop(label.event_id, None)
        if seen is None:
            log.unmatched_labels += 1
            return
        index, x = seen
        is_fraud = label.label == FRAUD
        self.model.learn_one(x, is_fraud)
        log.seconds_model += clock() - t1
        log.learned += 1
        log.fraud[index] = int(is_fraud)
        if is_fraud:
            self.fraud_customers.add(log.customer[index])


def peak_memory_mib() -> float:
    """The process's peak resident memory so far, in MiB (``getrusage``'s ``maxrss``)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
