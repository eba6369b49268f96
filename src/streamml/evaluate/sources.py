"""What an evaluation replays: a source of records, its feature stage and its report.

A new workload (a generator, another data set) is one more class with the three methods
of :class:`EvaluationSource`; the replay loop and the command line do not change.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import pandas as pd

from streamml.datasets._common import ReplayRecord
from streamml.datasets.clickstream import ClickstreamConfig, clickstream_records
from streamml.datasets.fraud_handbook import DEFAULT_LABEL_DELAY, read_fraud_handbook
from streamml.errors import ConfigurationError
from streamml.evaluate.fraud import CarriedFeatures, FeatureStage, ReplayLog, replay
from streamml.evaluate.protocol import HandbookSplit
from streamml.evaluate.report import handbook_report, prequential_report
from streamml.records import Label, Transaction
from streamml.snapshots import encode_model

logger = logging.getLogger(__name__)


class EvaluationSource(Protocol):
    """A replayable labelled stream, how to featurise it and what to report about it."""

    @property
    def name(self) -> str:
        """A short name for logs and the report."""
        ...

    def records(self) -> Iterator[ReplayRecord]:
        """Transactions in event-time order, each label after its transaction."""
        ...

    def feature_stage(self) -> FeatureStage:
        """A fresh feature stage for one replay."""
        ...

    def report(self, log: ReplayLog) -> dict[str, Any]:
        """The figures of a finished replay."""
        ...


def run_evaluation(source: EvaluationSource, model: Any) -> dict[str, Any]:
    """Replay ``source`` through its features and ``model``; return the source's report."""

    def progress(log: ReplayLog) -> None:
        logger.info(
            "%s: %d transactions scored, %d other events, %d labels",
            source.name,
            len(log),
            log.other_events,
            log.labels,
        )

    score_from = source.score_from if isinstance(source, HandbookSource) else None
    log = replay(
        source.records(), source.feature_stage(), model, on_progress=progress, score_from=score_from
    )
    report: dict[str, Any] = {"source": source.name, "model": _describe(model)}
    report.update(source.report(log))
    # What a trainer's snapshot of the final model weighs (compressed, before signing).
    report["model_snapshot_bytes"] = len(encode_model(model))
    return report


def _describe(model: Any) -> str:
    text = repr(model)
    return " ".join(text.split())[:2000]


@dataclass(frozen=True, slots=True)
class HandbookSource:
    """The handbook's raw file, through the online :class:`FraudFeatureStore`."""

    path: Path
    label_delay: timedelta = DEFAULT_LABEL_DELAY
    split: HandbookSplit = field(default_factory=HandbookSplit)
    end: datetime | None = None
    score_from: datetime | None = None
    """Score only from here on (then only the test week is reported)."""
    name: str = "fraud-handbook"

    def records(self) -> Iterator[ReplayRecord]:
        return read_fraud_handbook(self.path, end=self.end, label_delay=self.label_delay)

    def feature_stage(self) -> FeatureStage:
        from streamml.features.fraud import FraudFeatureStore

        return FraudFeatureStore()

    def report(self, log: ReplayLog) -> dict[str, Any]:
        result = handbook_report(log, self.split, test_week_only=self.score_from is not None)
        result["label_delay_seconds"] = self.label_delay.total_seconds()
        return result


WARM_UP = timedelta(days=30)
"""Generated streams: weekly figures start after the feature windows' first month."""


