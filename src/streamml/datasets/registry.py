"""Data sources by name: ``fraud``, ``emotion6``, ``crowdflower``; generators ``synthetic``
and ``clickstream``."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from streamml.datasets import crowdflower, emotion6, fraud_handbook
from streamml.datasets._common import (
    DEFAULT_TEXT_INTERVAL,
    DEFAULT_TEXT_START,
    ReplayRecord,
    reading,
    require_file,
    synthetic_times,
)
from streamml.datasets.clickstream import ClickstreamConfig, generate_clickstream
from streamml.datasets.synthetic import SyntheticConfig, generate_synthetic
from streamml.datasets.timeline import record_time
from streamml.errors import ConfigurationError
from streamml.records import Label
from streamml.settings import Settings


@dataclass(frozen=True, slots=True)
class SourceOptions:
    """What to read from a source.

    ``start`` is inclusive and ``end`` exclusive. Text files carry no times: their events
    get synthetic times one second apart from ``start`` (default 2024-01-01 UTC).
    ``limit`` counts events (transactions or texts); each fraud label comes on top.
    ``split`` is the emotion6 split: ``train``, ``val``, ``test`` or ``all`` (in that
    order, times continuing). The generators (``synthetic``, ``clickstream``) never end
    without ``limit`` or ``end``; ``customers`` sets their population (default theirs:
    2,000 and 1,000), and the other sources ignore it.
    """

    split: str = "train"
    start: datetime | None = None
    end: datetime | None = None
    limit: int | None = None
    label_delay: timedelta = fraud_handbook.DEFAULT_LABEL_DELAY
    seed: int = 0
    customers: int | None = None
    earlier_labels: bool = False
    """Fraud: also the labels of transactions before ``start`` that are due from
    ``start`` on: the live continuation of history bootstrapped up to ``start``."""


class DataSource(Protocol):
    """A named, replayable stream of records in event-time order."""

    @property
    def name(self) -> str:
        """The source's registry name."""
        ...

    def records(self) -> Iterator[ReplayRecord]:
        """The records, each fraud label right after its transaction."""
        ...

    def total(self) -> int | None:
        """How many records :meth:`records` yields, when cheap to know (else ``None``)."""
        ...


@dataclass(frozen=True, slots=True)
class FraudSource:
    path: Path
    options: SourceOptions
    name: str = "fraud"

    def records(self) -> Iterator[ReplayRecord]:
        opts = self.options
        with reading(self.path):
            if opts.earlier_labels and opts.start is not None:
                earlier = fraud_handbook.read_fraud_handbook(
                    self.path,
                    start=opts.start - opts.label_delay,
                    end=opts.start,
                    label_delay=opts.label_delay,
                )
                yield from (
                    r for r in earlier if isinstance(r, Label) and r.label_time >= opts.start
                )
            yield from fraud_handbook.read_fraud_handbook(
                self.path,
                start=opts.start,
                end=opts.end,
                limit=opts.limit,
                label_delay=opts.label_delay,
            )

    def total(self) -> int | None:
        return None if self.options.limit is None else 2 * self.options.limit


@dataclass(frozen=True, slots=True)
class Emotion6Source:
    paths: dict[str, Path]
    options: SourceOptions
    name: str = "emotion6"

    def records(self) -> Iterator[ReplayRecord]:
        return _window(self._all(), self.options)

    def _all(self) -> Iterator[ReplayRecord]:
        clock = synthetic_times(self.options.start or DEFAULT_TEXT_START, DEFAULT_TEXT_INTERVAL)
        for split, path in self.paths.items():
            with reading(path):
                yield from emotion6.read_emotion6(path, split, times=clock)

    def total(self) -> int | None:
        count = 0
        for path in self.paths.values():
            with reading(path), path.open(encoding="utf-8") as handle:
                count += sum(1 for line in handle if line.strip())
        return _cap(count, self.options)


@dataclass(frozen=True, slots=True)
class CrowdflowerSource:
    path: Path
    options: SourceOptions
    name: str = "crowdflower"

    def records(self) -> Iterator[ReplayRecord]:
        return _window(self._all(), self.options)

    def _all(self) -> Iterator[ReplayRecord]:
        clock = synthetic_times(self.options.start or DEFAULT_TEXT_START, DEFAULT_TEXT_INTERVAL)
        with reading(self.path):
            yield from crowdflower.read_crowdflower(self.path, times=clock)

    def total(self) -> int | None:
        with reading(self.path), self.path.open(encoding="utf-8") as handle:
            rows = sum(1 for _ in handle) - 1  # the text has no line breaks; a hint only
        return _cap(rows, self.options)


