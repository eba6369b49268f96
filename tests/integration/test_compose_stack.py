"""docker/compose.yaml brought up with podman-compose on the project's own images: events
in, predictions out, batches in MinIO."""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import boto3
import pyarrow.parquet as pq
import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streamml.datasets import SourceOptions, get_source
from streamml.produce import replay
from streamml.records import Transaction
from streamml.settings import Settings
from tests.conftest import _project_images
from tests.containers import free_port
from tests.integration.worker_process import read_topics

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
COMPOSE = [str(REPO / ".venv" / "bin" / "podman-compose"), "-f", str(REPO / "docker/compose.yaml")]


@pytest.fixture
def stack() -> tuple[dict[str, str], list[str]]:
    if os.environ.get("STREAMML_TEST_CONTAINERS") == "0" or shutil.which("podman") is None:
        pytest.skip("no Podman here (STREAMML_TEST_CONTAINERS=0 or podman missing)")
    images = _project_images()
    env = {
        **os.environ,
        "STREAMML_KAFKA_IMAGE": images["STREAMML_KAFKA_IMAGE"],
        "STREAMML_MINIO_IMAGE": images["STREAMML_MINIO_IMAGE"],
        "STREAMML_APP_IMAGE": images["STREAMML_APP_IMAGE"],
        "STREAMML_KAFKA_HOST_PORT": str(free_port()),
        "STREAMML_MINIO_HOST_PORT": str(free_port()),
        "STREAMML_MINIO_CONSOLE_HOST_PORT": str(free_port()),
    }
    if env.get("DOCKER_HOST", "").startswith("unix://"):
        env.setdefault("CONTAINER_HOST", env["DOCKER_HOST"])
    project = ["-p", f"streamml-{uuid.uuid4().hex[:8]}"]
    return env, project


def compose(env: dict[str, str], project: list[str], *args: str, timeout: float) -> None:
    result = subprocess.run(
        [*COMPOSE, *project, *args],
        check=False,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr[-3000:]


def wait_for_topics(settings: Settings, timeout: float) -> None:
    admin = AdminClient({**settings.kafka_client_config(), "log_level": 0})
    wanted = set(settings.topics.all())
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if wanted <= set(admin.list_topics(timeout=5).topics):
                return
        except KafkaException:
            pass  # the broker is still starting
        time.sleep(2)
    raise AssertionError(f"the stack did not create its topics within {timeout:.0f} s")


def lake_rows(s3: object, prefix: str) -> list[str]:
    """Event ids in the lake's Parquet files under ``prefix``."""
    listed = s3.list_objects_v2(Bucket="streamml", Prefix=prefix)  # type: ignore[attr-defined]
    ids: list[str] = []
    for item in listed.get("Contents", []):
        body = s3.get_object(Bucket="streamml", Key=item["Key"])["Body"].read()  # type: ignore[attr-defined]
        ids += pq.read_table(io.BytesIO(body)).column("event_id").to_pylist()
    return ids


def test_the_stack_scores_events_and_lands_them_in_minio(
    stack: tuple[dict[str, str], list[str]],
) -> None:
    env, project = stack
    compose(env, project, "up", "-d", timeout=300)
    try:
        settings = Settings(
            kafka_bootstrap_servers=f"127.0.0.1:{env['STREAMML_KAFKA_HOST_PORT']}",
            data_dir=REPO.parent / "shared" / "datasets",
        )
        records = list(get_source("fraud", settings, SourceOptions(limit=500)).records())
        ids = {r.event_id for r in records if isinstance(r, Transaction)}
        wait_for_topics(settings, timeout=180)  # the init service creates them
        assert replay(settings, records, progress=False).failed == 0
        topic = settings.topics.fraud_predictions
        seen = read_topics(settings, [topic], lambda c: c[topic] >= len(ids), timeout=180)
        assert len(seen[topic]) >= len(ids)
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://127.0.0.1:{env['STREAMML_MINIO_HOST_PORT']}",
            aws_access_key_id="streamml",
            aws_secret_access_key="streamml-secret",
            region_name="us-east-1",
        )
        landed: list[str] = []
        deadline = time.monotonic() + 120  # the sink flushes a quiet partition after 10 s
        while set(landed) != ids and time.monotonic() < deadline:
            time.sleep(3)
            landed = lake_rows(s3, f"lake/topic={topic}/")
        assert sorted(landed) == sorted(ids), f"{len(set(landed))} of {len(ids)} in the lake"
    finally:
        compose(env, project, "down", "-v", timeout=180)
