"""The fraud scorer's model: a River binary classifier over the online fraud features."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from river import compose, linear_model, optim, preprocessing

from streamml.errors import ConfigurationError


def fraud_model() -> Any:
    """A fresh, untrained fraud model (see ``docs/adr/0007-fraud-model.md``).

    Examples
    --------
    >>> model = fraud_model()
    >>> model.learn_one({"TX_AMOUNT": 10.0}, False)
    >>> 0.0 <= model.predict_proba_one({"TX_AMOUNT": 900.0})[True] <= 1.0
    True
    """
    return plain_logistic()


def plain_logistic() -> compose.Pipeline:
    """The baseline: standardised logistic regression, River's defaults."""
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(optimizer=optim.SGD(0.01)),
    )


FRAUD_MODELS: dict[str, Callable[[], Any]] = {
    "default": fraud_model,
    "logistic": plain_logistic,
}
"""Every model the ADR measured, by name (``streamml evaluate fraud --model NAME``)."""


def fraud_model_named(name: str) -> Any:
    """A fresh model from :data:`FRAUD_MODELS`; a :class:`ConfigurationError` names the
    choices when ``name`` is unknown.

    >>> fraud_model_named("logistic").__class__.__name__
    'Pipeline'
    """
    factory = FRAUD_MODELS.get(name)
    if factory is None:
        raise ConfigurationError(
            f"unknown fraud model {name!r}; choose one of {sorted(FRAUD_MODELS)}"
        )
    return factory()
