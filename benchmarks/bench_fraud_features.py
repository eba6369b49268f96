"""Per-transaction cost of the online fraud features (FraudFeatureStore), on the real file.

Loads the handbook's transactions and their labels (7 days late) into memory once, then
times only the loop of ``on_transaction`` / ``on_label``; prints one JSON object.

    .venv/bin/python benchmarks/bench_fraud_features.py [--to 2018-09-30] [--data FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from streamml.datasets import interleave_labels
from streamml.datasets.fraud_handbook import FILE_NAME, read_fraud_handbook
from streamml.features.fraud import FraudFeatureStore
from streamml.records import Label, Transaction

DATA = Path(__file__).resolve().parents[2] / "shared" / "datasets" / FILE_NAME


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--to", help="Stop before this date (default: the whole file).")
    args = parser.parse_args()
    end = datetime.fromisoformat(args.to).replace(tzinfo=UTC) if args.to else None
    records = list(interleave_labels(read_fraud_handbook(args.data, end=end)))
    labels = sum(isinstance(r, Label) for r in records)
    store = FraudFeatureStore()
    on_transaction, on_label = store.on_transaction, store.on_label
    began = time.perf_counter()
    for record in records:
        if isinstance(record, Label):
            on_label(record)
        elif isinstance(record, Transaction):
            on_transaction(record)
    seconds = time.perf_counter() - began
    transactions = len(records) - labels
    print(
        json.dumps(
            {
                "benchmark": "fraud_features",
                "transactions": transactions,
                "labels": labels,
                "seconds": round(seconds, 3),
                "tx_per_second": round(transactions / seconds),
                "customers": len(store.customers),
                "terminals": len(store.terminals),
                "mean_customer_state_bytes": _mean(
                    len(s.to_bytes()) for s in store.customers.values()
                ),
                "mean_terminal_state_bytes": _mean(
                    len(s.to_bytes()) for s in store.terminals.values()
                ),
                "label_delay": str(timedelta(days=7)),
            }
        )
    )


def _mean(values: Iterable[int]) -> float:
    items = list(values)
    return round(sum(items) / len(items), 1) if items else 0.0


if __name__ == "__main__":
    main()
