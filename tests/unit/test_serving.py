"""A served (frozen) fraud forest predicts exactly what River's forest predicts."""

from __future__ import annotations

import random
from functools import partial
from typing import Any

import pytest
from river import forest

from streamml.features.fraud import FEATURE_NAMES
from streamml.models.emotion import FrozenTextClassifier, emotion_model
from streamml.models.fraud import fraud_model
from streamml.models.serving import FrozenForest, for_serving
from streamml.score import FraudScorer


def handbook_like_examples(n: int, seed: int) -> list[tuple[dict[str, float], bool]]:
    """Examples over the worker's feature names; fraud depends on a few of them."""
    rng = random.Random(seed)
    examples = []
    for _ in range(n):
        x = {name: rng.lognormvariate(0, 1) for name in FEATURE_NAMES}
        y = x["TX_AMOUNT"] > 4 or x["TERMINAL_ID_RISK_7DAY_WINDOW"] > 6 or rng.random() < 0.01
        examples.append((x, y))
    return examples


def trained(n: int, seed: int) -> Any:
    model = fraud_model()
    for x, y in handbook_like_examples(n, seed):
        model.learn_one(x, y)
    return model


@pytest.mark.parametrize("seed", [1, 2])
def test_a_frozen_forest_gives_rivers_probabilities_bit_for_bit(seed: int) -> None:
    model = trained(6000, seed)
    served = for_serving(model)
    assert isinstance(served.classifier, FrozenForest)
    rng = random.Random(seed)
    probes = [x for x, _ in handbook_like_examples(2000, seed + 100)]
    names = sorted(probes[0])
    # Missing features take River's most travelled branch; unknown ones are ignored.
    probes += [{k: v for k, v in x.items() if rng.random() < 0.6} for x in probes[:300]]
    probes += [{**x, "UNSEEN": 1.0} for x in probes[:50]] + [{}]
    probes += [{n: rng.uniform(-1e3, 1e4) for n in names} for _ in range(200)]
    differing = [x for x in probes if served.predict_proba_one(x) != model.predict_proba_one(x)]
    assert not differing, differing[:2]


def test_an_untrained_or_unknown_model_is_served_as_it_is() -> None:
    untrained = fraud_model()
    assert for_serving(untrained) is untrained  # River builds the trees on first use
    nb = forest.ARFClassifier(n_models=2, leaf_prediction="nba", seed=1)
    for x, y in handbook_like_examples(1500, 3):
        nb.learn_one(x, y)
    assert for_serving(nb) is nb  # naive-Bayes leaves depend on x: not frozen


def test_the_scorer_serves_each_snapshot_frozen() -> None:
    scorer = FraudScorer(fraud_model())
    model = trained(3000, 4)
    scorer.swap(model, "fraud-v3")
    served, version = scorer.current
    assert version == "fraud-v3" and isinstance(served.classifier, FrozenForest)
    x = next(iter(handbook_like_examples(1, 9)))[0]
    assert served.predict_proba_one(x) == model.predict_proba_one(x)


def test_trees_too_deep_to_compile_are_walked_with_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    model = trained(4000, 5)
    monkeypatch.setattr("streamml.models.serving.MAX_COMPILED_DEPTH", 2)
    walked = for_serving(model)
    assert all(isinstance(tree, partial) for tree in walked.classifier.trees)
    probes = [x for x, _ in handbook_like_examples(500, 6)]
    probes += [{k: v for k, v in x.items() if k != "TX_AMOUNT"} for x in probes[:100]]
    assert all(walked.predict_proba_one(x) == model.predict_proba_one(x) for x in probes)


def test_a_frozen_text_model_gives_the_models_probabilities_exactly() -> None:
    rng = random.Random(7)
    words = [f"w{i}" for i in range(300)] + ["happy", "sad", "angry", "love", "fear"]
    model = emotion_model()
    for _ in range(3000):
        text = " ".join(rng.choice(words) for _ in range(rng.randint(1, 12)))
        model.learn_one(text, rng.choice(["joy", "sadness", "anger"]))
    served = for_serving(model)
    assert isinstance(served, FrozenTextClassifier)
    probes = [" ".join(rng.choice(words) for _ in range(rng.randint(0, 15))) for _ in range(500)]
    probes += ["", "unseen words only", "happy happy happy w1 w1"]
    assert all(served.predict_proba_one(t) == model.predict_proba_one(t) for t in probes)
