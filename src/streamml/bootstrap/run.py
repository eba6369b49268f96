"""``streamml bootstrap``: from history to a deployment ready to score as if it had run.

Reads history up to a cut-off, once, then leaves (1) every card's, terminal's and
session's feature state in the scorers' changelogs for the app id and (2) one model per
task as a signed snapshot on the snapshot topic and in the registry. Scorers restore the
state and serve the models from their first record; the trainer resumes from the
snapshots. Everything is checked before anything is written, and writing twice leaves
the same state (ADR 0018).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from streamml.bootstrap.cache import PassCache
from streamml.bootstrap.fraud import FraudHistory, learn_fraud_history
from streamml.bootstrap.history import FraudColumns, TableSpan, fraud_table_records, load_table
from streamml.bootstrap.learner import ProcessLearner
from streamml.bootstrap.publish import (
    fingerprinted,
    newest_versions,
    publish_snapshot,
    refuse_live_group,
    topic_partitions,
    write_state,
)
from streamml.bootstrap.texts import text_history, text_report, text_snapshots
from streamml.datasets import ReplayRecord
from streamml.datasets._common import require_file
from streamml.datasets.fraud_handbook import FILE_NAME
from streamml.errors import ConfigurationError
from streamml.models.fraud import fraud_model
from streamml.settings import Settings
from streamml.snapshots import Snapshot, take

logger = logging.getLogger(__name__)

FRAUD_SOURCES = ("handbook", "lake", "none")
STALE_AFTER = timedelta(days=1)
"""A cut-off this long after the history's last event is refused: the state would
claim nothing happened in between."""


@dataclass(frozen=True, slots=True)
class BootstrapPlan:
    """What to read and whether to write. ``fraud`` is ``handbook``, ``lake``, ``none`` or
    a table's path (CSV or Parquet, with ``columns``); ``texts`` names a data set,
    ``lake`` or ``none``."""

    until: datetime
    fraud: str = "handbook"
    texts: str = "emotion6"
    columns: FraudColumns = field(default_factory=FraudColumns)
    write: bool = True
    force: bool = False
    cache_dir: Path | None = None
    """Where the fraud pass over a file is kept, keyed by the file and the plan, so a
    second bootstrap of the same history (the demo's) skips it; ``None``: no cache."""

    def key(self) -> str:
        """What the fraud pass depends on in this plan."""
        return f"{self.until.isoformat()} {self.columns!r}"


def run_bootstrap(settings: Settings, plan: BootstrapPlan) -> dict[str, Any]:
    """Run ``plan``; returns the report (rows, bad rows by reason, state, snapshots)."""
    if plan.fraud == "none" and plan.texts == "none":
        raise ConfigurationError("nothing to bootstrap: both --fraud and --texts are none")
    if plan.write:
        topics = settings.topics
        topic_partitions(
            settings, [topics.transactions, topics.fraud_enriched, topics.model_snapshots]
        )
        if plan.fraud != "none" and not plan.force:
            refuse_live_group(settings)
    began = time.monotonic()
    report: dict[str, Any] = {"until": plan.until.isoformat(), "app_id": settings.app_id}
    snapshots: list[Snapshot] = []
    history: FraudHistory | None = None
    if plan.fraud != "none":
        history, bad = _fraud_history(settings, plan)
        report["fraud"] = _fraud_report(history, bad, plan)
        snapshots.append(_fraud_snapshot(history, plan, report["fraud"]))
    if plan.texts != "none":
        texts = text_history(settings, plan.texts, plan.until)
        report["texts"] = text_report(texts, plan.texts)
        snapshots.extend(text_snapshots(texts, plan.texts, plan.until))
    # Everything is read and learned before anything is written: a bad source stops the
    # command with the deployment untouched.
    if plan.write and history is not None:
        report["fraud"]["state"] = _write_fraud_state(settings, history)
    if plan.write:
        newest = newest_versions(settings, [s.task for s in snapshots])
        served = [publish_snapshot(settings, s, newest.get(s.task)) for s in snapshots]
        report["snapshots"] = {s.task: s.name for s in served}
    else:
        report["snapshots"] = {s.task: "(not published: --dry-run)" for s in snapshots}
    seconds = time.monotonic() - began
    rows = report.get("fraud", {}).get("rows", 0) + report.get("texts", {}).get("rows", 0)
    report["seconds"] = round(seconds, 2)
    report["rows_per_second"] = round(rows / seconds, 1) if seconds > 0 else None
    return report


# -- fraud ---------------------------------------------------------------------------------


def _fraud_history(settings: Settings, plan: BootstrapPlan) -> tuple[FraudHistory, Counter[str]]:
    bad: Counter[str] = Counter()
    span: TableSpan | None = None
    cache: PassCache | None = None
    records: Iterator[ReplayRecord]
    if plan.fraud == "lake":
        from streamml.bootstrap.lake import LakeHistory

        lake = LakeHistory(settings.lake(), settings.topics)
        lake.require(["transactions", "fraud-labels"])
        records = iter(lake.fraud(plan.until, bad))
    else:
        path = (
            require_file(settings.data_dir, FILE_NAME)
            if plan.fraud == "handbook"
            else Path(plan.fraud)
        )
        if not path.is_file():
            raise ConfigurationError(f"{path}: no such file (--fraud names a file or a source)")
        cache = PassCache.for_file(
            plan.cache_dir, path, plan.key(), settings.snapshot_every_examples
        )
        cached = cache.load() if cache is not None else None
        if cached is not None:
            return cached
        logger.info("bootstrap: reading %s", path)
        frame = load_table(path, plan.columns)
        table, span = fraud_table_records(frame, plan.columns, plan.until, bad)
        records = iter(table)
        _check_cutoff(plan.until, span.first, span.last, str(path))

    def progress(h: FraudHistory) -> None:
        logger.info(
            "bootstrap fraud: %d transactions and %d labels read, up to %s (%.0f rows/s)",
            h.transactions,
            h.labels,
            h.last.isoformat() if h.last else "-",
            h.rows / h.seconds if h.seconds else 0.0,
        )

    history = learn_fraud_history(
        records,
        plan.until,
        fraud_model(),
        snapshot_every=settings.snapshot_every_examples,
        learner=ProcessLearner,
        progress=progress,
    )
    if history.first is None or history.last is None:
        raise ConfigurationError(
            f"no transaction before the cut-off {plan.until.isoformat()} in {plan.fraud}"
        )
    if span is None:
        _check_cutoff(plan.until, history.first, history.last, settings.lake_url or "the lake")
    elif cache is not None:
        cache.save((history, bad))
    return history, bad


def _check_cutoff(until: datetime, first: datetime, last: datetime, where: str) -> None:
    if until <= first or until > last + STALE_AFTER:
        raise ConfigurationError(
            f"cut-off {until.isoformat()} is outside the history of {where} "
            f"({first.isoformat()} .. {last.isoformat()}); choose --until within it"
        )


def _fraud_report(history: FraudHistory, bad: Counter[str], plan: BootstrapPlan) -> dict[str, Any]:
    return {
        "source": plan.fraud,
        "first_event": history.first.isoformat() if history.first else None,
        "last_event": history.last.isoformat() if history.last else None,
        "rows": history.rows,
        "transactions": history.transactions,
        "other_events": history.other_events,
        "labels_known_by_cutoff": history.labels,
        "examples_learned": history.learned,
        "labels_without_transaction": history.unmatched_labels,
        "awaiting_labels_at_cutoff": history.store.awaiting_labels,
        "bad_rows": dict(sorted(bad.items())),
        "cards": len(history.store.customers),
        "terminals": len(history.store.terminals),
        "sessions": len(history.session_customers),
        "state_sha256": _state_digest(history),
        "metrics": {k: round(v, 4) for k, v in history.metrics().items()},
        "seconds": round(history.seconds, 2),
    }


def _fraud_snapshot(
    history: FraudHistory, plan: BootstrapPlan, summary: dict[str, Any]
) -> Snapshot:
    provenance = {
        "kind": "bootstrap",
        "source": plan.fraud,
        "until": plan.until.isoformat(),
        "first_event": summary["first_event"],
        "last_event": summary["last_event"],
        "rows": summary["rows"],
        "transactions": summary["transactions"],
        "labels": summary["labels_known_by_cutoff"],
        "bad_rows": sum(summary["bad_rows"].values()),
    }
    snapshot = take(
        "fraud", 0, history.learned, history.model, history.metrics(), provenance=provenance
    )
    return fingerprinted(snapshot, provenance)


def _state_rows(history: FraudHistory) -> dict[str, Iterable[tuple[str, bytes]]]:
    """Each table's keys and state bytes, as the scorers hold them."""
    store = history.store
    return {
        "fraud-customers": ((k, s.to_bytes()) for k, s in store.customers.items()),
        "fraud-sessions": (
            (k, store.sessions[k].to_bytes()) for k in sorted(history.session_customers)
        ),
        "fraud-terminals": ((k, s.to_bytes()) for k, s in store.terminals.items()),
    }


def _state_digest(history: FraudHistory) -> str:
    """A digest of the whole feature state: two bootstraps that agree have the same one."""
    digest = hashlib.sha256()
    for table, rows in sorted(_state_rows(history).items()):
        for key, value in sorted(rows):
            digest.update(b"\0".join((table.encode(), key.encode(), value)))
    return digest.hexdigest()


def _write_fraud_state(settings: Settings, history: FraudHistory) -> dict[str, Any]:
    written = write_state(settings, _state_rows(history))
    logger.info("bootstrap: feature state written: %s", written.records)
    return {"records": written.records, "partitions": written.partitions}
