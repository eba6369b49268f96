"""Emotion evaluation: the worker's text model over a labelled corpus, next to a batch baseline.

The online model (whatever :func:`streamml.models.emotion.emotion_model` builds) goes
once over the corpus's stream prequentially, as the trainer does (predict, then learn
each text), then scores the held-out test without learning. A batch TF-IDF + linear SVM,
fitted once on the baseline's training texts, scores the same test, so the report says
how far the stream model is from a plain offline classifier.

- emotion6: the stream is train then val (file order), the test is test. The baseline is
  fitted on train only: the split's usual protocol, val being for model selection (the
  baseline's hyperparameters are fixed, not tuned). The online model thus sees val too,
  as a deployed stream model would.
- crowdflower: tweets in ``tweet_id`` order; the first 80 % are the stream and the
  baseline's training set, the last 20 % the test.

Predictions are the argmax of ``predict_proba_one``, as the worker's scorer publishes
them; a model that cannot score yet predicts :data:`NO_PREDICTION` (always wrong).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamml.datasets import crowdflower, emotion6
from streamml.datasets._common import require_file
from streamml.errors import ConfigurationError
from streamml.evaluate.fraud import peak_memory_mib
from streamml.records import TextEvent
from streamml.snapshots import encode_model

logger = logging.getLogger(__name__)

DATASETS = ("emotion6", "crowdflower")
HOLDOUT = 0.2
"""crowdflower: the share of the stream, by ``tweet_id``, held out as the test."""
PROGRESS_EVERY = 5000
NO_PREDICTION = "<none>"
BASELINE = "TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)) + LinearSVC(random_state=0)"


@dataclass(frozen=True, slots=True)
class EmotionCorpus:
    """One evaluation's texts: learned prequentially, held out, and the baseline's."""

    name: str
    stream: list[TextEvent]
    test: list[TextEvent]
    baseline_train: list[TextEvent]
    protocol: dict[str, str] = field(default_factory=dict)


def load_corpus(name: str, data_dir: Path, *, holdout: float = HOLDOUT) -> EmotionCorpus:
    """The corpus called ``name`` (one of :data:`DATASETS`), read from ``data_dir``."""
    if name == "emotion6":
        return load_emotion6(data_dir)
    if name == "crowdflower":
        return load_crowdflower(data_dir, holdout=holdout)
    raise ConfigurationError(f"unknown emotion dataset {name!r}; use {' or '.join(DATASETS)}")


def load_emotion6(data_dir: Path) -> EmotionCorpus:
    """Stream train then val, test on test, baseline fitted on train."""
    paths = {s: require_file(data_dir, emotion6.file_name(s)) for s in emotion6.SPLITS}
    split = {s: _nonempty(list(emotion6.read_emotion6(p, s)), p) for s, p in paths.items()}
    return EmotionCorpus(
        name="emotion6",
        stream=split["train"] + split["val"],
        test=split["test"],
        baseline_train=split["train"],
        protocol={"stream": "train+val", "test": "test", "baseline_train": "train"},
    )


def load_crowdflower(data_dir: Path, *, holdout: float = HOLDOUT) -> EmotionCorpus:
    """Stream the first ``1 - holdout`` of the tweets by ``tweet_id``, test on the rest."""
    if not 0 < holdout < 1:
        raise ConfigurationError(f"holdout must be between 0 and 1, got {holdout}")
    path = require_file(data_dir, crowdflower.FILE_NAME)
    tweets = list(crowdflower.read_crowdflower(path))  # sorted by tweet_id
    cut = len(tweets) - round(len(tweets) * holdout)
    if not 0 < cut < len(tweets):
        raise ConfigurationError(f"{path}: {len(tweets)} tweets are too few to hold some out")
    share = f"{1 - holdout:.0%}"
    return EmotionCorpus(
        name="crowdflower",
        stream=tweets[:cut],
        test=tweets[cut:],
        baseline_train=tweets[:cut],
        protocol={
            "stream": f"first {share} by tweet_id",
            "test": f"last {holdout:.0%} by tweet_id",
            "baseline_train": f"first {share} by tweet_id",
        },
    )


def _nonempty(texts: list[TextEvent], path: Path) -> list[TextEvent]:
    if not texts:
        raise ConfigurationError(f"{path}: no labelled texts")
    return texts


@dataclass(slots=True)
class Predictions:
    """What a model said about each text, the truth, and how long it took."""

    truth: list[str] = field(default_factory=list)
    predicted: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def texts_per_second(self) -> float | None:
        return round(len(self.truth) / self.seconds, 1) if self.seconds else None


def predicted_class(model: Any, text: str) -> str:
    """The class the worker would publish for ``text``: the most probable one."""
    proba = model.predict_proba_one(text)
    return str(max(proba, key=proba.__getitem__)) if proba else NO_PREDICTION


def prequential(
    model: Any, texts: Sequence[TextEvent], *, name: str = "", every: int = PROGRESS_EVERY
) -> Predictions:
    """Predict each text, then learn it (the trainer's order); log progress every ``every``."""
    out = Predictions()
    started = time.perf_counter()
    for text in texts:
        out.predicted.append(predicted_class(model, text.text))
        out.truth.append(_label(text))
        model.learn_one(text.text, out.truth[-1])
        if len(out.truth) % every == 0:
            out.seconds = time.perf_counter() - started
            logger.info(
                "%s: %d/%d texts learned, prequential accuracy %.4f, %s texts/s",
                name,
                len(out.truth),
                len(texts),
                _accuracy(out),
                out.texts_per_second,
            )
    out.seconds = time.perf_counter() - started
    return out


def score_only(model: Any, texts: Sequence[TextEvent]) -> Predictions:
    """Predict every text; learn nothing."""
    started = time.perf_counter()
    predicted = [predicted_class(model, text.text) for text in texts]
    return Predictions([_label(t) for t in texts], predicted, time.perf_counter() - started)


def _label(text: TextEvent) -> str:
    if text.label is None:
        raise ConfigurationError(f"text {text.event_id} has no label")
    return text.label


def _accuracy(p: Predictions) -> float:
    return sum(t == y for t, y in zip(p.truth, p.predicted, strict=True)) / max(len(p.truth), 1)


def classification_figures(truth: Sequence[str], predicted: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1 over the classes in ``truth``, per-class figures, confusion.

    The confusion matrix has a row per true class and a column per class in either list.

    Examples
    --------
    >>> figures = classification_figures(["joy", "joy", "sad"], ["joy", "sad", "sad"])
    >>> figures["accuracy"], figures["macro_f1"], figures["per_class"]["joy"]["recall"]
    (0.6667, 0.6667, 0.5)
    >>> figures["confusion"]["counts"]
    [[1, 1], [0, 1]]
    """
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    labels = sorted(set(truth))
    columns = labels + sorted(set(predicted) - set(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        truth, predicted, labels=labels, zero_division=0
    )
    counts = confusion_matrix(truth, predicted, labels=columns)[: len(labels)]
    per_class = {
        label: {
            "precision": _round(precision[i]),
            "recall": _round(recall[i]),
            "f1": _round(f1[i]),
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    return {
        "n": len(truth),
        "accuracy": _round(accuracy_score(truth, predicted)),
        "macro_f1": _round(sum(f1) / len(labels)) if labels else None,
        "per_class": per_class,
        "confusion": {"truth": labels, "predicted": columns, "counts": counts.tolist()},
    }


def _round(value: Any, digits: int = 4) -> float:
    return round(float(value), digits)


def baseline_figures(train: Sequence[TextEvent], test: Sequence[TextEvent]) -> dict[str, Any]:
    """Fit :data:`BASELINE` on ``train`` once, score ``test``: the same figures, and time."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    model = make_pipeline(
        TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2)), LinearSVC(random_state=0)
    )
    logger.info("baseline: fitting on %d texts", len(train))
    started = time.perf_counter()
    model.fit([t.text for t in train], [_label(t) for t in train])
    fitted = time.perf_counter()
    predicted = [str(y) for y in model.predict([t.text for t in test])]
    predicting = time.perf_counter() - fitted
    figures = classification_figures([_label(t) for t in test], predicted)
    figures.update(
        model=BASELINE,
        train_texts=len(train),
        fit_seconds=round(fitted - started, 2),
        predict_seconds=round(predicting, 3),
        predict_texts_per_second=round(len(test) / predicting, 1) if predicting else None,
    )
    return figures


