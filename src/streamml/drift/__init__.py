"""Drift detection: concept, data and prediction drift as alert episodes (no Kafka).

The worker keeps one :class:`DriftMonitor` per task and calls it per scored event
(``on_features`` or ``on_text``, ``on_prediction``) and per labelled example
(``on_loss``); each call returns the :class:`~streamml.records.DriftAlert` records to
publish.
"""

from __future__ import annotations

from streamml.drift.detectors import (
    CategoryDetector,
    Check,
    MeanIncreaseDetector,
    QuantileDetector,
)
from streamml.drift.episodes import EpisodeTracker, severity
from streamml.drift.monitor import (
    EMOTION_CONFIG,
    FRAUD_CONFIG,
    DriftMonitor,
    MonitorConfig,
    WindowSpec,
)
from streamml.drift.share import ShareIncreaseDetector
from streamml.drift.text import TextStatistics

__all__ = [
    "EMOTION_CONFIG",
    "FRAUD_CONFIG",
    "CategoryDetector",
    "Check",
    "DriftMonitor",
    "EpisodeTracker",
    "MeanIncreaseDetector",
    "MonitorConfig",
    "QuantileDetector",
    "ShareIncreaseDetector",
    "TextStatistics",
    "WindowSpec",
    "severity",
]
