"""What the challenger reaction buys after a concept change, measured on emotion6.

Streams emotion6 train through a trainer with the drift watch on, two labels swapped
from ``--change`` on, once with the challenger reaction and once without; prints, as
JSON, the alerts and promotions and the accuracy of the served model (prequential,
before it learns each text) over the last ``--tail`` texts.

    .venv/bin/python benchmarks/challenger_emotion.py --data ../shared/datasets
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from streamml.challenger import ChallengerPolicy
from streamml.datasets.emotion6 import file_name, read_emotion6
from streamml.internal import Example
from streamml.models.emotion import emotion_model
from streamml.records import TextEvent
from streamml.train import Trainer, multiclass_metrics
from streamml.watch import DriftWatch

SWAP = {"joy": "sadness", "sadness": "joy"}
T0 = datetime(2024, 1, 1, tzinfo=UTC)


def run(texts: list[TextEvent], change: int, tail: int, window: int | None) -> dict[str, Any]:
    trainer = Trainer(
        "emotion6",
        emotion_model(),
        every_examples=10**9,
        every_seconds=10**9,
        measures=multiclass_metrics,
        watch=DriftWatch.for_task("emotion6", text=True),
        challenge_with=emotion_model if window else None,
        challenger_policy=ChallengerPolicy(window=window or 1),
    )
    correct, alerts = [], []
    for i, text in enumerate(texts):
        label = text.label or ""
        y = SWAP.get(label, label) if i >= change else label
        correct.append(trainer.model.predict_one(text.text) == y)
        when = T0 + timedelta(seconds=i)
        trainer.learn(Example(text.event_id, text.text, y, when, when, "emotion6"), i)
        alerts += [
            {"at": i, "state": a.state, "subject": a.subject, "statistic": round(a.statistic, 4)}
            for a in trainer.alerts
            if a.kind == "concept"
        ]
        trainer.alerts.clear()
    return {
        "challenger_window": window,
        "alerts": alerts,
        "tail_accuracy": round(sum(correct[-tail:]) / tail, 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--change", type=int, default=8_000)
    parser.add_argument("--tail", type=int, default=3_000)
    parser.add_argument("--window", type=int, default=2_000)
    args = parser.parse_args()
    texts = list(read_emotion6(args.data / file_name("train"), "train"))
    runs = [run(texts, args.change, args.tail, w) for w in (args.window, None)]
    print(json.dumps({"texts": len(texts), "change_at": args.change, "runs": runs}))


if __name__ == "__main__":
    main()
