"""One pass over fraud history up to a cut-off: the feature state a scorer would hold, and
the model a trainer would have learned, both as of the cut-off.

The pass is the worker's, in event time: each transaction updates the card's, the
terminal's and the session's state and is scored by the model as last snapshotted (a
scorer serves snapshots, not the trainer's live model); each label teaches the model the
features used at scoring, at its ``label_time``, and only if that is before the cut-off.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np

from streamml.bootstrap.learner import Learner, LocalLearner
from streamml.datasets import ReplayRecord, interleave_labels, record_time
from streamml.evaluate.metrics import average_precision, roc_auc
from streamml.features.session import is_payment
from streamml.features.store import FraudFeatureStore
from streamml.records import Label, Transaction

logger = logging.getLogger(__name__)

SCORED_SPAN = timedelta(days=14)
"""How far before the cut-off transactions are scored for the prequential figures.

Scoring costs as much as the features; the figures that say how good the model is at the
cut-off are the last weeks' (the first weeks' are those of an untrained model)."""


@dataclass(slots=True)
class FraudHistory:
    """What a pass over fraud history leaves: state, model and what it saw."""

    store: FraudFeatureStore
    model: Any
    until: datetime
    first: datetime | None = None
    last: datetime | None = None
    transactions: int = 0
    other_events: int = 0
    labels: int = 0
    learned: int = 0
    unmatched_labels: int = 0
    snapshots: int = 0
    session_customers: set[str] = field(default_factory=set)
    seconds: float = 0.0
    _scores: list[float] = field(default_factory=list)
    _truth: list[int] = field(default_factory=list)

    @property
    def rows(self) -> int:
        """Records read: transactions, other events and labels."""
        return self.transactions + self.other_events + self.labels

    def metrics(self) -> dict[str, float]:
        """Prequential AUC ROC and average precision of the scores served to the
        transactions of the scored span whose label was known by the cut-off."""
        truth = np.asarray(self._truth, dtype=np.int8)
        scores = np.asarray(self._scores, dtype=np.float64)
        known = truth >= 0
        found: dict[str, float] = {"examples": float(self.learned), "scored": float(known.sum())}
        if known.any() and 0 < truth[known].sum() < known.sum():
            found["roc_auc"] = roc_auc(truth[known], scores[known])
            found["average_precision"] = average_precision(truth[known], scores[known])
        return found


def learn_fraud_history(
    records: Iterable[ReplayRecord],
    until: datetime,
    model: Any,
    *,
    snapshot_every: int,
    scored_span: timedelta = SCORED_SPAN,
    learner: Callable[[Any], Learner] = LocalLearner,
    progress: Callable[[FraudHistory], None] | None = None,
    progress_seconds: float = 5.0,
) -> FraudHistory:
    """Feed ``records`` (event-time order, each label after its transaction) up to
    ``until``; labels are applied at their ``label_time`` and dropped from ``until`` on.

    Transactions of the last ``scored_span`` are scored by the model as a trainer
    snapshotting every ``snapshot_every`` examples would have had it served (see
    :meth:`FraudHistory.metrics`). ``learner`` says where the model learns
    (:class:`~streamml.bootstrap.learner.ProcessLearner`: beside the pass).

    Examples
    --------
    >>> from datetime import UTC
    >>> from river import linear_model
    >>> t0 = datetime(2018, 4, 1, tzinfo=UTC)
    >>> tx = [Transaction(str(i), t0 + timedelta(hours=i), "c", "t", 9.0) for i in range(3)]
    >>> labels = [Label(str(i), "fraud", "0", t0 + timedelta(hours=i + 1)) for i in range(3)]
    >>> stream = [r for pair in zip(tx, labels) for r in pair]
    >>> done = learn_fraud_history(stream, t0 + timedelta(hours=2, minutes=30),
    ...     linear_model.LogisticRegression(), snapshot_every=1)
    >>> done.transactions, done.learned, done.store.awaiting_labels
    (3, 2, 1)
    """
    history = FraudHistory(FraudFeatureStore(), model, until)
    run = _FraudPass(history, learner(model), snapshot_every, until - scored_span)
    began = last_report = time.monotonic()
    with _no_collections(), closing(run.learner):
        for record in interleave_labels(records):
            if record_time(record) >= until:
                break
            if isinstance(record, Transaction):
                run.transaction(record)
            elif isinstance(record, Label) and record.task == "fraud":
                run.label(record)
            if progress is not None and time.monotonic() - last_report >= progress_seconds:
                last_report = time.monotonic()
                history.seconds = last_report - began
                progress(history)
        history.model, history._scores = run.learner.finish()
    history.seconds = time.monotonic() - began
    return history


@contextmanager
def _no_collections() -> Iterator[None]:
    """The pass makes millions of objects and no reference cycles: without the cyclic
    collector's scans of them it runs about a fifth faster (measured on the handbook)."""
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.unfreeze()


class _FraudPass:
    """The pass's moving parts: features awaiting their label, the learner."""

    def __init__(
        self, history: FraudHistory, learner: Learner, snapshot_every: int, score_from: datetime
    ) -> None:
        self.history = history
        self.learner = learner
        self.snapshot_every = snapshot_every
        self.score_from = score_from
        self.pending: dict[str, tuple[int, dict[str, float]]] = {}
        self.since_snapshot = 0

    def transaction(self, tx: Transaction) -> None:
        history = self.history
        x = history.store.on_transaction(tx)
        if tx.session_id is not None:
            history.session_customers.add(tx.customer_id)
        history.first = history.first or tx.event_time
        history.last = tx.event_time
        if not is_payment(tx):
            history.other_events += 1
            return
        history.transactions += 1
        index = -1
        if tx.event_time >= self.score_from:
            index = len(history._truth)
            self.learner.score(x)
            history._truth.append(-1)
        self.pending[tx.event_id] = (index, x)

    def label(self, label: Label) -> None:
        history = self.history
        history.labels += 1
        history.store.on_label(label)
        seen = self.pending.pop(label.event_id, None)
        if seen is None:
            history.unmatched_labels += 1
            return
        index, x = seen
        fraud = label.label == "1"
        self.learner.learn(x, fraud)
        if index >= 0:
            history._truth[index] = int(fraud)
        history.learned += 1
        self.since_snapshot += 1
        if self.since_snapshot >= self.snapshot_every:
            self.since_snapshot = 0
            history.snapshots += 1
            self.learner.freeze()
