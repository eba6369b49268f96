"""The report's plots (matplotlib, Agg), each written as a PNG; each returns the figures
it shows so that the page can print them too."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.metrics import (
    average_precision_score,
    confusion_matrix,
    f1_score,
    precision_recall_curve,
    roc_auc_score,
)

from streamml.report.lake import LakeTables

MAX_BUCKETS = 20
MIN_POSITIVES = 30
"""Frauds a slice of a binary task holds at least: fewer make its AUC a coin toss."""
NO_PREDICTION = "(none)"
"""The class shown for texts scored before the task had a model."""
MAX_LATENCY_SECONDS = 86_400.0
"""Longer gaps mean the source carried event time as its Kafka timestamp: not a latency."""


@dataclass(frozen=True, slots=True)
class Outcomes:
    """One task's labelled predictions: time, truth, and score or predicted class."""

    task: str
    frame: pd.DataFrame  # event_time, y, score (fraud) or predicted (classes)
    binary: bool


def outcomes(tables: LakeTables) -> list[Outcomes]:
    """Each task's predictions joined with the labels that arrived for them."""
    found = []
    labels = tables.labels[["event_id", "label"]] if len(tables.labels) else pd.DataFrame()
    fraud = tables.fraud_predictions
    if len(fraud) and len(labels):
        scored = fraud[fraud["score"].notna()][["event_id", "event_time", "score"]]
        joined = scored.merge(labels[labels["label"].isin(["0", "1"])], on="event_id")
        if len(joined):
            joined = joined.assign(y=joined["label"] == "1")
            found.append(Outcomes("fraud", joined.drop_duplicates("event_id"), True))
    texts = tables.emotion_predictions
    if len(texts):
        truth = [labels] if len(labels) else []
        if len(tables.texts) and "label" in tables.texts:
            carried = tables.texts[tables.texts["label"].notna()][["event_id", "label"]]
            truth.append(carried)
        if truth:
            known = pd.concat(truth).drop_duplicates("event_id", keep="last")
            columns = ["event_id", "event_time", "task", "predicted_class"]
            joined = texts[columns].merge(known, on="event_id")
            renamed = joined.rename(columns={"predicted_class": "predicted", "label": "y"})
            for task, frame in renamed.groupby("task"):
                found.append(Outcomes(str(task), frame.drop_duplicates("event_id"), False))
    return found


@dataclass(frozen=True, slots=True)
class QualityFigures:
    """A task's quality overall and per slice of event time, and the drift alerts and
    promotions marked on its plot (times as ISO strings, for ``report.json``)."""

    overall: dict[str, float]
    slices: list[dict[str, Any]]
    markers: list[dict[str, Any]]


