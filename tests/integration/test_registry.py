"""The model registry on the real MinIO: the trainer's snapshots land under
``models/TASK/VERSION/``, the pointer is promoted and rolled back, scorers follow it, a
tampered snapshot is refused, and ``streamml models`` reads it all from S3."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from streamml.cli import main
from streamml.emit import Emitter
from streamml.internal import Example
from streamml.models.fraud import fraud_model
from streamml.records import Origin
from streamml.registry import ModelRegistry, RegistryFollower, RegistryPublisher, ServingPolicy
from streamml.settings import Settings
from streamml.snapshots import Snapshot, SnapshotError, encode_model, sign, verify
from streamml.train import Trainer, TrainerStage
from tests.containers import S3Endpoint

pytestmark = pytest.mark.integration

WHEN = datetime(2018, 4, 2, 12, tzinfo=UTC)


@pytest.fixture
def settings(s3_endpoint: S3Endpoint) -> Settings:
    return Settings(
        lake_url=f"s3://{s3_endpoint.bucket}/registry-test-{uuid.uuid4().hex[:8]}",
        s3_endpoint_url=s3_endpoint.endpoint_url,
        s3_access_key=s3_endpoint.access_key,
        s3_secret_key=SecretStr(s3_endpoint.secret_key),
        s3_region=s3_endpoint.region,
        s3_timeout_seconds=2.0,  # a frozen store fails fast
    )


@pytest.fixture
def registry(settings: Settings) -> ModelRegistry:
    return ModelRegistry(settings.lake(), settings.model_signing_key.get_secret_value().encode())


def train(stage: TrainerStage, start: int, count: int) -> list[bytes]:
    """Feed ``count`` fraud examples; the signed snapshots sent to the topic."""
    sent = []
    for i in range(start, start + count):
        example = Example(f"e{i}", {"TX_AMOUNT": 10.0 + 500 * (i % 2)}, i % 2 == 1, WHEN, WHEN)
        for out in stage.on_example(example.to_bytes(), Origin("fraud-training", 0, i), None):
            assert out.topic == stage.topic, out.value
            sent.append(out.value)
    return sent


def trainer_stage(settings: Settings, registry: ModelRegistry, attempts: int = 6) -> TrainerStage:
    trainers = {"fraud": Trainer("fraud", fraud_model(), every_examples=2, every_seconds=3600)}
    publisher = RegistryPublisher(registry, attempts=attempts)
    return TrainerStage(
        Emitter(settings.topics, "json"),
        trainers,
        settings.topics.model_snapshots,
        registry.signing_key,
        publisher,
    )


def flushed(stage: TrainerStage) -> None:
    assert stage.registry is not None and stage.registry.flush(60)
    assert stage.registry.failed == 0


def test_trainer_snapshots_are_served_promoted_and_rolled_back_from_s3(
    settings: Settings, registry: ModelRegistry
) -> None:
    stage = trainer_stage(settings, registry)
    on_topic = train(stage, 0, 6)
    flushed(stage)
    assert registry.versions("fraud") == [1, 2, 3]
    assert registry.store.get("models/fraud/3/snapshot.json") == on_topic[-1]
    meta = registry.meta("fraud", 3)
    assert meta["examples"] == 6 and set(meta["metrics"]) == {"logloss", "roc_auc"}
    assert registry.serving("fraud").version == 3  # type: ignore[union-attr]

    # A scorer follows the pointer; the topic's newer snapshots wait while it is pinned.
    served: list[str] = []
    policy = ServingPolicy(lambda snapshot: served.append(snapshot.name))
    follower = RegistryFollower(registry, ["fraud"], policy, 0.2)
    follower.poll()
    assert served == ["fraud-v3"]
    registry.promote("fraud", 1)
    newer = train(stage, 6, 2)
    flushed(stage)
    assert registry.versions("fraud")[-1] == 4
    follower.poll()
    policy.offer(verify(newer[-1], registry.signing_key))
    assert served[-1] == "fraud-v1" and registry.serving("fraud").version == 1  # type: ignore[union-attr]

    rolled = registry.rollback("fraud")
    assert (rolled.version, rolled.mode) == (3, "pinned")
    follower.start()  # the thread, polling every 0.2 s
    try:
        assert wait_for(lambda: policy.served("fraud") == 3)
        registry.follow_latest("fraud")
        assert wait_for(lambda: policy.served("fraud") == 4)
    finally:
        follower.stop()
    assert served == ["fraud-v3", "fraud-v1", "fraud-v3", "fraud-v4"]


def test_a_tampered_snapshot_in_s3_is_refused_and_never_unpickled(
    settings: Settings, registry: ModelRegistry
) -> None:
    stage = trainer_stage(settings, registry)
    train(stage, 0, 4)
    flushed(stage)
    # A snapshot whose unpickling would run code, signed with somebody else's key.
    hostile = Snapshot("fraud", 1, 2, WHEN, encode_model(Exploding()), {}, {})
    registry.store.put("models/fraud/1/snapshot.json", sign(hostile, b"attacker-key"))
    pointer = registry.store.get("models/fraud/serving.json")
    with pytest.raises(SnapshotError, match=r"models/fraud/1/snapshot.json: .*bad signature"):
        registry.promote("fraud", 1)
    assert registry.store.get("models/fraud/serving.json") == pointer
    assert EXPLODED == []


def test_models_commands_read_and_move_the_pointer_in_s3(
    settings: Settings, registry: ModelRegistry, s3_endpoint: S3Endpoint
) -> None:
    stage = trainer_stage(settings, registry)
    train(stage, 0, 6)
    flushed(stage)
    env = {
        "STREAMML_LAKE_URL": settings.lake_url,
        "STREAMML_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
        "STREAMML_S3_ACCESS_KEY": s3_endpoint.access_key,
        "STREAMML_S3_SECRET_KEY": s3_endpoint.secret_key,
        "STREAMML_S3_REGION": s3_endpoint.region,
    }

    def models(*args: str) -> str:
        result = CliRunner().invoke(main, ["models", *args], env=env)
        assert result.exit_code == 0, result.output
        return result.output

    assert models("list", "fraud").splitlines()[0].startswith("fraud: 3 version(s), serving v3")
    assert models("promote", "fraud", "v2").strip() == "fraud: serving v2, pinned (was v3, latest)"
    listed = json.loads(models("list", "fraud", "--json"))
    assert listed["serving"]["version"] == 2 and len(listed["versions"]) == 3
    assert "fraud-v2  (served)" in models("show", "fraud")
    assert models("rollback", "fraud").strip() == "fraud: serving v3, pinned (was v2)"


def test_a_store_outage_delays_publishing_and_keeps_the_served_model(
    settings: Settings, registry: ModelRegistry, s3_endpoint: S3Endpoint
) -> None:
    if s3_endpoint.outage is None:
        pytest.skip("the tests do not control this S3 endpoint (STREAMML_TEST_S3_ENDPOINT)")
    stage = trainer_stage(settings, registry, attempts=9)
    train(stage, 0, 2)
    flushed(stage)
    policy = ServingPolicy(lambda snapshot: None)
    follower = RegistryFollower(registry, ["fraud"], policy, 0.2)
    follower.poll()
    outage = threading.Thread(target=s3_endpoint.outage, args=(12.0,))  # > a timed-out request
    outage.start()
    try:
        assert wait_for(lambda: not store_answers(registry), timeout=30)
        train(stage, 2, 2)  # returns at once: the trainer never waits for the store
        follower.poll()  # logs and keeps v1
        assert policy.served("fraud") == 1
    finally:
        outage.join()
    flushed(stage)  # retried with backoff until the store came back
    assert registry.versions("fraud") == [1, 2]
    follower.poll()
    assert policy.served("fraud") == 2


EXPLODED: list[str] = []


def _explode(message: str) -> None:
    EXPLODED.append(message)


class Exploding:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (_explode, ("unpickled",))


def store_answers(registry: ModelRegistry) -> bool:
    try:
        registry.serving("fraud")
    except Exception:
        return False
    return True


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return False
