"""Challenger models: on concept drift the trainer starts a fresh model from the drift
point, trains it beside the champion on the same examples, and promotes it once it has
beaten the champion over a whole window (ADR 0013).

Both are scored on each example before either learns it (prequentially), with the same
loss the concept detector watches: the Brier score of a binary task's probability, the
0/1 error of a multiclass one. A challenger that has not won after ``patience`` windows
is dropped: the drift was one the champion could follow.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from streamml.internal import Example


def example_loss(y: Any, proba: Mapping[Any, float]) -> float:
    """The loss of one prediction: Brier score for ``bool`` labels, else 0/1 error.

    >>> example_loss(True, {True: 0.75, False: 0.25})
    0.0625
    >>> example_loss("joy", {"joy": 0.4, "fear": 0.6})
    1.0
    """
    if isinstance(y, bool):
        return (float(proba.get(True, 0.0)) - float(y)) ** 2
    predicted = max(proba, key=proba.__getitem__) if proba else None
    return 0.0 if predicted == y else 1.0


@dataclass(frozen=True, slots=True)
class ChallengerPolicy:
    """When a challenger wins: over the last ``window`` examples, its loss is below the
    champion's by more than ``z`` standard errors of the mean paired difference (a
    one-sided paired test, 1 % at the default), so that a tie is never a promotion.
    After ``patience`` windows without a win it is dropped."""

    window: int = 2_000
    z: float = 2.33
    patience: int = 5


@dataclass(frozen=True, slots=True)
class Outcome:
    """A challenger's end: ``promoted`` (its model replaces the champion) or ``dropped``."""

    state: str
    model: Any
    examples: int
    challenger_loss: float
    champion_loss: float


@dataclass(slots=True)
class Challenger:
    """A model trained from the drift point on, against the champion.

    >>> from river import naive_bayes
    >>> from datetime import UTC, datetime
    >>> t = datetime(2024, 1, 1, tzinfo=UTC)
    >>> champion = naive_bayes.GaussianNB()
    >>> for i in range(2000):  # learned: y is x > 0
    ...     champion.learn_one({"x": i % 7 - 3.0}, i % 7 > 3)
    >>> challenger = Challenger(naive_bayes.GaussianNB(), ChallengerPolicy(window=200))
    >>> outcomes = []
    >>> for i in range(400):  # then the concept flips: y is x < 0
    ...     x = {"x": i % 7 - 3.0}
    ...     example = Example(str(i), x, i % 7 < 3, t, t)
    ...     outcomes.append(challenger.observe(example, champion.predict_proba_one(x)))
    ...     champion.learn_one(x, i % 7 < 3)
    >>> first = next(o for o in outcomes if o)
    >>> first.state, first.examples, first.challenger_loss < first.champion_loss
    ('promoted', 200, True)
    """

    model: Any
    policy: ChallengerPolicy
    examples: int = 0
    _champion: deque[float] = field(default_factory=deque)
    _challenger: deque[float] = field(default_factory=deque)

    def observe(self, example: Example, champion_proba: Mapping[Any, float]) -> Outcome | None:
        """Score the example with both (the champion's ``champion_proba`` was taken before
        it learned), learn it, and say whether the challenger has won or is given up."""
        window = self.policy.window
        for losses, proba in (
            (self._champion, champion_proba),
            (self._challenger, self.model.predict_proba_one(example.x)),
        ):
            losses.append(example_loss(example.y, proba))
            if len(losses) > window:
                losses.popleft()
        self.model.learn_one(example.x, example.y)
        self.examples += 1
        if self.examples < window:
            return None
        champion, challenger = sum(self._champion) / window, sum(self._challenger) / window
        if self._wins(champion - challenger):
            return Outcome("promoted", self.model, self.examples, challenger, champion)
        if self.examples >= window * self.policy.patience:
            return Outcome("dropped", self.model, self.examples, challenger, champion)
        return None

    def _wins(self, mean_gain: float) -> bool:
        if mean_gain <= 0:
            return False
        n = len(self._champion)
        gains = [a - b for a, b in zip(self._champion, self._challenger, strict=True)]
        variance = sum((g - mean_gain) ** 2 for g in gains) / max(n - 1, 1)
        return mean_gain > self.policy.z * math.sqrt(variance / n)


DEFAULT_POLICY = ChallengerPolicy()