@dataclass(frozen=True, slots=True)
class SyntheticSource:
    config: SyntheticConfig
    options: SourceOptions
    name: str = "synthetic"

    def records(self) -> Iterator[ReplayRecord]:
        opts = self.options
        yield from generate_synthetic(self.config, limit=opts.limit, end=opts.end)

    def total(self) -> int | None:
        return None if self.options.limit is None else 2 * self.options.limit


@dataclass(frozen=True, slots=True)
class ClickstreamSource:
    config: ClickstreamConfig
    options: SourceOptions
    name: str = "clickstream"

    def records(self) -> Iterator[ReplayRecord]:
        opts = self.options
        yield from generate_clickstream(self.config, limit=opts.limit, end=opts.end)

    def total(self) -> int | None:
        return None  # only payments have labels: their number is not known beforehand


def _cap(texts: int, options: SourceOptions) -> int:
    """Texts left after ``limit`` and ``end`` (texts are one synthetic second apart)."""
    if options.limit is not None:
        texts = min(texts, options.limit)
    if options.end is not None:
        span = options.end - (options.start or DEFAULT_TEXT_START)
        texts = min(texts, max(0, -(-span // DEFAULT_TEXT_INTERVAL)))
    return texts


def _window(texts: Iterator[ReplayRecord], options: SourceOptions) -> Iterator[ReplayRecord]:
    """Apply ``end`` and ``limit`` to a text source, whose loaders know neither."""
    if options.end is not None:
        end: datetime = options.end
        texts = itertools.takewhile(lambda r: record_time(r) < end, texts)
    return itertools.islice(texts, options.limit)


def _fraud(settings: Settings, options: SourceOptions) -> DataSource:
    return FraudSource(require_file(settings.data_dir, fraud_handbook.FILE_NAME), options)


def _emotion6(settings: Settings, options: SourceOptions) -> DataSource:
    splits = emotion6.SPLITS if options.split == "all" else (options.split,)
    if not set(splits) <= set(emotion6.SPLITS):
        raise ConfigurationError(
            f"unknown emotion6 split {options.split!r}; use train, val, test or all"
        )
    paths = {s: require_file(settings.data_dir, emotion6.file_name(s)) for s in splits}
    return Emotion6Source(paths, options)


def _crowdflower(settings: Settings, options: SourceOptions) -> DataSource:
    path = require_file(settings.data_dir, crowdflower.FILE_NAME)
    return CrowdflowerSource(path, options)


def _synthetic(settings: Settings, options: SourceOptions) -> DataSource:
    config = SyntheticConfig(seed=options.seed, label_delay=options.label_delay)
    if options.start is not None:
        config = replace(config, start=options.start)
    if options.customers is not None:
        # Keep each customer's habits: the default world has five sessions a customer a day.
        per_customer = config.sessions_per_day / config.customers
        config = replace(
            config,
            customers=options.customers,
            sessions_per_day=per_customer * options.customers,
        )
    return SyntheticSource(config, options)


def _clickstream(settings: Settings, options: SourceOptions) -> DataSource:
    config = ClickstreamConfig(seed=options.seed, label_delay=options.label_delay, days=None)
    if options.start is not None:
        config = replace(config, start=options.start)
    if options.customers is not None:
        config = replace(config, customers=options.customers)
    return ClickstreamSource(config, options)


_FACTORIES: dict[str, Callable[[Settings, SourceOptions], DataSource]] = {
    "fraud": _fraud,
    "emotion6": _emotion6,
    "crowdflower": _crowdflower,
    "synthetic": _synthetic,
    "clickstream": _clickstream,
}
SOURCE_NAMES = tuple(_FACTORIES)
GENERATOR_NAMES = ("synthetic", "clickstream")
"""The sources that simulate traffic instead of reading files (``produce --generator``)."""


def get_source(name: str, settings: Settings, options: SourceOptions | None = None) -> DataSource:
    """The source called ``name``, reading its files from ``settings.data_dir``.

    Raises :class:`~streamml.errors.ConfigurationError` for an unknown name or a missing
    file (naming the file and ``STREAMML_DATA_DIR``).

    >>> source = get_source("synthetic", Settings(), SourceOptions(limit=3, seed=5))
    >>> source.name, source.total(), len(list(source.records()))
    ('synthetic', 6, 6)
    """
    factory = _FACTORIES.get(name)
    if factory is None:
        raise ConfigurationError(f"unknown source {name!r}; choose one of {', '.join(_FACTORIES)}")
    return factory(settings, options or SourceOptions())


__all__ = ["GENERATOR_NAMES", "SOURCE_NAMES", "DataSource", "SourceOptions", "get_source"]
