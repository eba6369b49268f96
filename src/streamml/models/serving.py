"""Serve a snapshot fast: the same probabilities as River's model, with less work per call.

Scorers never learn, so a served adaptive random forest is frozen: its trees can be
flattened once per snapshot into nested tuples with each leaf's class probabilities
precomputed, then compiled to nested ``if`` statements, and each tree's vote weight read
once. :func:`for_serving` returns such a
:class:`FrozenForest` in place of an :class:`~river.forest.ARFClassifier` (also inside a
:class:`~streamml.models.sampling.NegativeSampler`); it gives bit-for-bit River's
``predict_proba_one`` (the unit tests compare them on trained forests, missing features
included) at a fraction of the cost. Any model it does not recognise is served as is.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Hashable
from functools import partial
from typing import Any

from river import forest
from river.tree.nodes.branch import NumericBinaryBranch
from river.tree.nodes.htc_nodes import LeafMajorityClass

from streamml.models.emotion import FrozenTextClassifier, TextClassifier
from streamml.models.sampling import NegativeSampler

Node = Any  # a leaf's weighted votes (tuple of pairs) or a branch (a 5-list, see _freeze)
_MISSING = object()


class NotFrozenError(Exception):
    """A part of the model this module cannot flatten (the model is served as is)."""


def for_serving(model: Any) -> Any:
    """A model that predicts exactly as ``model`` does, faster when it can be frozen.

    >>> from streamml.models.fraud import fraud_model
    >>> model = fraud_model()
    >>> for i in range(3000):
    ...     model.learn_one({"a": float(i % 97), "b": float(i % 13)}, i % 97 > 90)
    >>> served = for_serving(model)
    >>> type(served.classifier).__name__
    'FrozenForest'
    >>> x = {"a": 95.0, "b": 3.0}
    >>> served.predict_proba_one(x) == model.predict_proba_one(x)
    True
    """
    try:
        inner = model.classifier if isinstance(model, NegativeSampler) else None
        if isinstance(inner, forest.ARFClassifier):
            served = copy.copy(model)
            served.classifier = FrozenForest(inner)
            return served
        if isinstance(model, forest.ARFClassifier):
            return FrozenForest(model)
        if isinstance(model, TextClassifier):
            return FrozenTextClassifier(model)
    except NotFrozenError:
        pass
    return model


class FrozenForest:
    """An :class:`~river.forest.ARFClassifier`'s predictions, read-only and flattened."""

    def __init__(self, arf: forest.ARFClassifier) -> None:
        if len(arf) == 0:  # River builds its ensemble on the first call: not frozen yet
            raise NotFrozenError("the forest has no trees yet")
        self.trees: list[LeafOf] = []
        for tree, metric in zip(arf, arf._metrics, strict=True):
            value = metric.get()
            weight = value if not arf.disable_weighted_vote and value > 0.0 else None
            self.trees.append(_leaf_finder(_freeze_tree(tree, weight)))

    def predict_proba_one(self, x: dict[Hashable, Any]) -> dict[Any, float]:
        # River's ARFClassifier.predict_proba_one, the same sums in the same order; each
        # leaf holds its votes already weighted.
        y_pred: dict[Any, float] = {}
        for leaf_of in self.trees:
            for label, vote in leaf_of(x):
                y_pred[label] = vote + y_pred.get(label, 0)
        total = sum(y_pred.values())
        if total > 0:
            return {label: proba / total for label, proba in y_pred.items()}
        return y_pred


Votes = tuple[tuple[Any, float], ...]
LeafOf = Callable[[dict[Hashable, Any]], Votes]
MAX_COMPILED_DEPTH = 40
"""Deeper trees are walked, not compiled (Python nests at most 100 indented blocks)."""


def _leaf_finder(root: Node) -> LeafOf:
    """A function from ``x`` to its leaf's probabilities: the tree compiled to nested
    ``if`` statements (a few comparisons per tree), or a walk over the nodes."""
    source: list[str] = ["def leaf_of(x):"]
    leaves: list[Votes] = []
    if not _emit(root, 1, source, leaves):
        return partial(_walk, root)
    namespace: dict[str, Any] = {"M": _MISSING, "L": leaves}
    exec(compile("\n".join(source), "<frozen tree>", "exec"), namespace)
    found: LeafOf = namespace["leaf_of"]
    return found


def _emit(node: Node, depth: int, source: list[str], leaves: list[Votes]) -> bool:
    """Append ``node``'s code at ``depth``; ``False`` when it cannot be compiled (too deep,
    a feature that is not a string, a threshold that is not a finite float)."""
    pad = "    " * depth
    if type(node) is not list:
        source.append(f"{pad}return L[{len(leaves)}]")
        leaves.append(node)
        return True
    feature, threshold, left, right, fallback = node
    if depth > MAX_COMPILED_DEPTH or type(feature) is not str:
        return False
    if not isinstance(threshold, float | int) or not math.isfinite(threshold):
        return False
    # A missing feature follows River's most travelled branch.
    test = "v is M or v <= {}" if fallback is left else "v is not M and v <= {}"
    source.append(f"{pad}v = x.get({feature!r}, M)")
    source.append(f"{pad}if {test.format(repr(float(threshold)))}:")
    if not _emit(left, depth + 1, source, leaves):
        return False
    source.append(f"{pad}else:")
    return _emit(right, depth + 1, source, leaves)


def _walk(node: Node, x: dict[Hashable, Any]) -> Votes:
    while type(node) is list:
        feature, threshold, left, right, fallback = node
        value = x.get(feature, _MISSING)
        if value is _MISSING:
            node = fallback
        elif value <= threshold:
            node = left
        else:
            node = right
    votes: Votes = node
    return votes


def _freeze_tree(tree: Any, weight: float | None) -> Node:
    classes = sorted(tree.classes)
    if tree._root is None:
        return _votes({c: 0.0 for c in classes}, weight)
    return _freeze(tree._root, classes, weight)


def _freeze(node: Any, classes: list[Any], weight: float | None) -> Node:
    if isinstance(node, NumericBinaryBranch):
        left, right = node.children
        _, common = node.most_common_path()  # River's way when the feature is missing
        frozen_left, frozen_right = _freeze(left, classes, weight), _freeze(right, classes, weight)
        fallback = frozen_left if common is left else frozen_right
        return [node.feature, node.threshold, frozen_left, frozen_right, fallback]
    majority = type(node).prediction is LeafMajorityClass.prediction  # not naive Bayes
    if isinstance(node, LeafMajorityClass) and majority:
        return _votes({c: 0.0 for c in classes} | _normalized(node.stats), weight)
    raise NotFrozenError(f"cannot flatten a {type(node).__name__}")


def _votes(proba: dict[Any, float], weight: float | None) -> Votes:
    """A leaf's probabilities times its tree's vote weight, as River multiplies them."""
    return tuple((c, p * weight if weight is not None else p) for c, p in proba.items())


def _normalized(stats: dict[Any, float]) -> dict[Any, float]:
    # river.utils.norm.normalize_values_in_dict(stats, inplace=False), value for value.
    factor = sum(stats.values())
    if factor == 0 or math.isnan(factor):
        return dict(stats)
    multiplier = 1 / factor
    return {label: value * multiplier for label, value in stats.items()}
