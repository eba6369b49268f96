"""Replayable data sources: real data sets and a seeded synthetic generator.

Each source yields typed records in event-time order; fraud sources yield every label
right after its transaction, and :func:`interleave_labels` moves it to its label time.
"""

from __future__ import annotations

from streamml.datasets._common import ReplayRecord
from streamml.datasets.registry import SOURCE_NAMES, DataSource, SourceOptions, get_source
from streamml.datasets.timeline import interleave_labels, record_time

__all__ = [
    "SOURCE_NAMES",
    "DataSource",
    "ReplayRecord",
    "SourceOptions",
    "get_source",
    "interleave_labels",
    "record_time",
]
