"""Learn from every positive and a random share of the negatives, and say so in the odds."""

from __future__ import annotations

import random
from collections.abc import Hashable, Iterator
from typing import Any

from river import base, linear_model


class NegativeSampler(base.Wrapper[base.Classifier], base.Classifier):
    """Train a binary classifier on all positives and a ``rate`` share of the negatives.

    With 0.8 % positives, a tree ensemble spends nearly all of its learning time on
    genuine transactions that teach it little; learning one in twenty of them cuts the
    cost twenty-fold and balances the classes the trees see. The wrapped model then
    over-estimates the odds of a positive by ``1 / rate``; :meth:`predict_proba_one`
    multiplies them back by ``rate``, which leaves every ranking unchanged and the
    probabilities calibrated to the real class balance.

    Parameters
    ----------
    classifier
        The binary classifier to train (``True`` is the positive class).
    rate
        The probability of learning a negative example, in ``(0, 1]``.
    seed
        Seed of the sampling's random number generator.

    Examples
    --------
    >>> from river import linear_model
    >>> model = NegativeSampler(linear_model.LogisticRegression(), rate=0.5, seed=1)
    >>> for i in range(400):
    ...     model.learn_one({"x": 1.0 if i % 10 == 9 else -1.0}, i % 10 == 9)
    >>> model.predict_proba_one({"x": 1.0})[True] > model.predict_proba_one({"x": -1.0})[True]
    True
    """

    def __init__(self, classifier: base.Classifier, rate: float = 0.05, seed: int | None = None):
        if not 0.0 < rate <= 1.0:
            raise ValueError(f"rate must be in (0, 1], got {rate}")
        self.classifier = classifier
        self.rate = rate
        self.seed = seed
        self._rng = random.Random(seed)
        self.learned = 0

    @property
    def _wrapped_model(self) -> base.Classifier:
        return self.classifier

    @property
    def _multiclass(self) -> bool:
        return False

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"classifier": linear_model.LogisticRegression(), "rate": 0.5, "seed": 3}

    def learn_one(self, x: dict[Hashable, Any], y: Any, **kwargs: Any) -> None:
        """Learn ``(x, y)`` if ``y`` is positive, else with probability ``rate``."""
        if self.draw(y):
            self.classifier.learn_one(x, y, **kwargs)

    def draw(self, y: Any) -> bool:
        """Whether the example of class ``y`` is learned (and count it if so).

        :meth:`learn_one` is ``if draw(y): classifier.learn_one(x, y)``; calling the two
        halves apart, in the same order, trains the same model (the bootstrap does, to
        learn in another process).
        """
        if y or self._rng.random() < self.rate:
            self.learned += 1
            return True
        return False

    def predict_proba_one(self, x: dict[Hashable, Any], **kwargs: Any) -> dict[Any, float]:
        """The wrapped model's probabilities with the odds of ``True`` scaled by ``rate``."""
        proba = self.classifier.predict_proba_one(x, **kwargs)
        positive = proba.get(True, 0.0) * self.rate
        negative = 1.0 - proba.get(True, 0.0)
        total = positive + negative
        if not proba or total <= 0.0:
            return dict(proba)
        return {False: negative / total, True: positive / total}
