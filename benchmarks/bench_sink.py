"""Records per second the lake sink lands from Kafka into an object store.

Produces ``--records`` transactions to a fresh topic (3 partitions), then, for each run,
times a fresh sink (its own consumer group) from its start until every record is in the
store and committed; the sink runs in this process. Prints one JSON object per run and a
summary with the median. Needs a broker and a store, e.g. the local services:

    .venv/bin/streamml services up
    STREAMML_S3_ENDPOINT_URL=http://127.0.0.1:9000 STREAMML_S3_ACCESS_KEY=streamml \\
    STREAMML_S3_SECRET_KEY=streamml-secret \\
    .venv/bin/python benchmarks/bench_sink.py --lake s3://streamml/bench --runs 3
"""

from __future__ import annotations

import argparse
import json
import statistics
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

from confluent_kafka import Producer

from streamml.admin import ensure_topics
from streamml.contracts import encode_record
from streamml.records import Transaction
from streamml.settings import Settings
from streamml.sink import LakeSink


def produce(settings: Settings, n: int) -> None:
    producer = Producer({**settings.kafka_client_config(), "linger.ms": 20})
    start = datetime(2024, 3, 1, tzinfo=UTC)
    for i in range(n):
        tx = Transaction(
            f"tx-{i}", start + timedelta(seconds=i), f"c{i % 997}", f"t{i % 1999}", 10.0 + i % 300
        )
        producer.produce(
            settings.topics.transactions,
            encode_record(tx, "avro"),
            tx.customer_id.encode(),
            timestamp=int(tx.event_time.timestamp() * 1000),
        )
        producer.poll(0)
    producer.flush(60)


def run_once(settings: Settings, n: int) -> dict[str, object]:
    sink = LakeSink(settings, settings.lake())
    stop = threading.Event()
    thread = threading.Thread(target=sink.run, args=(stop,))
    started = time.perf_counter()
    thread.start()
    while sink.written_records < n and thread.is_alive():
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    stop.set()
    thread.join()
    return {
        "records": sink.written_records,
        "objects": sink.written_objects,
        "seconds": round(seconds, 3),
        "records_per_second": round(sink.written_records / seconds, 1),
        "format": settings.sink_format,
        "lake": settings.lake_url,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", required=True, help="s3://bucket/prefix or file://path")
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=["parquet", "avro"], default="parquet")
    args = parser.parse_args()
    unique = uuid.uuid4().hex[:8]
    base = Settings(
        topic_prefix=f"bench-sink-{unique}-",
        sink_topics=("transactions",),
        topic_config={"retention.ms": "-1"},  # the records carry 2024 timestamps
    )
    ensure_topics(base)
    produce(base, args.records)
    results = []
    for run in range(args.runs):
        settings = base.model_copy(
            update={
                "lake_url": f"{args.lake.rstrip('/')}/{unique}/run-{run}",
                "app_id": f"bench-sink-{unique}-{run}",
                "sink_format": args.format,
                "sink_idle_seconds": 1.0,
            }
        )
        result = run_once(settings, args.records)
        results.append(result)
        print(json.dumps({"run": run, **result}), flush=True)
    rates = [float(r["records_per_second"]) for r in results]  # type: ignore[arg-type]
    print(
        json.dumps(
            {"summary": "median", "records_per_second": statistics.median(rates), "runs": rates}
        )
    )


if __name__ == "__main__":
    main()
