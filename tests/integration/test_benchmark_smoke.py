"""The benchmark's smoke run on the real broker: it keeps working, not how fast it is
(speed is measured by ``benchmarks/pipeline.py`` and recorded in docs/BENCHMARKS.md)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import DATA_DIR, REPO

pytestmark = pytest.mark.integration


def test_the_benchmark_smoke_run_measures_every_pipeline(
    kafka_bootstrap: str, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "STREAMML_DATA_DIR": str(DATA_DIR),
    }
    done = subprocess.run(
        [sys.executable, "benchmarks/pipeline.py", "--smoke", "--work", str(tmp_path)],
        check=False,
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-4000:]
    figures = json.loads(done.stdout)
    run = figures["runs"][0]
    for name in ("streamml_fraud", "bare_fraud", "quix_fraud", "streamml_texts", "bare_texts"):
        assert run[name]["events_per_s"] > 0, (name, run[name])
    assert run["streamml_fraud"]["events"] == 3000 and run["streamml_texts"]["events"] == 1000
    # Like for like: every pipeline scores with the trained models the run published.
    for name in ("streamml_fraud", "bare_fraud", "quix_fraud", "streamml_fraud_2_scorers"):
        assert run[name]["model_versions"] == ["fraud-v1"], (name, run[name])
    for name in ("streamml_texts", "bare_texts"):
        assert run[name]["model_versions"] == ["emotion6-v1"], (name, run[name])
    assert len(run["streamml_fraud_2_scorers"]["peak_rss_mib"]) == 2
    assert set(run["ratios"]) == {
        "streamml_over_bare_fraud",
        "streamml_over_bare_texts",
        "streamml_over_quix_fraud",
        "two_scorers_over_one",
    }
    latency = run["latency_half_load"]
    assert 0 <= latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert figures["trainer"]["examples"] > 0 and figures["trainer"]["snapshot_bytes"] > 0
    assert figures["memory"]["customers"] == 20_000 and figures["memory"]["bytes_per_customer"] > 0
    assert figures["medians"]["ratios"]["two_scorers_over_one"]["runs"] == 1
