"""Where a bootstrap's model learns: in this process, or in a second one beside the
feature pass, which then costs the longer of the two instead of their sum.

Either way the model sees the same examples in the same order, so it ends the same. A
:class:`~streamml.models.sampling.NegativeSampler` draws its sample here and only the
sampled examples cross to the other process (one in twenty genuine payments).
"""

from __future__ import annotations

import multiprocessing
import traceback
from multiprocessing.connection import Connection
from typing import Any, Protocol

from streamml.errors import StreamMLError
from streamml.models.sampling import NegativeSampler
from streamml.models.serving import for_serving

LEARN, SCORE, FREEZE = 0, 1, 2
BATCH = 2048


class Learner(Protocol):
    """Learns examples, scores with the model as last frozen, and hands both back."""

    def learn(self, x: dict[str, float], y: bool) -> None: ...

    def score(self, x: dict[str, float]) -> None:
        """Score ``x``; the scores come back from :meth:`finish`, in order."""
        ...

    def freeze(self) -> None:
        """Serve the model as it is now (a snapshot), once scoring has begun."""
        ...

    def finish(self) -> tuple[Any, list[float]]: ...

    def close(self) -> None:
        """Release what :meth:`finish` did not (after a failure)."""
        ...


class LocalLearner:
    """The model in this process. With ``direct``, the model is a NegativeSampler whose
    draws were made by the caller: examples go to its classifier as they come."""

    def __init__(self, model: Any, *, direct: bool = False) -> None:
        self.model = model
        self._learn = model.classifier.learn_one if direct else model.learn_one
        self.served: Any = None
        self.scores: list[float] = []

    def learn(self, x: dict[str, float], y: bool) -> None:
        self._learn(x, y)

    def score(self, x: dict[str, float]) -> None:
        if self.served is None:
            self.served = for_serving(self.model)
        self.scores.append(float(self.served.predict_proba_one(x).get(True, 0.0)))

    def freeze(self) -> None:
        if self.served is not None:
            self.served = for_serving(self.model)

    def finish(self) -> tuple[Any, list[float]]:
        return self.model, self.scores

    def close(self) -> None:
        return None


class ProcessLearner:
    """The model in a child process, fed batches of operations through a pipe."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.sampler = model if isinstance(model, NegativeSampler) else None
        # fork, not spawn: spawn re-imports the caller's main module, which a script or a
        # notebook does not guard. The child only runs River and the pipe (no client
        # threads, no logging), so what fork leaves behind of other threads is never used.
        context = multiprocessing.get_context("fork")
        self._conn, child = context.Pipe()
        self._process = context.Process(
            target=_serve, args=(child, model, self.sampler is not None), daemon=True
        )
        self._process.start()
        child.close()
        self._ops: list[tuple[Any, ...]] = []

    def learn(self, x: dict[str, float], y: bool) -> None:
        if self.sampler is None or self.sampler.draw(y):
            self._push((LEARN, x, y))

    def score(self, x: dict[str, float]) -> None:
        self._push((SCORE, x))

    def freeze(self) -> None:
        self._push((FREEZE,))

    def finish(self) -> tuple[Any, list[float]]:
        self._flush()
        try:
            self._conn.send(None)
            status, value, scores = self._conn.recv()
        except (EOFError, OSError) as error:
            raise StreamMLError(f"the bootstrap's learning process died: {error!r}") from None
        finally:
            self._process.join(30)
        if status != "ok":
            raise StreamMLError(f"the bootstrap's learning process failed:\n{value}")
        if self.sampler is None:
            return value, scores
        self.sampler.classifier = value
        return self.sampler, scores

    def close(self) -> None:
        if self._process.is_alive():
            self._process.kill()
            self._process.join(5)

    def _push(self, op: tuple[Any, ...]) -> None:
        self._ops.append(op)
        if len(self._ops) >= BATCH:
            self._flush()

    def _flush(self) -> None:
        if not self._ops:
            return
        try:
            self._conn.send(self._ops)
        except (BrokenPipeError, OSError) as error:
            raise StreamMLError(f"the bootstrap's learning process died: {error!r}") from None
        self._ops = []


def _serve(conn: Connection, model: Any, direct: bool) -> None:
    """The child: apply each batch of operations until told to finish."""
    local = LocalLearner(model, direct=direct)
    try:
        while (batch := conn.recv()) is not None:
            for op in batch:
                if op[0] == LEARN:
                    local.learn(op[1], op[2])
                elif op[0] == SCORE:
                    local.score(op[1])
                else:
                    local.freeze()
        trained = model.classifier if direct else model
        conn.send(("ok", trained, local.scores))
    except Exception:
        conn.send(("error", traceback.format_exc(), []))
    finally:
        conn.close()
