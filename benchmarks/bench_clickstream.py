"""Speed of the clickstream generator, and of session features over its events.

Times generating ``--days`` of ``--customers`` (records: events and their labels), then
session features with the state kept as bytes (as in the worker's table). Prints one JSON
object per run, with the event, payment and fraud counts per scenario.

    .venv/bin/python benchmarks/bench_clickstream.py --customers 1000 --days 30
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter

from streamml.datasets.clickstream import ClickstreamConfig, generate_clickstream, generate_events
from streamml.features.session import SessionState, session_features
from streamml.records import Transaction


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=1_000)
    parser.add_argument("--days", type=float, default=30.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    config = ClickstreamConfig(customers=args.customers, days=args.days, seed=args.seed)

    started = time.perf_counter()
    records = events = 0
    for record in generate_clickstream(config):
        records += 1
        events += isinstance(record, Transaction)
    generate_seconds = time.perf_counter() - started

    generated = list(generate_events(config))
    scenarios = Counter(e.scenario.name for e in generated if e.is_payment)
    tables: dict[str, bytes] = {}
    started = time.perf_counter()
    for event in generated:
        tx = event.transaction
        raw = tables.get(tx.customer_id)
        state = SessionState.from_bytes(raw) if raw else SessionState()
        session_features(state, tx)
        tables[tx.customer_id] = state.to_bytes()
    feature_seconds = time.perf_counter() - started

    payments = scenarios.total()
    print(
        json.dumps(
            {
                "customers": args.customers,
                "days": args.days,
                "events": events,
                "records": records,
                "payments": payments,
                "fraud": payments - scenarios["GENUINE"],
                "fraud_share": round((payments - scenarios["GENUINE"]) / payments, 5),
                "payments_by_scenario": dict(sorted(scenarios.items())),
                "generate_events_per_s": round(events / generate_seconds),
                "session_features_us_per_event": round(feature_seconds / events * 1e6, 2),
                "state_bytes_mean": round(sum(map(len, tables.values())) / len(tables), 1),
            }
        )
    )


if __name__ == "__main__":
    main()
