"""The share detector: a rise of the error share among judged outcomes (a fraud
model's flagged transactions that prove genuine), by Fisher's exact test."""

from __future__ import annotations

import math
from collections import deque

from streamml.drift.detectors import Check
from streamml.drift.stats import fisher_log_tail


class ShareIncreaseDetector:
    """A rise of the share of errors among judged outcomes (a fraud model's flagged
    transactions that turn out genuine): the last ``window`` outcomes against the
    ``reference`` outcomes before them, by Fisher's one-sided exact test.

    Values are ``1.0`` (an error), ``0.0`` (a hit) or ``None``: an event with nothing to
    judge (a label the model had not flagged). ``alpha`` is spent per *event*, so the
    false-alarm budget counts events whatever share of them is judged: a check made
    ``n`` events after the previous one runs at level ``n * alpha``. Once the
    reference is full, every outcome is checked. The statistic is the window's error
    share; the threshold, the share the window would need to be significant.

    >>> d = ShareIncreaseDetector(reference=200, window=20, alpha=1e-6)
    >>> calm = [d.update(float(i % 10 == 0) if i % 3 == 0 else None) for i in range(3000)]
    >>> any(c.exceeded for c in calm if c)
    False
    >>> changed = [d.update(float(i % 4 != 0)) for i in range(20)]
    >>> last = changed[-1]
    >>> last.exceeded, last.statistic, last.threshold
    (True, 0.75, 0.575)
    """

    name = "fisher-share"
    step = 1

    def __init__(self, *, reference: int, window: int, alpha: float) -> None:
        if min(reference, window) < 1 or not 0 < alpha < 1:
            raise ValueError("reference and window must be >= 1 and alpha in (0, 1)")
        self.reference = reference
        self.window = window
        self.alpha = alpha
        self._events = 0
        self._thresholds: dict[tuple[int, int], int] = {}
        self.restart()

    def restart(self) -> None:
        self._old: deque[bool] = deque()
        self._recent: deque[tuple[bool, int]] = deque()  # (error, event number)
        self._old_errors = 0
        self._recent_errors = 0
        self._since_check = 0

    def update(self, value: float | None) -> Check | None:
        self._events += 1
        if len(self._old) >= self.reference:
            self._since_check += 1  # the budget accrues once checks can happen
        if value is None:
            return None
        error = value >= 0.5
        self._recent.append((error, self._events))
        self._recent_errors += error
        if len(self._recent) > self.window:
            moved, _ = self._recent.popleft()
            self._recent_errors -= moved
            self._old.append(moved)
            self._old_errors += moved
            if len(self._old) > self.reference:
                self._old_errors -= self._old.popleft()
        if len(self._old) < self.reference:
            return None
        alpha = min(0.5, self.alpha * max(self._since_check, 1))
        self._since_check = 0
        needed = self._needed(self._old_errors, alpha)
        span = self._events - self._recent[0][1] + 1
        threshold = (needed - 0.5) / self.window if needed <= self.window else 1.0
        return Check(self._recent_errors / self.window, threshold, span)

    def _needed(self, old_errors: int, alpha: float) -> int:
        """The fewest errors in the window that the test finds significant (``window +
        1`` if none would be), given the reference's errors. The level is rounded down to
        a tenth of a power of ten, so that the answers can be cached."""
        level = math.floor(math.log10(alpha) * 10) / 10
        key = (old_errors, int(level * 10))
        if key in self._thresholds:
            return self._thresholds[key]
        total, log_alpha = self.window + len(self._old), level * math.log(10)
        needed = -(-self.window * old_errors // len(self._old))
        while needed <= self.window and (
            fisher_log_tail(needed, self.window, needed + old_errors, total) > log_alpha
        ):
            needed += 1
        self._thresholds[key] = needed
        return needed
