"""The tests behind the detectors: two-sample chi-square, a Bernstein mean bound and
Fisher's exact test of two shares.

Standard library only: the chi-square quantile uses the Wilson-Hilferty approximation
(exact for one and two degrees of freedom), within 4 % above the exact quantile for
the tail levels used here, so slightly conservative.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from statistics import NormalDist

_NORMAL = NormalDist()


def chi2_threshold(dof: int, alpha: float) -> float:
    """The upper ``alpha`` quantile of chi-square with ``dof`` degrees of freedom.

    >>> round(chi2_threshold(9, 0.05), 1), round(chi2_threshold(1, 1e-3), 1)
    (16.9, 10.8)
    """
    if dof < 1 or not 0 < alpha < 1:
        raise ValueError("dof must be >= 1 and alpha in (0, 1)")
    if dof == 1:
        return _NORMAL.inv_cdf(1 - alpha / 2) ** 2
    if dof == 2:
        return -2 * math.log(alpha)
    z = _NORMAL.inv_cdf(1 - alpha)
    c = 2 / (9 * dof)
    return float(dof * (1 - c + z * math.sqrt(c)) ** 3)


def chi2_homogeneity(reference: Sequence[int], current: Sequence[int]) -> tuple[float, int]:
    """Pearson's chi-square for two histograms on the same bins, and its degrees of freedom.

    Bins empty in both samples are left out; expected counts come from the pooled
    proportions, so a bin the reference never filled still counts.

    >>> chi2_homogeneity([50, 50], [50, 50])
    (0.0, 1)
    >>> stat, dof = chi2_homogeneity([90, 10], [10, 90])
    >>> round(stat, 1), dof
    (128.0, 1)
    """
    n_ref, n_cur = sum(reference), sum(current)
    total = n_ref + n_cur
    if n_ref == 0 or n_cur == 0:
        return 0.0, 0
    stat, used = 0.0, 0
    for r, c in zip(reference, current, strict=True):
        pooled = r + c
        if pooled == 0:
            continue
        used += 1
        e_ref, e_cur = n_ref * pooled / total, n_cur * pooled / total
        stat += (r - e_ref) ** 2 / e_ref + (c - e_cur) ** 2 / e_cur
    return stat, max(used - 1, 0)


def bernstein_cut(variance: float, n_ref: int, n_cur: int, delta: float) -> float:
    """How far two means of values in [0, 1] may differ by chance (ADWIN's cut, Bifet &
    Gavaldà 2007): exceeded with probability at most ``delta`` when both windows share
    a mean, whatever the distribution's skew.

    >>> round(bernstein_cut(0.25, 1000, 1000, 1e-3), 3)
    0.097
    """
    m = 1 / (1 / n_ref + 1 / n_cur)
    log_term = math.log(2 / delta)
    return math.sqrt(2 * variance * log_term / m) + 2 * log_term / (3 * m)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def fisher_log_tail(hits: int, draws: int, successes: int, total: int) -> float:
    """Fisher's one-sided exact test: the log of the probability of ``hits`` or more
    successes among ``draws`` taken from ``total`` items of which ``successes`` are
    successes (the hypergeometric upper tail). Used to ask whether a window's share of
    errors exceeds its reference's: ``draws`` is the window, ``total`` both together.

    >>> round(math.exp(fisher_log_tail(3, 3, 3, 6)), 4)  # all three successes drawn
    0.05
    >>> fisher_log_tail(0, 5, 2, 10)
    0.0
    """
    if not 0 <= draws <= total or not 0 <= successes <= total:
        raise ValueError("draws and successes must be within [0, total]")
    low, high = max(0, draws + successes - total), min(draws, successes)
    if hits <= low:
        return 0.0
    if hits > high:
        return -math.inf
    denominator = _log_comb(total, draws)
    terms = [
        _log_comb(successes, i) + _log_comb(total - successes, draws - i) - denominator
        for i in range(hits, high + 1)
    ]
    top = max(terms)
    return min(0.0, top + math.log(sum(math.exp(t - top) for t in terms)))
