"""The fraud model and its parts follow River's protocol (River's generic checks)."""

from __future__ import annotations

import importlib.util
import pickle
import sys
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from river import base, linear_model
from river.checks import yield_checks

from streamml.models.blend import LogitBlend
from streamml.models.fraud import FRAUD_MODELS, fraud_model
from streamml.models.sampling import NegativeSampler


@contextmanager
def sklearn_if_missing() -> Iterator[None]:
    """River's check suite imports scikit-learn, which it uses only for the data sets of
    multi-output regressors; binary classifiers are checked on River's own Phishing data.
    Without scikit-learn (not a dependency of streamml), an empty stand-in satisfies the
    import while the checks are generated."""
    if importlib.util.find_spec("sklearn") is not None:
        yield
        return
    stub = types.ModuleType("sklearn")
    stub.datasets = types.ModuleType("sklearn.datasets")  # type: ignore[attr-defined]
    sys.modules["sklearn"] = stub
    try:
        yield
    finally:
        del sys.modules["sklearn"]


def all_checks() -> list[Any]:
    out = []
    with sklearn_if_missing():
        for cls in (NegativeSampler, LogitBlend):
            for number, params in enumerate(cls._unit_test_params()):
                model = cls(**params)
                out += [
                    pytest.param(model, check, id=f"{cls.__name__}{number}-{check.__name__}")
                    for check in yield_checks(model)
                ]
    return out


@pytest.mark.parametrize(("model", "check"), all_checks())
def test_river_estimator_checks(model: base.Estimator, check: Callable[..., Any]) -> None:
    check(model.clone())


def test_sampler_keeps_rankings_and_rescales_odds() -> None:
    inner = linear_model.LogisticRegression()
    sampler = NegativeSampler(inner.clone(), rate=0.25, seed=0)
    for i in range(400):
        sampler.learn_one({"x": float(i % 8)}, i % 8 >= 6)
    raw = sampler.classifier.predict_proba_one({"x": 7.0})[True]
    corrected = sampler.predict_proba_one({"x": 7.0})[True]
    assert corrected / (1 - corrected) == pytest.approx(0.25 * raw / (1 - raw))
    assert sampler.learned < 400


def test_sampler_learns_every_positive() -> None:
    sampler = NegativeSampler(linear_model.LogisticRegression(), rate=0.01, seed=0)
    for _ in range(50):
        sampler.learn_one({"x": 1.0}, True)
    assert sampler.learned == 50


@pytest.mark.parametrize("name", sorted(FRAUD_MODELS))
def test_every_named_model_learns_scores_and_pickles(name: str) -> None:
    model = FRAUD_MODELS[name]()
    assert 0.0 <= model.predict_proba_one({"TX_AMOUNT": 1.0}).get(True, 0.0) <= 1.0
    for i in range(300):
        model.learn_one({"TX_AMOUNT": float(i % 300), "B": 1.0}, i % 300 > 250)
    restored = pickle.loads(pickle.dumps(model))
    x = {"TX_AMOUNT": 280.0, "B": 1.0}
    assert restored.predict_proba_one(x) == model.predict_proba_one(x)
    assert 0.0 <= model.predict_proba_one(x)[True] <= 1.0


def test_fraud_model_returns_a_fresh_model_each_time() -> None:
    a, b = fraud_model(), fraud_model()
    assert a is not b
    a.learn_one({"TX_AMOUNT": 1.0}, True)
    assert b.predict_proba_one({"TX_AMOUNT": 1.0}).get(True, 0.0) == pytest.approx(
        fraud_model().predict_proba_one({"TX_AMOUNT": 1.0}).get(True, 0.0)
    )


def test_lean_splitter_grows_the_same_forest_in_a_fraction_of_the_bytes() -> None:
    from river import datasets, forest

    from streamml.models.lean_splitter import LeanGaussianSplitter

    river_own = forest.ARFClassifier(n_models=3, seed=1, leaf_prediction="mc")
    lean = forest.ARFClassifier(
        n_models=3, seed=1, leaf_prediction="mc", splitter=LeanGaussianSplitter()
    )
    for x, y in datasets.Phishing():
        assert lean.predict_proba_one(x) == river_own.predict_proba_one(x)
        river_own.learn_one(x, y)
        lean.learn_one(x, y)
    assert len(pickle.dumps(lean)) < len(pickle.dumps(river_own)) / 5
    restored = pickle.loads(pickle.dumps(lean))
    assert restored.predict_proba_one(x) == lean.predict_proba_one(x)
