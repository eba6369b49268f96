"""River's Gaussian split observer without a random generator in every Gaussian.

River's :class:`~river.proba.Gaussian` owns a ``random.Random`` (for ``sample()``, which
Hoeffding trees never call): 3.8 kB of pickled Mersenne-Twister state per class, per
observed feature, per leaf. In an adaptive random forest that state is about nine tenths
of a model snapshot. These subclasses keep the same statistics and the same splits, and
build a generator only if something samples.
"""

from __future__ import annotations

import random
from typing import Any

from river import proba, stats
from river.tree.splitter import GaussianSplitter


class LeanGaussian(proba.Gaussian):
    """A :class:`~river.proba.Gaussian` whose random generator is created on first use.

    Examples
    --------
    >>> import pickle
    >>> lean, full = LeanGaussian(), proba.Gaussian()
    >>> for x in (5.0, 6.0, 8.0):
    ...     lean.update(x)
    ...     full.update(x)
    >>> (lean.mu, lean.sigma, lean(6.5)) == (full.mu, full.sigma, full(6.5))
    True
    >>> len(pickle.dumps(lean)) < len(pickle.dumps(full)) / 10
    True
    """

    def __init__(self, seed: int | None = None) -> None:
        # Deliberately not proba.Gaussian.__init__: it builds the generator eagerly.
        self.seed = seed
        self._var = stats.Var(ddof=1)

    def __getattr__(self, name: str) -> Any:
        if name == "_rng":  # only sample() reads it
            self._rng = random.Random(self.seed)
            return self._rng
        raise AttributeError(name)


class LeanGaussianSplitter(GaussianSplitter):
    """:class:`~river.tree.splitter.GaussianSplitter` keeping :class:`LeanGaussian` per class.

    Examples
    --------
    >>> splitter = LeanGaussianSplitter()
    >>> splitter.update(3.0, True, 1.0)
    >>> type(splitter._att_dist_per_class[True]).__name__
    'LeanGaussian'
    """

    def update(self, att_val: Any, target_val: Any, w: float) -> None:
        """Observe one value of the feature for class ``target_val`` with weight ``w``."""
        if att_val is not None and target_val not in self._att_dist_per_class:
            self._att_dist_per_class[target_val] = LeanGaussian()
            self._min_per_class[target_val] = att_val
            self._max_per_class[target_val] = att_val
        super().update(att_val, target_val, w)  # type: ignore[no-untyped-call]
