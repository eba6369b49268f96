"""History rows per second of `streamml bootstrap`'s fraud pass (no Kafka): the handbook
file up to a cut-off read, featurised and learned, the model beside the pass (the
command's way) and, for the ratio, in the same process. Prints JSON.

    .venv/bin/python benchmarks/bench_bootstrap.py --runs 3 [--until 2018-08-01]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from streamml.bootstrap.fraud import learn_fraud_history
from streamml.bootstrap.history import FraudColumns, fraud_table_records, load_table
from streamml.bootstrap.learner import LocalLearner, ProcessLearner
from streamml.datasets.fraud_handbook import FILE_NAME
from streamml.models.fraud import fraud_model

LEARNERS = {"process": ProcessLearner, "local": LocalLearner}


def one_run(path: Path, until: datetime, learner: str) -> dict[str, Any]:
    began = time.perf_counter()
    frame = load_table(path, FraudColumns())
    records, _ = fraud_table_records(frame, FraudColumns(), until, Counter())
    loaded = time.perf_counter()
    history = learn_fraud_history(
        records, until, fraud_model(), snapshot_every=2000, learner=LEARNERS[learner]
    )
    done = time.perf_counter()
    return {
        "learner": learner,
        "rows": history.rows,
        "transactions": history.transactions,
        "seconds": round(done - began, 2),
        "seconds_reading": round(loaded - began, 2),
        "seconds_pass": round(done - loaded, 2),
        "rows_per_second": round(history.rows / (done - began)),
        "metrics": {k: round(v, 4) for k, v in history.metrics().items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--until", default="2018-08-01")
    parser.add_argument(
        "--data-dir", default=os.environ.get("STREAMML_DATA_DIR", "../shared/datasets")
    )
    parser.add_argument("--learners", default="process,local", help="comma-separated")
    args = parser.parse_args()
    path = Path(args.data_dir) / FILE_NAME
    until = datetime.fromisoformat(args.until).replace(tzinfo=UTC)
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        for learner in args.learners.split(","):  # interleaved: both see the same machine
            runs.append(one_run(path, until, learner))
            print(f"run {i + 1}: {json.dumps(runs[-1])}", file=sys.stderr, flush=True)
    summary: dict[str, Any] = {"until": args.until, "runs": runs}
    for learner in args.learners.split(","):
        seconds = [r["seconds"] for r in runs if r["learner"] == learner]
        summary[learner] = {
            "median_seconds": statistics.median(seconds),
            "min_seconds": min(seconds),
            "max_seconds": max(seconds),
            "median_rows_per_second": round(runs[0]["rows"] / statistics.median(seconds)),
        }
    if "process" in summary and "local" in summary:
        ratios = [
            local["seconds"] / beside["seconds"]
            for beside, local in zip(runs[0::2], runs[1::2], strict=True)
        ]
        summary["speedup_process_over_local_median"] = round(statistics.median(ratios), 3)
    summary["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    summary["cpus"] = os.cpu_count()
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
