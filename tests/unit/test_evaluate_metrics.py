"""AUC ROC, average precision and card precision@k against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest

from streamml.evaluate.metrics import average_precision, card_precision_at_k, roc_auc


def brute_force_auc(y: list[int], s: list[float]) -> float:
    """Every (positive, negative) pair: 1 if the positive scores higher, 1/2 if tied."""
    pos = [v for v, t in zip(s, y, strict=True) if t]
    neg = [v for v, t in zip(s, y, strict=True) if not t]
    wins = sum(1.0 if p > n else 0.5 if p == n else 0.0 for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def brute_force_ap(y: list[int], s: list[float]) -> float:
    """Precision at each distinct threshold (all tied scores in), weighted by recall gain."""
    total = sum(y)
    ap, previous_recall = 0.0, 0.0
    for threshold in sorted(set(s), reverse=True):
        chosen = [t for v, t in zip(s, y, strict=True) if v >= threshold]
        recall = sum(chosen) / total
        ap += (recall - previous_recall) * sum(chosen) / len(chosen)
        previous_recall = recall
    return ap


def test_auc_of_a_perfect_a_reversed_and_a_constant_ranking() -> None:
    y = [0, 0, 1, 1]
    assert roc_auc(y, [0.1, 0.2, 0.3, 0.4]) == 1.0
    assert roc_auc(y, [0.4, 0.3, 0.2, 0.1]) == 0.0
    assert roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_auc_by_hand() -> None:
    # Pairs (pos, neg): (0.35, 0.1) win, (0.35, 0.4) loss, (0.8, *) two wins -> 3/4.
    assert roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == 0.75
    # A positive tied with a negative counts one half: (1 + 0.5 + 1 + 1) / 4.
    assert roc_auc([0, 1, 0, 1], [0.5, 0.5, 0.2, 0.9]) == 0.875


def test_average_precision_by_hand() -> None:
    # Ranking 1(+) 0.4(-) 0.35(+): precision 1 at recall 1/2, 2/3 at recall 1.
    assert average_precision([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(5 / 6)
    # All tied: one threshold, precision = prevalence.
    assert average_precision([1, 0, 0, 0], [0.3] * 4) == 0.25
    # Tie between the top positive and a negative: precision 1/2 there, then 2/3.
    assert average_precision([1, 0, 1], [0.5, 0.5, 0.1]) == pytest.approx(0.5 * 0.5 + 0.5 * 2 / 3)


def test_auc_and_ap_match_brute_force_with_many_ties() -> None:
    rng = np.random.default_rng(7)
    for _ in range(200):
        n = int(rng.integers(2, 40))
        y = rng.integers(0, 2, n).tolist()
        if min(y) == max(y):
            continue
        s = (rng.integers(0, 5, n) / 4).tolist()
        assert roc_auc(y, s) == pytest.approx(brute_force_auc(y, s))
        assert average_precision(y, s) == pytest.approx(brute_force_ap(y, s))


def test_undefined_metrics_are_nan() -> None:
    assert math.isnan(roc_auc([0, 0], [0.1, 0.2]))
    assert math.isnan(average_precision([0, 0], [0.1, 0.2]))


def test_labels_must_be_binary() -> None:
    with pytest.raises(ValueError, match="0/1"):
        roc_auc([0, 2], [0.1, 0.2])


def test_card_precision_takes_each_cards_best_score_and_removes_detected_cards() -> None:
    # Day 0: card 1 (fraud) scores 0.9 and 0.2 -> 0.9; card 2 (genuine) 0.8; card 3 (fraud) 0.1.
    # Top 2 = cards 1, 2 -> precision 1/2; card 1 is detected and leaves day 1.
    # Day 1: card 1 would top again but is removed; cards 3 (fraud, 0.7) and 2 (0.6) -> 1/2.
    day = [0, 0, 0, 0, 1, 1, 1]
    card = [1, 1, 2, 3, 1, 2, 3]
    score = [0.9, 0.2, 0.8, 0.1, 0.99, 0.6, 0.7]
    fraud = [1, 0, 0, 1, 1, 0, 1]
    result = card_precision_at_k(day, card, score, fraud, k=2)
    assert result.per_day == [0.5, 0.5]
    assert result.compromised_cards == [2, 1]
    assert result.mean == 0.5
    kept = card_precision_at_k(day, card, score, fraud, k=2, remove_detected=False)
    assert kept.per_day == [0.5, 1.0]


def test_card_precision_divides_by_k_even_with_fewer_cards() -> None:
    result = card_precision_at_k([0, 0], [1, 2], [0.5, 0.4], [1, 0], k=100)
    assert result.per_day == [0.01]
