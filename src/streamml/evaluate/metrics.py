"""Ranking metrics of a fraud scorer: AUC ROC, average precision, card precision@k.

AUC ROC and average precision follow scikit-learn's definitions exactly, ties included
(``roc_auc_score``: the trapezoidal area, which is the Mann-Whitney statistic with tied
scores counted as half; ``average_precision_score``: the step sum of precision times recall
increase over distinct thresholds). Card precision@k is the Fraud Detection Handbook's
``card_precision_top_k``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def _binary(y_true: npt.ArrayLike) -> BoolArray:
    y = np.asarray(y_true)
    if y.ndim != 1 or not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must be a 1-d array of 0/1 (or booleans)")
    return y.astype(bool)


def _scores(y_score: npt.ArrayLike, size: int) -> FloatArray:
    scores = np.asarray(y_score, dtype=np.float64)
    if scores.shape != (size,):
        raise ValueError(f"expected {size} scores, got shape {scores.shape}")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite (a model returned nan or inf)")
    return scores


def _both_classes(y: BoolArray) -> bool:
    return bool(y.any()) and not bool(y.all())


def roc_auc(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Area under the ROC curve; ``nan`` when ``y_true`` holds a single class.

    A positive scored above a negative counts 1, a tie counts 1/2.

    Examples
    --------
    >>> roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    0.75
    >>> roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9])   # the tie counts 1/2
    0.875
    """
    y = _binary(y_true)
    if not _both_classes(y):
        return float("nan")
    scores = _scores(y_score, y.size)
    ranks = _average_ranks(scores)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    u = float(ranks[y].sum()) - n_pos * (n_pos + 1) / 2.0
    return u / (n_pos * n_neg)


def _average_ranks(values: FloatArray) -> FloatArray:
    """1-based ranks, tied values sharing the mean of their ranks (``rankdata``)."""
    order = np.argsort(values, kind="mergesort")
    ordered = values[order]
    starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]])
    ends = np.r_[starts[1:], ordered.size]
    mean_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(values.size, dtype=np.float64)
    ranks[order] = np.repeat(mean_rank, ends - starts)
    return ranks


def average_precision(y_true: npt.ArrayLike, y_score: npt.ArrayLike) -> float:
    """Average precision: sum over thresholds of precision times recall increase.

    Tied scores form one threshold; ``nan`` without positives.

    Examples
    --------
    >>> round(average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]), 6)   # (1 + 2/3) / 2
    0.833333
    >>> average_precision([1, 0, 1], [0.5, 0.5, 0.1])   # tie: precision 1/2, then 2/3
    0.5833333333333333
    """
    y = _binary(y_true)
    if not y.any():
        return float("nan")
    scores = _scores(y_score, y.size)
    order = np.argsort(-scores, kind="mergesort")
    ordered = scores[order]
    # The last position of each group of tied scores is a threshold.
    last = np.flatnonzero(np.r_[ordered[1:] != ordered[:-1], True])
    true_pos = np.cumsum(y[order])[last]
    precision = true_pos / (last + 1.0)
    recall_gain = np.diff(np.r_[0, true_pos]) / true_pos[-1]
    return float(np.sum(recall_gain * precision))


@dataclass(frozen=True, slots=True)
class CardPrecision:
    """Card precision@k of each day, its mean and the compromised cards per day."""

    mean: float
    per_day: list[float]
    compromised_cards: list[int]


def card_precision_at_k(
    day: npt.ArrayLike,
    customer: npt.ArrayLike,
    y_score: npt.ArrayLike,
    y_true: npt.ArrayLike,
    k: int = 100,
    *,
    remove_detected: bool = True,
) -> CardPrecision:
    """The handbook's card precision@k over the days present, and its daily mean.

    Each day, a card (customer) scores its highest transaction score and is compromised if
    it has a fraud that day; the share of compromised cards among the ``k`` highest is that
    day's precision. Cards detected (compromised and in the top ``k``) on an earlier day
    are removed from later days. Equal scores keep customers in ascending id order.

    Examples
    --------
    >>> day = [0, 0, 0, 1, 1]
    >>> customer = [1, 2, 3, 1, 2]
    >>> score = [0.9, 0.1, 0.5, 0.9, 0.2]
    >>> fraud = [1, 0, 0, 1, 1]
    >>> result = card_precision_at_k(day, customer, score, fraud, k=2)
    >>> result.per_day, result.mean, result.compromised_cards
    ([0.5, 0.5], 0.5, [1, 1])
    """
    days = np.asarray(day, dtype=np.int64)
    customers = np.asarray(customer, dtype=np.int64)
    fraud = _binary(y_true)
    scores = _scores(y_score, fraud.size)
    detected: set[int] = set()
    per_day: list[float] = []
    compromised: list[int] = []
    for current in np.unique(days):
        rows = (days == current) & ~np.isin(customers, np.fromiter(detected, np.int64))
        cards, card_score, card_fraud = _per_card(customers[rows], scores[rows], fraud[rows])
        compromised.append(int(card_fraud.sum()))
        top = np.lexsort((cards, -card_score))[:k]
        hits = cards[top][card_fraud[top]]
        per_day.append(hits.size / k)
        if remove_detected:
            detected.update(int(c) for c in hits)
    mean = float(np.mean(per_day)) if per_day else float("nan")
    return CardPrecision(mean, per_day, compromised)


def _per_card(
    customers: IntArray, scores: FloatArray, fraud: BoolArray
) -> tuple[IntArray, FloatArray, BoolArray]:
    """Each card's highest score and whether any of its transactions is a fraud."""
    cards, index = np.unique(customers, return_inverse=True)
    card_score = np.full(cards.size, -np.inf)
    np.maximum.at(card_score, index, scores)
    card_fraud = np.zeros(cards.size, dtype=bool)
    np.logical_or.at(card_fraud, index, fraud)
    return cards, card_score, card_fraud
