"""One prediction of the served fraud forest: River's model against its frozen copy.

Trains the served model (streamml.models.fraud.fraud_model) on the handbook's first
``--train`` transactions with their labels, then times ``predict_proba_one`` on the next
``--probe`` transactions' features, both ways, and checks they agree exactly. No Kafka.

    .venv/bin/python benchmarks/bench_serving.py > serving.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

from streamml.datasets.fraud_handbook import FILE_NAME, read_fraud_handbook
from streamml.features.store import FraudFeatureStore
from streamml.models.fraud import fraud_model
from streamml.models.serving import for_serving
from streamml.records import Label, Transaction
from streamml.settings import Settings


def microseconds_per_prediction(model: Any, xs: list[dict[str, float]], runs: int) -> float:
    timings = []
    for _ in range(runs):
        began = time.perf_counter()
        for x in xs:
            model.predict_proba_one(x)
        timings.append((time.perf_counter() - began) / len(xs) * 1e6)
    return statistics.median(timings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=100_000)
    parser.add_argument("--probe", type=int, default=5_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    store, model = FraudFeatureStore(), fraud_model()
    features: dict[str, dict[str, float]] = {}
    probes: list[dict[str, float]] = []
    path = settings.data_dir / FILE_NAME
    seen = 0
    for record in read_fraud_handbook(path, limit=args.train + args.probe):
        if isinstance(record, Transaction):
            x = store.on_transaction(record)
            seen += 1
            if seen > args.train:
                probes.append(x)
            else:
                features[record.event_id] = x
        elif isinstance(record, Label) and record.event_id in features:
            model.learn_one(features.pop(record.event_id), record.label == "1")
    served = for_serving(model)
    river = microseconds_per_prediction(model, probes, args.runs)
    frozen = microseconds_per_prediction(served, probes, args.runs)
    same = all(model.predict_proba_one(x) == served.predict_proba_one(x) for x in probes)
    figures = {
        "trained_on": args.train,
        "predictions": len(probes),
        "river_us": round(river, 1),
        "frozen_us": round(frozen, 1),
        "river_over_frozen": round(river / frozen, 1),
        "identical": same,
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
