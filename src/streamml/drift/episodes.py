"""Drift episodes: one ``started`` alert when a detector's check first exceeds its
threshold, one ``ended`` alert once the data has settled, nothing in between.

When an episode starts the detector restarts, so its reference is rebuilt from
post-change values. While the episode is open, a check that still exceeds the threshold
(the data is still moving, e.g. a 30-day average catching up) restarts it again without
a new alert; the episode ends after ``calm`` consecutive checks within the threshold,
that is, once a whole fresh window agrees with the fresh reference. The same change is
therefore never reported twice.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from streamml.drift.detectors import Check, DetectorProtocol
from streamml.records import DriftAlert

CRITICAL_RATIO = 4.0
"""A started alert is critical at four times the threshold, a warning at twice."""
WARNING_RATIO = 2.0


def severity(statistic: float, threshold: float) -> str:
    """``info``, ``warning`` or ``critical`` by how far ``statistic`` is past ``threshold``.

    >>> severity(1.5, 1.0), severity(2.5, 1.0), severity(40.0, 10.0)
    ('info', 'warning', 'critical')
    """
    ratio = statistic / threshold if threshold > 0 else float("inf")
    if ratio >= CRITICAL_RATIO:
        return "critical"
    return "warning" if ratio >= WARNING_RATIO else "info"


@dataclass(frozen=True, slots=True)
class Position:
    """Where an event sits in its stream: event time and source offset (if known)."""

    time: datetime
    offset: int | None = None


class Clock:
    """The positions of a stream's last ``size`` events, to date a detector's window."""

    def __init__(self, size: int) -> None:
        self._positions: deque[Position] = deque(maxlen=max(size, 1))

    def tick(self, position: Position) -> None:
        self._positions.append(position)

    def span(self, events: int) -> tuple[Position, Position]:
        """The first and last positions of the last ``events`` events."""
        first = self._positions[-min(events, len(self._positions))]
        return first, self._positions[-1]


class EpisodeTracker:
    """One subject's detector and its episodes (alert ids ``task-kind-subject-N``)."""

    def __init__(self, task: str, kind: str, subject: str, detector: DetectorProtocol[Any]):
        self.task = task
        self.kind = kind
        self.subject = subject
        self.detector = detector
        self.episodes = 0
        self.open = False
        self._calm = 0

    @property
    def calm_needed(self) -> int:
        step = getattr(self.detector, "step", 1)
        return max(1, -(-self.detector.window // step))

    def observe(self, value: Any, clock: Clock, model_version: str) -> DriftAlert | None:
        """Feed one value (after ``clock`` ticked for its event); the alert it causes."""
        check = self.detector.update(value)
        if check is None:
            return None
        if check.exceeded:
            self._calm = 0
            self.detector.restart()
            if self.open:
                return None  # still moving: same episode, fresh reference
            self.open = True
            self.episodes += 1
            return self._alert("started", check, clock, model_version)
        if not self.open:
            return None
        self._calm += 1
        if self._calm < self.calm_needed:
            return None
        self.open = False
        self._calm = 0
        return self._alert("ended", check, clock, model_version)

    def _alert(self, state: str, check: Check, clock: Clock, model_version: str) -> DriftAlert:
        first, last = clock.span(check.window)
        now = datetime.now(UTC)  # to the millisecond, as the contract carries it
        return DriftAlert(
            alert_id=f"{self.task}-{self.kind}-{self.subject}-{self.episodes}",
            task=self.task,
            kind=self.kind,
            detector=self.detector.name,
            subject=self.subject,
            statistic=check.statistic,
            threshold=check.threshold,
            state=state,
            severity=severity(check.statistic, check.threshold) if state == "started" else "info",
            window_start_time=first.time,
            window_end_time=last.time,
            model_version=model_version,
            created_time=now.replace(microsecond=now.microsecond // 1000 * 1000),
            window_start_offset=first.offset,
            window_end_offset=last.offset,
        )
