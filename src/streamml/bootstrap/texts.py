"""The text side of a bootstrap: labelled texts from a data set or the lake, one
trained model per task, and what the pass saw."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from streamml.bootstrap.emotion import TextHistory, learn_text_history
from streamml.bootstrap.publish import fingerprinted
from streamml.errors import ConfigurationError
from streamml.models.emotion import emotion_model
from streamml.records import Label, TextEvent
from streamml.settings import Settings
from streamml.snapshots import Snapshot, take

TEXT_SOURCES = ("emotion6", "crowdflower", "lake", "none")


def text_history(settings: Settings, source: str, until: datetime) -> TextHistory:
    """Each task's trainer after a pass over the labelled texts of ``source``."""
    bad: Counter[str] = Counter()
    records: Iterator[TextEvent | Label]
    if source == "lake":
        from streamml.bootstrap.lake import LakeHistory

        lake = LakeHistory(settings.lake(), settings.topics)
        lake.require(["texts"])
        records = iter(lake.texts(until, bad))
    elif source in ("emotion6", "crowdflower"):
        from streamml.evaluate.emotion import load_corpus

        # Files carry no times: their history is what an evaluation streams (emotion6's
        # train and val splits, CrowdFlower's first 80 % by tweet id), never its test.
        records = iter(load_corpus(source, settings.data_dir).stream)
    else:
        raise ConfigurationError(f"--texts {source!r}: choose one of {', '.join(TEXT_SOURCES)}")
    history = learn_text_history(
        records, settings.emotion_tasks, settings.emotion_default_taxonomy, emotion_model
    )
    history.skipped.update(bad)
    if not history.trainers:
        raise ConfigurationError(f"no labelled text of a configured task in {source}")
    return history


def text_report(history: TextHistory, source: str) -> dict[str, Any]:
    """What the pass read, skipped and learned, per task."""
    return {
        "source": source,
        "rows": history.rows,
        "texts": history.texts,
        "labels": history.labels,
        "bad_rows": dict(sorted(history.skipped.items())),
        "tasks": {
            task: {
                "examples": t.examples,
                "metrics": {k: round(float(m.get()), 4) for k, m in t.measures.items()},
            }
            for task, t in sorted(history.trainers.items())
        },
    }


def text_snapshots(history: TextHistory, source: str, until: datetime) -> list[Snapshot]:
    """One fingerprinted snapshot per task learned."""
    found = []
    for task, trainer in sorted(history.trainers.items()):
        provenance = {
            "kind": "bootstrap",
            "source": source,
            "until": until.isoformat() if source == "lake" else None,
            "rows": history.rows,
            "examples": trainer.examples,
        }
        measured = {k: float(m.get()) for k, m in trainer.measures.items()}
        snapshot = take(task, 0, trainer.examples, trainer.model, measured, provenance=provenance)
        found.append(fingerprinted(snapshot, provenance))
    return found
