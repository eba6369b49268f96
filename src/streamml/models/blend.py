"""Average binary classifiers in log-odds: each learns every example, all vote when scoring."""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterator, Sequence
from typing import Any

from river import base, linear_model, naive_bayes

_EDGE = 1e-12  # probabilities are clipped to [edge, 1 - edge] before the log-odds


def _logit(p: float) -> float:
    p = min(max(p, _EDGE), 1.0 - _EDGE)
    return math.log(p / (1.0 - p))


class LogitBlend(base.Ensemble[base.Classifier], base.Classifier):
    """A weighted mean of binary classifiers' log-odds of ``True``.

    Log-odds rather than probabilities, so that a confident vote (a probability of 0.999
    against 0.99) still counts, which is where the rare fraud cases live. Models that
    cannot score yet (an empty ``predict_proba_one``) abstain.

    Parameters
    ----------
    models
        The classifiers; each learns every example.
    weights
        One weight per model (default: equal weights).

    Examples
    --------
    >>> from river import linear_model, naive_bayes
    >>> blend = LogitBlend([linear_model.LogisticRegression(), naive_bayes.GaussianNB()])
    >>> for i in range(200):
    ...     blend.learn_one({"x": 1.0 if i % 2 else -1.0}, i % 2 == 1)
    >>> blend.predict_proba_one({"x": 1.0})[True] > 0.5 > blend.predict_proba_one({"x": -1.0})[True]
    True
    """

    def __init__(self, models: Sequence[Any], weights: Sequence[float] | None = None) -> None:
        super().__init__(models)  # type: ignore[arg-type]
        if weights is not None and len(weights) != len(self):
            raise ValueError(f"{len(self)} models but {len(weights)} weights")
        self.weights = weights

    @property
    def _multiclass(self) -> bool:
        return False

    @classmethod
    def _unit_test_params(cls) -> Iterator[dict[str, Any]]:
        yield {"models": [linear_model.LogisticRegression(), naive_bayes.GaussianNB()]}
        yield {
            "models": [linear_model.LogisticRegression(), naive_bayes.GaussianNB()],
            "weights": (2.0, 1.0),
        }

    def learn_one(self, x: dict[Hashable, Any], y: Any, **kwargs: Any) -> None:
        """Every model learns ``(x, y)``."""
        for model in self:
            model.learn_one(x, y, **kwargs)

    def predict_proba_one(self, x: dict[Hashable, Any], **kwargs: Any) -> dict[Any, float]:
        """The weighted mean log-odds of the models that can score, as probabilities."""
        weights = self.weights or [1.0] * len(self)
        total = weight_sum = 0.0
        for model, weight in zip(self, weights, strict=True):
            proba = model.predict_proba_one(x, **kwargs)
            if proba:
                total += weight * _logit(proba.get(True, 0.0))
                weight_sum += weight
        if weight_sum == 0.0:
            return {}
        p = 1.0 / (1.0 + math.exp(-total / weight_sum))
        return {False: 1.0 - p, True: p}
