"""The emotion model: prepared tokens, online TF-IDF, an averaged multiclass
passive-aggressive classifier with class-balanced steps; open label set.

``docs/adr/0009-emotion-model.md`` has the measurements behind each choice.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from itertools import pairwise
from typing import Any

from streamml.models.text import tokenize

C = 0.5
"""Aggressiveness: the PA-II slack penalty (ADR 0009)."""
BIGRAM_WEIGHT = 0.5
"""Bigrams count half as much as words before normalisation."""
SHARPNESS = 5.0
"""Softmax temperature turning margins into probabilities."""
MAX_TERMS = 500_000
"""Vocabulary bound: past it, the rarest terms (and their weights) are forgotten."""

Features = dict[str, float]


def text_features(text: str, documents: int, document_frequency: dict[str, int]) -> Features:
    """Sublinear TF times smoothed online IDF of words and (half-weight) bigrams, L2
    normalised; ``{}`` for a text without tokens.

    >>> x = text_features("so so happy", 10, {"so": 9})
    >>> sorted(x), round(sum(v * v for v in x.values()), 6)
    (['happy', 'so', 'so happy', 'so so'], 1.0)
    >>> x["happy"] > x["so"]  # rarer, so more telling
    True
    """
    return _weighted(text, lambda term: idf(documents, document_frequency.get(term, 0)))


def idf(documents: int, frequency: int) -> float:
    """Smoothed inverse document frequency of a term seen in ``frequency`` documents."""
    return math.log((documents + 1) / (frequency + 1)) + 1.0


def _weighted(text: str, idf_of: Callable[[str], float]) -> Features:
    words = tokenize(text)
    counts: Counter[str] = Counter(words)
    counts.update(f"{a} {b}" for a, b in pairwise(words))
    x: Features = {}
    for term, count in counts.items():
        weight = (1.0 + math.log(count)) * idf_of(term)
        x[term] = weight * BIGRAM_WEIGHT if " " in term else weight
    norm = math.sqrt(sum(v * v for v in x.values()))
    return {term: v / norm for term, v in x.items()} if norm else {}


def _softmax(scores: dict[str, float], sharpness: float) -> dict[str, float]:
    top = max(scores.values())
    exp = {k: math.exp(sharpness * (s - top)) for k, s in scores.items()}
    total = sum(exp.values())
    return {k: v / total for k, v in exp.items()}


class TextClassifier:
    """Averaged multiclass passive-aggressive (PA-II, Crammer et al. 2006) over
    :func:`text_features`, learning one text at a time (River's classifier protocol:
    ``learn_one``, ``predict_proba_one``, ``predict_one``; the text is ``x``).

    Each update moves the true class towards the text and the best-scoring wrong class
    away, by the smallest step that gives a margin of 1 (bounded by ``c``); the step is
    scaled by how rare the true class has been so far (class-balanced), which lifts
    macro-F1 on skewed label sets. Predictions use the average of all weight vectors
    seen (less noisy than the last one). A new label is learned when first seen.

    Examples
    --------
    >>> model = TextClassifier()
    >>> model.predict_proba_one("anything")
    {}
    >>> for _ in range(3):
    ...     model.learn_one("i feel so happy today", "joy")
    ...     model.learn_one("this is awful and sad", "sadness")
    >>> model.predict_one("happy day")
    'joy'
    >>> round(sum(model.predict_proba_one("sad day").values()), 6)
    1.0

    Memory is bounded: past ``max_terms`` distinct terms, the rarest are forgotten.

    >>> small = TextClassifier(max_terms=20)
    >>> for i in range(30):
    ...     small.learn_one(f"word{i} happy", "joy")
    >>> len(small.document_frequency) <= 20, "happy" in small.document_frequency
    (True, True)
    """

    def __init__(
        self, c: float = C, sharpness: float = SHARPNESS, max_terms: int = MAX_TERMS
    ) -> None:
        self.c = c
        self.sharpness = sharpness
        self.max_terms = max_terms
        self.weights: dict[str, dict[str, float]] = {}
        self.totals: dict[str, dict[str, float]] = {}
        """Per feature and class, the sum of each update times its step number."""
        self.document_frequency: dict[str, int] = {}
        self.class_counts: dict[str, int] = {}
        self.steps = 1
        self.documents = 0

    def __repr__(self) -> str:
        return (
            f"TextClassifier(c={self.c}, sharpness={self.sharpness}, "
            f"max_terms={self.max_terms}, classes={sorted(self.class_counts)}, "
            f"terms={len(self.document_frequency)})"
        )

    def learn_one(self, x: str, y: Any) -> None:
        label = str(y)
        features = text_features(x, self.documents, self.document_frequency)
        self.class_counts[label] = self.class_counts.get(label, 0) + 1
        self.documents += 1
        for term in features:
            self.document_frequency[term] = self.document_frequency.get(term, 0) + 1
        if len(self.document_frequency) > self.max_terms:
            self._forget_rare_terms()
        # Only terms seen in an earlier text get weights: one-off tokens (typos, names,
        # most bigrams) would double the model's size and do not generalise.
        seen = {t: v for t, v in features.items() if self.document_frequency.get(t, 0) > 1}
        if seen:
            self._update(seen, label)
        self.steps += 1

    def _forget_rare_terms(self) -> None:
        """Drop the terms seen least often until at most 3/4 of ``max_terms`` remain."""
        frequency = self.document_frequency
        target = self.max_terms * 3 // 4
        floor = 1
        while len(frequency) > target:
            for term in [t for t, n in frequency.items() if n <= floor]:
                del frequency[term]
                self.weights.pop(term, None)
                self.totals.pop(term, None)
            floor *= 2

    def _update(self, x: Features, label: str) -> None:
        scores = self._scores(x, averaged=False)
        rivals = [(score, k) for k, score in scores.items() if k != label]
        if not rivals:
            return
        best_rival_score, rival = max(rivals)
        loss = 1.0 - (scores[label] - best_rival_score)
        if loss <= 0:
            return
        balance = self.documents / (len(self.class_counts) * self.class_counts[label])
        squared_norm = sum(v * v for v in x.values())
        step = loss / (2 * squared_norm + 1 / (2 * self.c * balance))
        now = self.steps
        for term, value in x.items():
            delta = step * value
            weights = self.weights.setdefault(term, {})
            totals = self.totals.setdefault(term, {})
            weights[label] = weights.get(label, 0.0) + delta
            totals[label] = totals.get(label, 0.0) + now * delta
            weights[rival] = weights.get(rival, 0.0) - delta
            totals[rival] = totals.get(rival, 0.0) - now * delta

    def _scores(self, x: Features, averaged: bool) -> dict[str, float]:
        scores = dict.fromkeys(self.class_counts, 0.0)
        now = self.steps
        for term, value in x.items():
            weights = self.weights.get(term)
            if weights is None:
                continue
            if averaged:
                totals = self.totals[term]
                for k, w in weights.items():
                    scores[k] += value * (w - totals[k] / now)
            else:
                for k, w in weights.items():
                    scores[k] += value * w
        return scores

    def predict_proba_one(self, x: str) -> dict[str, float]:
        """Softmax of the averaged scores; ``{}`` until a label has been learned."""
        if not self.class_counts:
            return {}
        features = text_features(x, self.documents, self.document_frequency)
        return _softmax(self._scores(features, averaged=True), self.sharpness)

    def predict_one(self, x: str) -> str | None:
        """The most probable class; ``None`` until a label has been learned."""
        proba = self.predict_proba_one(x)
        return max(proba, key=proba.__getitem__) if proba else None


class FrozenTextClassifier:
    """A :class:`TextClassifier`'s predictions, read-only, for scorers (which never
    learn): each term's IDF and averaged weights are computed once per snapshot, so a
    prediction only looks them up. It gives exactly the model's probabilities.

    >>> model = TextClassifier()
    >>> for _ in range(3):
    ...     model.learn_one("i feel so happy today", "joy")
    ...     model.learn_one("this is awful and sad", "sadness")
    >>> frozen = FrozenTextClassifier(model)
    >>> frozen.predict_proba_one("a happy day") == model.predict_proba_one("a happy day")
    True
    """

    def __init__(self, model: TextClassifier) -> None:
        self.sharpness = model.sharpness
        self.classes = list(model.class_counts)
        documents, now = model.documents, model.steps
        self.idf = {t: idf(documents, n) for t, n in model.document_frequency.items()}
        self.unseen_idf = idf(documents, 0)
        # TextClassifier._scores(averaged=True), each term's products computed up front.
        self.averaged = {
            term: tuple((k, w - model.totals[term][k] / now) for k, w in weights.items())
            for term, weights in model.weights.items()
        }

    def predict_proba_one(self, x: str) -> dict[str, float]:
        if not self.classes:
            return {}
        idf_of, unseen = self.idf.get, self.unseen_idf
        features = _weighted(x, lambda term: idf_of(term, unseen))
        scores = dict.fromkeys(self.classes, 0.0)
        averaged = self.averaged
        for term, value in features.items():
            for k, a in averaged.get(term, ()):
                scores[k] += value * a
        return _softmax(scores, self.sharpness)


def emotion_model() -> TextClassifier:
    """A fresh, untrained emotion model (one per task): raw text in, class
    probabilities out.

    >>> model = emotion_model()
    >>> model.learn_one("i feel so happy today", "joy")
    >>> model.learn_one("this is awful and sad", "sadness")
    >>> model.predict_one("happy happy day")
    'joy'
    """
    return TextClassifier()