@dataclass(frozen=True, slots=True)
class GeneratedClickstream:
    """The clickstream generator's sessions through the same :class:`FraudFeatureStore`.

    Every event updates the features (session ones included); only payments are scored
    and labelled. The report is the handbook's: its test week is the stream's last
    complete week (with the handbook's exclusions), its weeks start after a month.

    >>> source = GeneratedClickstream(ClickstreamConfig(customers=10, days=50))
    >>> source.split.test_start, source.split.train_start
    (datetime.date(2024, 2, 13), datetime.date(2024, 1, 30))
    """

    config: ClickstreamConfig
    name: str = "clickstream"

    def __post_init__(self) -> None:
        if self.config.days is None or self.config.days < 21:
            raise ConfigurationError(
                "a clickstream evaluation needs at least 21 days "
                "(a training week, the label delay and a test week)"
            )

    @property
    def split(self) -> HandbookSplit:
        assert self.config.days is not None
        end = self.config.start.date() + timedelta(days=math.floor(self.config.days))
        return HandbookSplit.for_test_week(end - timedelta(days=7))

    def records(self) -> Iterator[ReplayRecord]:
        return clickstream_records(self.config)

    def feature_stage(self) -> FeatureStage:
        from streamml.features.fraud import FraudFeatureStore

        return FraudFeatureStore()

    def report(self, log: ReplayLog) -> dict[str, Any]:
        weekly_from = (self.config.start + WARM_UP).date()
        result = handbook_report(log, self.split, weekly_from)
        result["generator"] = {
            "customers": self.config.customers,
            "terminals": self.config.terminal_count,
            "days": self.config.days,
            "seed": self.config.seed,
        }
        result["label_delay_seconds"] = self.config.label_delay.total_seconds()
        return result


@dataclass(frozen=True, slots=True)
class CsvSource:
    """Any CSV of numeric columns: one row per event, features carried as ``x``.

    Rows are sorted by ``time_column`` (epoch seconds, or date-times read as UTC); the
    features are every other numeric column. Each label (0/1) arrives ``delay`` after
    its row.
    """

    path: Path
    label_column: str
    time_column: str
    delay: timedelta = timedelta(0)
    name: str = "csv"

    def records(self) -> Iterator[ReplayRecord]:
        frame = self._load()
        times = _event_times(frame[self.time_column], self.time_column)
        labels = _labels(frame[self.label_column], self.label_column)
        names = [
            c
            for c in frame.columns
            if c not in (self.label_column, self.time_column)
            and pd.api.types.is_numeric_dtype(frame[c])
        ]
        values = frame[names].to_numpy(dtype=np.float64)
        for row, (when, label) in enumerate(zip(times, labels, strict=True)):
            x = {
                n: v for n, v in zip(names, values[row].tolist(), strict=True) if not math.isnan(v)
            }
            event_id = str(row)
            yield Transaction(event_id, when, "csv", "csv", 0.0, features=x)
            yield Label(event_id, "fraud", label, when + self.delay, when)

    def feature_stage(self) -> FeatureStage:
        return CarriedFeatures()

    def report(self, log: ReplayLog) -> dict[str, Any]:
        result = prequential_report(log)
        result["label_delay_seconds"] = self.delay.total_seconds()
        return result

    def _load(self) -> pd.DataFrame:
        try:
            frame = pd.read_csv(self.path)
        except (OSError, ValueError) as error:
            raise ConfigurationError(f"{self.path}: cannot read CSV: {error}") from None
        missing = {self.label_column, self.time_column} - set(frame.columns)
        if missing:
            raise ConfigurationError(f"{self.path}: no column(s) {', '.join(sorted(missing))}")
        return frame.sort_values(self.time_column, kind="stable").reset_index(drop=True)


def _event_times(column: pd.Series[Any], name: str) -> list[datetime]:
    try:
        if pd.api.types.is_numeric_dtype(column):
            seconds = column.to_numpy(dtype=np.float64)
            return [datetime.fromtimestamp(s, UTC) for s in seconds.tolist()]
        parsed = pd.to_datetime(column, utc=True)
        return [t.to_pydatetime() for t in parsed]
    except (ValueError, OverflowError, TypeError) as error:
        raise ConfigurationError(
            f"time column {name!r} is not epoch seconds or dates: {error}"
        ) from None


def _labels(column: pd.Series[Any], name: str) -> list[str]:
    values = column.to_numpy()
    if not np.isin(values, (0, 1)).all():
        raise ConfigurationError(f"label column {name!r} must hold only 0 and 1 (or booleans)")
    return ["1" if v else "0" for v in values.tolist()]
