"""Per-record cost of the worker's synchronous flow (decode → features → score → emit).

Builds the workload once, times only the loop, prints one JSON object per run.

    .venv/bin/python benchmarks/bench_process.py --events 20000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import time
from datetime import UTC, datetime, timedelta

from streamml.contracts import encode_record
from streamml.records import TextEvent, Transaction
from streamml.settings import Settings
from streamml.testing import InMemoryWorker

START = datetime(2018, 4, 1, tzinfo=UTC)
WORDS = [
    "i",
    "feel",
    "happy",
    "sad",
    "angry",
    "scared",
    "loved",
    "surprised",
    "today",
    "so",
    "very",
    "not",
    "really",
]


def workload(n: int, seed: int) -> tuple[list[bytes], list[bytes]]:
    rng = random.Random(seed)
    txs = [
        encode_record(
            Transaction(
                f"tx{i}",
                START + timedelta(seconds=i),
                f"c{rng.randrange(5000)}",
                f"t{rng.randrange(10000)}",
                round(rng.lognormvariate(3.5, 1), 2),
            ),
            "avro",
        )
        for i in range(n)
    ]
    texts = [
        encode_record(
            TextEvent(
                f"x{i}",
                START + timedelta(seconds=i),
                " ".join(rng.choices(WORDS, k=12)),
                "bench",
                label=rng.choice(["joy", "sadness", "anger"]) if i % 2 else None,
            ),
            "avro",
        )
        for i in range(n)
    ]
    return txs, texts


def run(raw: list[bytes], topic: str) -> float:
    """Events per second through every stage of an in-memory worker (no Kafka)."""
    worker = InMemoryWorker(Settings())
    started = time.perf_counter()
    for value in raw:
        worker.send(topic, value)
    return len(raw) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=20000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    txs, texts = workload(args.events, args.seed)
    topics = Settings().topics
    tx_rates = [run(txs, topics.transactions) for _ in range(args.repeat)]
    text_rates = [run(texts, topics.texts) for _ in range(args.repeat)]
    print(
        json.dumps(
            {
                "benchmark": "process",
                "events": args.events,
                "repeat": args.repeat,
                "transactions_per_second_median": round(statistics.median(tx_rates)),
                "texts_per_second_median": round(statistics.median(text_rates)),
                "transactions_per_second_runs": [round(r) for r in tx_rates],
                "texts_per_second_runs": [round(r) for r in text_rates],
            }
        )
    )


if __name__ == "__main__":
    main()
