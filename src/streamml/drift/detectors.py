"""Window detectors: each takes one value at a time and, every ``step`` values, says how
far its current window is from its reference (a :class:`Check`).

A detector knows nothing of alerts or episodes (:mod:`streamml.drift.episodes`); it can
be told to :meth:`restart`, dropping its reference and window so that both are rebuilt
from the values that follow. Every detector is plain data and pickles.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from streamml.drift.stats import bernstein_cut, chi2_homogeneity, chi2_threshold

V_contra = TypeVar("V_contra", contravariant=True)
V = TypeVar("V")


@dataclass(frozen=True, slots=True)
class Check:
    """One comparison of the current window with the reference.

    ``window`` is how many values the current window holds; the statistic exceeds the
    threshold when the window differs from the reference beyond chance at the level
    the detector was given.
    """

    statistic: float
    threshold: float
    window: int

    @property
    def exceeded(self) -> bool:
        return self.statistic > self.threshold


class DetectorProtocol(Protocol[V_contra]):
    """What the episode tracker drives: ``update`` per value, ``restart`` after a change."""

    name: str
    window: int

    def update(self, value: V_contra) -> Check | None:
        """Add ``value``; a :class:`Check` when one is due, else ``None``."""
        ...

    def restart(self) -> None:
        """Forget the reference and the window; rebuild both from the next values."""
        ...


class _BinnedDetector(Generic[V]):
    """A reference histogram against a sliding window's, by two-sample chi-square.

    The first ``reference`` values fix the bins and the reference counts; then each
    value enters a window of the last ``window`` values, and every ``step`` values (once
    the window is full) the two histograms are compared at level ``alpha``. The
    threshold is the chi-square quantile times ``dispersion``: values of a stream are
    not independent (a card pays several times in a window), which widens the
    statistic's spread by a factor measured on a stationary stream (ADR 0012). With
    ``sliding`` the reference is the ``reference`` values just before the window
    instead of the first ones: a slow evolution (a model still learning) then raises
    nothing, a sudden change does.
    """

    name = "chi2"

    def __init__(
        self,
        *,
        reference: int,
        window: int,
        step: int,
        alpha: float,
        dispersion: float = 1.0,
        sliding: bool = False,
    ) -> None:
        if min(reference, window, step) < 1 or not 0 < alpha < 1 or dispersion <= 0:
            raise ValueError(
                "reference, window and step must be >= 1, alpha in (0, 1), dispersion > 0"
            )
        self.reference = reference
        self.window = window
        self.step = step
        self.alpha = alpha
        self.dispersion = dispersion
        self.sliding = sliding
        self._thresholds: dict[int, float] = {}
        self.restart()

    def restart(self) -> None:
        self._collected: list[V] = []
        self._ref_counts: list[int] = []
        self._recent: deque[int] = deque()
        self._older: deque[int] = deque()
        self._counts: list[int] = []
        self._since_check = 0

    @property
    def ready(self) -> bool:
        """Whether the reference is complete."""
        return bool(self._ref_counts)

    def update(self, value: V) -> Check | None:
        if not self._ref_counts:
            self._collected.append(value)
            if len(self._collected) >= self.reference:
                self._fit(self._collected)
                self._ref_counts = [0] * self._bins()
                for v in self._collected:
                    b = self._bin(v)
                    self._ref_counts[b] += 1
                    if self.sliding:
                        self._older.append(b)
                self._counts = [0] * len(self._ref_counts)
                self._collected = []
            return None
        b = self._bin(value)
        self._recent.append(b)
        self._counts[b] += 1
        if len(self._recent) > self.window:
            old = self._recent.popleft()
            self._counts[old] -= 1
            if self.sliding:  # the reference follows right behind the window
                self._older.append(old)
                self._ref_counts[old] += 1
                self._ref_counts[self._older.popleft()] -= 1
        self._since_check += 1
        if len(self._recent) < self.window or self._since_check < self.step:
            return None
        self._since_check = 0
        stat, dof = chi2_homogeneity(self._ref_counts, self._counts)
        dof = max(dof, 1)  # one bin holds everything: no evidence of change
        threshold = self._thresholds.get(dof)
        if threshold is None:
            quantile = chi2_threshold(dof, self.alpha)
            threshold = self._thresholds[dof] = self.dispersion * quantile
        return Check(stat, threshold, self.window)

    def _fit(self, values: list[V]) -> None:
        raise NotImplementedError

    def _bins(self) -> int:
        raise NotImplementedError

    def _bin(self, value: V) -> int:
        raise NotImplementedError


class QuantileDetector(_BinnedDetector[float]):
    """Numeric values binned at the reference's quantiles (and its maximum, so that a
    window of values beyond anything the reference held shows).

    >>> import random
    >>> rng = random.Random(0)
    >>> d = QuantileDetector(reference=500, window=200, step=50, alpha=1e-4)
    >>> checks = [d.update(rng.gauss(0, 1)) for _ in range(1000)]
    >>> any(c.exceeded for c in checks if c)
    False
    >>> checks = [d.update(rng.gauss(1, 1)) for _ in range(200)]
    >>> checks[-1].exceeded
    True
    """

    def __init__(self, *, bins: int = 10, **settings: Any) -> None:
        self.bins = bins
        self._edges: list[float] = []
        super().__init__(**settings)

    def _fit(self, values: list[float]) -> None:
        ordered = sorted(values)
        n = len(ordered)
        cuts = [ordered[min(n - 1, (n * k) // self.bins)] for k in range(1, self.bins)]
        self._edges = sorted({*cuts, ordered[-1]})

    def _bins(self) -> int:
        return len(self._edges) + 1

    def _bin(self, value: float) -> int:
        # Bins are (-inf, e1], (e1, e2], ..., (ek, inf): ties at a mass point stay together.
        return bisect_left(self._edges, value)


class CategoryDetector(_BinnedDetector[str]):
    """Categories (predicted classes): one bin per category of the reference, one for
    any other.

    >>> d = CategoryDetector(reference=8, window=8, step=8, alpha=0.01)
    >>> [d.update(c) for c in "abababab"] == [None] * 8
    True
    >>> [d.update(c) for c in "cccccccc"][-1].exceeded
    True
    """

    def __init__(self, **settings: Any) -> None:
        self._index: dict[str, int] = {}
        super().__init__(**settings)

    def _fit(self, values: list[str]) -> None:
        self._index = {c: i for i, c in enumerate(sorted(set(values)))}

    def _bins(self) -> int:
        return len(self._index) + 1

    def _bin(self, value: str) -> int:
        return self._index.get(value, len(self._index))


class MeanIncreaseDetector:
    """A rise of the mean of values in [0, 1] (losses): the last ``window`` values against
    the ``reference`` values before them, by ADWIN's Bernstein cut at level ``alpha``.

    The reference slides with the stream, right behind the window, so a model that
    slowly improves raises nothing; a loss that jumps shows as soon as the window holds
    enough of it. Values outside [0, 1] are clipped.

    >>> d = MeanIncreaseDetector(reference=400, window=200, step=50, alpha=1e-4)
    >>> checks = [d.update(float(i % 10 == 0)) for i in range(1000)]
    >>> any(c.exceeded for c in checks if c)
    False
    >>> checks = [d.update(float(i % 3 == 0)) for i in range(200)]
    >>> any(c.exceeded for c in checks if c)
    True
    """

    name = "bernstein-mean"

    def __init__(self, *, reference: int, window: int, step: int, alpha: float) -> None:
        if min(reference, window, step) < 1 or not 0 < alpha < 1:
            raise ValueError("reference, window and step must be >= 1 and alpha in (0, 1)")
        self.reference = reference
        self.window = window
        self.step = step
        self.alpha = alpha
        self.restart()

    def restart(self) -> None:
        self._old: deque[float] = deque()
        self._recent: deque[float] = deque()
        self._since_check = 0

    def update(self, value: float) -> Check | None:
        self._recent.append(min(1.0, max(0.0, value)))
        if len(self._recent) > self.window:
            self._old.append(self._recent.popleft())
            if len(self._old) > self.reference:
                self._old.popleft()
        self._since_check += 1
        if len(self._old) < self.reference or self._since_check < self.step:
            return None
        self._since_check = 0
        n_ref, n_cur = len(self._old), len(self._recent)
        sum_ref, sum_cur = sum(self._old), sum(self._recent)
        total = n_ref + n_cur
        mean = (sum_ref + sum_cur) / total
        squares = sum(v * v for v in self._old) + sum(v * v for v in self._recent)
        variance = max(squares / total - mean * mean, 0.0)
        rise = sum_cur / n_cur - sum_ref / n_ref
        return Check(rise, bernstein_cut(variance, n_ref, n_cur, self.alpha), self.window)
