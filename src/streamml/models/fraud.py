"""The fraud scorer's model: a River binary classifier over numeric features."""

from __future__ import annotations

from river import compose, linear_model, optim, preprocessing


def fraud_model() -> compose.Pipeline:
    """Standardised logistic regression; the fraud issue replaces it with a stronger model.

    Examples
    --------
    >>> model = fraud_model()
    >>> model.learn_one({"TX_AMOUNT": 10.0}, False)
    >>> 0.0 <= model.predict_proba_one({"TX_AMOUNT": 900.0})[True] <= 1.0
    True
    """
    return compose.Pipeline(
        preprocessing.StandardScaler(),
        linear_model.LogisticRegression(optimizer=optim.SGD(0.05)),
    )
