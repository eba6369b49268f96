"""The fraud scorer's model: a River binary classifier over the online fraud features.

:func:`fraud_model` is what the worker trains and serves; :data:`FRAUD_MODELS` names it
and the alternatives that ``docs/adr/0007-fraud-model.md`` measured, so that
``streamml evaluate fraud --model NAME`` reproduces each row of its table.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from river import compose, forest, linear_model, optim, preprocessing

from streamml.errors import ConfigurationError
from streamml.models.blend import LogitBlend
from streamml.models.lean_splitter import LeanGaussianSplitter
from streamml.models.sampling import NegativeSampler

SEED = 42
TREES = 10
MAX_DEPTH = 12
NEGATIVE_RATE = 0.05
"""Share of genuine transactions the forest learns (every fraud is learned)."""


def fraud_model() -> Any:
    """A fresh, untrained fraud model: what the worker trains and serves (ADR 0007).

    The bounded forest (:func:`forest_model`): ten depth-12 adaptive trees learning
    every fraud and 5 % of genuine payments. On the handbook's test week it scores
    0.877 / 0.673 / 0.299 (AUC ROC / average precision / card precision@100) offline,
    with 2.8 MB snapshots and about 0.1 ms per prediction.

    Examples
    --------
    >>> model = fraud_model()
    >>> for i in range(2000):
    ...     model.learn_one({"TX_AMOUNT": float(i % 300)}, i % 300 > 250)
    >>> high = model.predict_proba_one({"TX_AMOUNT": 280.0})[True]
    >>> low = model.predict_proba_one({"TX_AMOUNT": 20.0})[True]
    >>> 0.0 <= low < high <= 1.0
    True
    """
    return forest_model()


def forest_model(
    trees: int = TREES,
    max_depth: int | None = MAX_DEPTH,
    leaf_prediction: str = "mc",
    rate: float = NEGATIVE_RATE,
) -> NegativeSampler:
    """Adaptive random forest (ADWIN drift detection per tree) on sampled negatives.

    Majority-class leaves score as well as naive-Bayes leaves here and cost a quarter
    less per prediction; depth 12 scores as well as unbounded trees, at two thirds of the
    cost and less than half the size; the lean splitter keeps snapshots small.
    """
    arf = forest.ARFClassifier(
        n_models=trees,
        max_depth=max_depth,
        leaf_prediction=leaf_prediction,
        splitter=LeanGaussianSplitter(),
        seed=SEED,
    )
    return NegativeSampler(arf, rate=rate, seed=SEED)


def plain_logistic() -> compose.Pipeline:
    """The baseline: standardised logistic regression with River's default SGD."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(optimizer=optim.SGD(0.01)),
    )


def forest_and_logistic() -> LogitBlend:
    """The forest blended with the logistic regression (log-odds, weights 0.7 / 0.3)."""
    return LogitBlend([forest_model(), plain_logistic()], weights=(0.7, 0.3))


FRAUD_MODELS: dict[str, Callable[[], Any]] = {
    "default": fraud_model,
    "logistic": plain_logistic,
    "forest": forest_model,
    "forest-unbounded": lambda: forest_model(max_depth=None),
    "forest-depth-8": lambda: forest_model(max_depth=8),
    "forest-nb-leaves": lambda: forest_model(max_depth=None, leaf_prediction="nba"),
    "forest-20": lambda: forest_model(trees=20),
    "forest-rate-0.1": lambda: forest_model(rate=0.1),
    "forest+logistic": forest_and_logistic,
}
"""Every model ADR 0007 measured, by name (``streamml evaluate fraud --model NAME``)."""


def fraud_model_named(name: str) -> Any:
    """A fresh model from :data:`FRAUD_MODELS`; a :class:`ConfigurationError` names the
    choices when ``name`` is unknown.

    >>> type(fraud_model_named("logistic")).__name__
    'Pipeline'
    """
    factory = FRAUD_MODELS.get(name)
    if factory is None:
        choices = ", ".join(sorted(FRAUD_MODELS))
        raise ConfigurationError(f"unknown fraud model {name!r}; choose one of {choices}")
    return factory()