def _buckets(frame: pd.DataFrame, binary: bool) -> list[pd.DataFrame]:
    """Consecutive slices of equal count in event-time order (for a binary task, each
    with about :data:`MIN_POSITIVES` positives or more)."""
    ordered = frame.sort_values("event_time").reset_index(drop=True)
    n = min(MAX_BUCKETS, max(1, len(ordered) // 50))
    if binary:
        n = min(n, max(1, int(ordered["y"].sum()) // MIN_POSITIVES))
    edges = np.linspace(0, len(ordered), n + 1).astype(int)
    return [ordered.iloc[a:b] for a, b in pairwise(edges) if b > a]


def _quality(o: Outcomes, part: pd.DataFrame) -> dict[str, float]:
    if o.binary:
        if part["y"].nunique() < 2:
            return {"AUC ROC": float("nan"), "average precision": float("nan")}
        return {
            "AUC ROC": float(roc_auc_score(part["y"], part["score"])),
            "average precision": float(average_precision_score(part["y"], part["score"])),
        }
    predicted = part["predicted"].fillna(NO_PREDICTION)
    return {
        "accuracy": float((predicted == part["y"]).mean()),
        "macro-F1": float(f1_score(part["y"], predicted, average="macro", zero_division=0)),
    }


def quality_figure(o: Outcomes, alerts: pd.DataFrame, path: Path) -> QualityFigures:
    """Quality per slice of event time, with this task's drift alerts and promotions."""
    parts = _buckets(o.frame, o.binary)
    slices = [_slice(o, part) for part in parts]
    markers = _markers(o.task, alerts)
    fig, ax = plt.subplots(figsize=(9, 4))
    middles: list[Any] = [part["event_time"].iloc[len(part) // 2] for part in parts]
    for name in slices[0]["figures"]:
        values = [s["figures"][name] for s in slices]
        ax.plot(middles, values, marker="o", label=name)
    for marker in markers:
        promoted = marker["state"] == "promoted"
        when: Any = pd.Timestamp(marker["time"])
        ax.axvline(
            when,
            color="green" if promoted else "red",
            linestyle="--" if promoted else ":",
            alpha=0.7,
        )
    ax.set_title(f"{o.task}: quality over event time (red: drift alert, green: promotion)")
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("event time")
    ax.legend(loc="lower left")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return QualityFigures(_quality(o, o.frame), slices, markers)


def _slice(o: Outcomes, part: pd.DataFrame) -> dict[str, Any]:
    found: dict[str, Any] = {
        "from": part["event_time"].iloc[0].isoformat(),
        "to": part["event_time"].iloc[-1].isoformat(),
        "middle": part["event_time"].iloc[len(part) // 2].isoformat(),
        "labelled_predictions": len(part),
        "figures": _quality(o, part),
    }
    if o.binary:
        found["positives"] = int(part["y"].sum())
    return found


def _markers(task: str, alerts: pd.DataFrame) -> list[dict[str, Any]]:
    """The task's started drift episodes and promotions, in time order."""
    if not len(alerts):
        return []
    mine = alerts[(alerts["task"] == task) & alerts["state"].isin(["started", "promoted"])]
    return [
        {
            "state": str(a["state"]),
            "kind": str(a["kind"]),
            "subject": str(a["subject"]),
            "time": a["window_end_time"].isoformat(),
            "model_version": str(a["model_version"]),
        }
        for _, a in mine.sort_values("window_end_time").iterrows()
    ]


def latencies(tables: LakeTables) -> pd.Series:
    """Seconds from each source record's Kafka timestamp to its prediction, indexed by
    the prediction's processing time."""
    pairs = [
        (tables.fraud_predictions, tables.transactions),
        (tables.emotion_predictions, tables.texts),
    ]
    found = []
    for predictions, sources in pairs:
        if len(predictions) and len(sources):
            joined = predictions[["event_id", "processed_time"]].merge(
                sources[["event_id", "kafka_timestamp"]].drop_duplicates("event_id"), on="event_id"
            )
            seconds = (joined["processed_time"] - joined["kafka_timestamp"]).dt.total_seconds()
            found.append(pd.Series(seconds.to_numpy(), index=joined["processed_time"]))
    if not found:
        return pd.Series(dtype=float)
    seconds = pd.concat(found).sort_index()
    return seconds[(seconds >= 0) & (seconds <= MAX_LATENCY_SECONDS)]


def latency_figure(tables: LakeTables, path: Path) -> dict[str, Any]:
    """The distribution of latencies, and their p50 / p99 over processing time: a queue
    that builds up (a rate the machine does not hold, a slow start) shows apart from
    the steady state there."""
    seconds = latencies(tables)
    fig, (spread, course) = plt.subplots(1, 2, figsize=(11, 3.8))
    figures: dict[str, Any] = {}
    if len(seconds):
        figures = {
            "p50_ms": float(seconds.quantile(0.5) * 1000),
            "p99_ms": float(seconds.quantile(0.99) * 1000),
            "max_ms": float(seconds.max() * 1000),
            "over_time": _latency_course(seconds),
        }
        spread.hist(seconds * 1000, bins=50, color="steelblue")
        spread.set_title(
            f"event to prediction: p50 {figures['p50_ms']:.0f} ms, "
            f"p99 {figures['p99_ms']:.0f} ms ({len(seconds)} predictions)",
            fontsize=10,
        )
        spread.set_xlabel("ms from the source record's Kafka timestamp")
        times: list[Any] = [pd.Timestamp(row["at"]) for row in figures["over_time"]]
        for name in ("p50_ms", "p99_ms"):
            course.plot(times, [row[name] for row in figures["over_time"]], label=name[:3])
        course.set_yscale("log")
        course.set_title("over the run", fontsize=10)
        course.set_ylabel("ms")
        course.legend()
        fig.autofmt_xdate()
    else:
        spread.set_title("no latency: no source record with a wall-clock Kafka timestamp")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return figures


def _latency_course(seconds: pd.Series) -> list[dict[str, Any]]:
    """p50 and p99 per slice of processing time (about 30 slices)."""
    index = pd.DatetimeIndex(seconds.index)
    step = max(1, int((index.max() - index.min()).total_seconds() / 30))
    found = []
    for at, part in seconds.groupby(index.floor(f"{step}s")):
        when: Any = at
        found.append(
            {
                "at": when.isoformat(),
                "predictions": len(part),
                "p50_ms": float(part.quantile(0.5) * 1000),
                "p99_ms": float(part.quantile(0.99) * 1000),
            }
        )
    return found


def throughput_figure(tables: LakeTables, path: Path) -> dict[str, float]:
    """Predictions per second over processing time, per task."""
    frames = [f for f in (tables.fraud_predictions, tables.emotion_predictions) if len(f)]
    fig, ax = plt.subplots(figsize=(9, 3.5))
    peak: dict[str, float] = {}
    if frames:
        both = pd.concat([f[["task", "processed_time"]] for f in frames])
        span = (both["processed_time"].max() - both["processed_time"].min()).total_seconds()
        step = max(1, int(span / 60))
        for task, frame in both.groupby("task"):
            rate = frame.set_index("processed_time").resample(f"{step}s").size() / step
            ax.plot(rate.index, rate.to_numpy(), label=str(task))
            peak[f"{task}_peak_per_second"] = float(rate.max())
        ax.legend()
    ax.set_title("predictions per second")
    ax.set_xlabel("processing time")
    fig.autofmt_xdate()
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return peak


def confusion_figure(o: Outcomes, path: Path) -> list[str]:
    predicted = o.frame["predicted"].fillna(NO_PREDICTION)
    classes = sorted(set(o.frame["y"]) | set(predicted))
    matrix = confusion_matrix(o.frame["y"], predicted, labels=classes)
    size = max(4.0, 0.55 * len(classes) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(matrix, cmap="Blues")
    ax.set_xticks(range(len(classes)), classes, rotation=60, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("label")
    ax.set_title(f"{o.task}: confusion matrix")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return classes


def precision_recall_figure(o: Outcomes, path: Path) -> dict[str, Any]:
    precision, recall, _ = precision_recall_curve(o.frame["y"], o.frame["score"])
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.plot(recall, precision)
    ax.set_xlabel("recall")
    ax.set_ylabel("precision")
    ap = float(average_precision_score(o.frame["y"], o.frame["score"]))
    ax.set_title(f"{o.task}: precision / recall (AP {ap:.3f})")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return {"frauds": int(o.frame["y"].sum())}