def evaluate_emotion(
    corpus: EmotionCorpus, model_factory: Callable[[], Any], *, every: int = PROGRESS_EVERY
) -> dict[str, Any]:
    """Stream, test and baseline figures of ``corpus`` as one JSON-ready dict."""
    started = time.perf_counter()
    model = model_factory()
    stream = prequential(model, corpus.stream, name=corpus.name, every=every)
    test = score_only(model, corpus.test)
    online_peak = peak_memory_mib()
    online = _online_report(model, stream, test)
    baseline = baseline_figures(corpus.baseline_train, corpus.test)
    ratio = _ratio(online["test"]["macro_f1"], baseline["macro_f1"])
    report: dict[str, Any] = {
        "dataset": corpus.name,
        "protocol": corpus.protocol,
        "counts": {
            "stream": len(corpus.stream),
            "test": len(corpus.test),
            "baseline_train": len(corpus.baseline_train),
        },
        **online,
        "baseline": baseline,
        "ratio_macro_f1": ratio,
        "ratio_accuracy": _ratio(online["test"]["accuracy"], baseline["accuracy"]),
        "online_peak_memory_mib": round(online_peak, 1),
        "peak_memory_mib": round(peak_memory_mib(), 1),
        "wall_seconds": round(time.perf_counter() - started, 2),
    }
    return report


def _online_report(model: Any, stream: Predictions, test: Predictions) -> dict[str, Any]:
    test_figures = classification_figures(test.truth, test.predicted)
    test_figures.update(seconds=round(test.seconds, 3), texts_per_second=test.texts_per_second)
    return {
        "model": " ".join(repr(model).split())[:2000],
        "learned": len(stream.truth),
        "prequential": {
            "n": len(stream.truth),
            "accuracy": _round(_accuracy(stream)),
            "seconds": round(stream.seconds, 2),
        },
        "test": test_figures,
        "texts_per_second": stream.texts_per_second,
        "model_snapshot_bytes": len(encode_model(model)),
    }


def _ratio(online: float | None, baseline: float | None) -> float | None:
    return round(online / baseline, 4) if online is not None and baseline else None
