"""The model registry on a file:// lake: layout, pointer moves, refusals, the trainer's
publisher, the scorer's serving policy and the ``streamml models`` commands."""

from __future__ import annotations

import base64
import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from streamml.cli import main
from streamml.internal import Example
from streamml.registry import (
    ModelRegistry,
    Pointer,
    RegistryError,
    RegistryFollower,
    RegistryPublisher,
    ServingPolicy,
)
from streamml.settings import Settings
from streamml.snapshots import Snapshot, SnapshotError, encode_model, sign, take, verify
from streamml.store import FileStore, ObjectStore, StoreError, open_store
from streamml.testing import InMemoryWorker
from streamml.train import Trainer, resume_from_registry

KEY = b"streamml-development-key"  # Settings' default, so the CLI verifies what we sign
WHEN = datetime(2018, 4, 2, 12, tzinfo=UTC)

# -- helpers -------------------------------------------------------------------------------

EXPLODED: list[str] = []


def _explode(message: str) -> None:
    EXPLODED.append(message)
    raise AssertionError(message)


class Bomb:
    """Unpickling it records that it happened: what a hostile snapshot would do."""

    def __reduce__(self) -> tuple[Callable[[str], None], tuple[str]]:
        return (_explode, ("a refused snapshot was unpickled",))


def signed(version: int, task: str = "fraud", key: bytes = KEY) -> bytes:
    model = {"weights": [float(version)]}
    return sign(take(task, version, 100 * version, model, {"logloss": 0.5 / version}), key)


@pytest.fixture
def store(tmp_path: Path) -> FileStore:
    made = open_store(f"file://{tmp_path}/lake")
    assert isinstance(made, FileStore)
    return made


@pytest.fixture
def registry(store: FileStore) -> ModelRegistry:
    return ModelRegistry(store, KEY)


def published(registry: ModelRegistry, *versions: int, task: str = "fraud") -> ModelRegistry:
    for version in versions:
        registry.publish(signed(version, task))
    return registry


def pointer_bytes(store: ObjectStore, task: str = "fraud") -> bytes | None:
    return store.get(f"models/{task}/serving.json")


def tamper_model(store: ObjectStore, key: str) -> None:
    """Flip one bit of the model inside a stored envelope, leaving its signature."""
    data = store.get(key)
    assert data is not None
    envelope = json.loads(data)
    model = bytearray(base64.b64decode(envelope["model"]))
    model[len(model) // 2] ^= 0x01
    envelope["model"] = base64.b64encode(bytes(model)).decode()
    store.put(key, json.dumps(envelope).encode())


def plant_bomb(store: ObjectStore, version: int) -> None:
    """A snapshot whose pickle has a side effect, signed with somebody else's key."""
    bomb = Snapshot("fraud", version, 1, WHEN, encode_model(Bomb()), {}, {})
    store.put(f"models/fraud/{version}/snapshot.json", sign(bomb, b"attacker-key"))


# -- layout and pointer ------------------------------------------------------------------


def test_publish_writes_the_snapshot_its_meta_and_moves_the_pointer(
    registry: ModelRegistry, store: FileStore
) -> None:
    wire = signed(1)
    registry.publish(wire)
    assert store.list("models/") == [
        "models/fraud/1/meta.json",
        "models/fraud/1/snapshot.json",
        "models/fraud/serving.json",
    ]
    assert store.get("models/fraud/1/snapshot.json") == wire  # the envelope as signed
    meta = json.loads(store.get("models/fraud/1/meta.json") or b"")
    assert (meta["task"], meta["version"], meta["examples"]) == ("fraud", 1, 100)
    assert meta["metrics"] == {"logloss": 0.5}
    assert {"python", "river", "streamml"} <= set(meta["libraries"])
    assert meta["signature"]["hex"] == json.loads(wire)["signature"]
    assert meta["sizes"]["snapshot_bytes"] == len(wire)
    assert datetime.fromisoformat(meta["created"]) <= datetime.now(UTC)
    pointer = json.loads(pointer_bytes(store) or b"")
    assert (pointer["task"], pointer["version"], pointer["mode"]) == ("fraud", 1, "latest")
    registry.publish(signed(2))
    assert registry.serving("fraud") == Pointer(
        "fraud",
        2,
        "latest",
        (1,),
        registry.serving("fraud").updated,  # type: ignore[union-attr]
    )
    assert registry.load("fraud", 2).model() == {"weights": [2.0]}


def test_tasks_are_kept_apart_and_versions_sort_as_numbers(registry: ModelRegistry) -> None:
    published(registry, 1, 2, 10, 9)
    published(registry, 1, task="emotion6")
    assert registry.versions("fraud") == [1, 2, 9, 10]
    assert registry.serving("fraud").version == 10  # type: ignore[union-attr]
    assert registry.tasks() == ["emotion6", "fraud"]
    assert registry.serving("emotion13") is None and registry.versions("emotion13") == []


def test_promote_pins_a_version_that_later_publishes_do_not_move(
    registry: ModelRegistry,
) -> None:
    published(registry, 1, 2, 3)
    pinned = registry.promote("fraud", 2)
    assert (pinned.version, pinned.mode, pinned.history) == (2, "pinned", (1, 2, 3))
    published(registry, 4)
    assert registry.serving("fraud").version == 2  # type: ignore[union-attr]
    assert registry.versions("fraud") == [1, 2, 3, 4]  # still stored
    back = registry.follow_latest("fraud")
    assert (back.version, back.mode) == (4, "latest")
    published(registry, 5)
    assert registry.serving("fraud").version == 5  # type: ignore[union-attr]


def test_rollback_serves_the_versions_served_before_newest_first(
    registry: ModelRegistry,
) -> None:
    published(registry, 1, 2, 3)
    first = registry.rollback("fraud")
    assert (first.version, first.mode) == (2, "pinned")
    assert registry.rollback("fraud").version == 1
    with pytest.raises(RegistryError, match="nothing to roll back to"):
        registry.rollback("fraud")
    assert registry.serving("fraud").version == 1  # type: ignore[union-attr]


def test_history_is_bounded(registry: ModelRegistry) -> None:
    published(registry, *range(1, 61))
    pointer = registry.serving("fraud")
    assert pointer is not None and pointer.history == tuple(range(10, 60))


def test_promoting_a_missing_version_or_task_errors_and_leaves_the_pointer(
    registry: ModelRegistry, store: FileStore
) -> None:
    published(registry, 1, 2)
    before = pointer_bytes(store)
    with pytest.raises(RegistryError, match=r"fraud has no version 7 .*models/fraud/7/"):
        registry.promote("fraud", 7)
    with pytest.raises(RegistryError, match=r"no model of task 'frud' \(tasks: fraud\)"):
        registry.promote("frud", 1)
    with pytest.raises(RegistryError, match="not a task name"):
        registry.promote("../fraud", 1)
    assert pointer_bytes(store) == before


# -- refusals --------------------------------------------------------------------------


def test_a_tampered_model_is_refused_by_load_and_promote(
    registry: ModelRegistry, store: FileStore
) -> None:
    published(registry, 1, 2)
    tamper_model(store, "models/fraud/1/snapshot.json")
    before = pointer_bytes(store)
    for attempt in (lambda: registry.load("fraud", 1), lambda: registry.promote("fraud", 1)):
        with pytest.raises(SnapshotError) as refused:
            attempt()
        message = str(refused.value)
        assert "models/fraud/1/snapshot.json" in message and store.url in message
        assert "fraud-v1 has a bad signature" in message and "refusing" in message
    assert pointer_bytes(store) == before


def test_a_snapshot_signed_with_another_key_is_never_unpickled(
    registry: ModelRegistry, store: FileStore
) -> None:
    # The bomb is real: unpickling it, as a careless loader would, goes off.
    with pytest.raises(AssertionError):
        verify(sign(Snapshot("fraud", 9, 1, WHEN, encode_model(Bomb())), b"x"), b"x").model()
    EXPLODED.clear()
    published(registry, 1, 2)
    plant_bomb(store, 2)
    registry.promote("fraud", 1)
    with pytest.raises(SnapshotError, match="bad signature"):
        registry.load("fraud", 2)
    with pytest.raises(SnapshotError):
        registry.promote("fraud", 2)
    with pytest.raises(SnapshotError):
        registry.follow_latest("fraud")
    assert registry.serving("fraud").version == 1  # type: ignore[union-attr]
    assert EXPLODED == []


def test_a_valid_snapshot_copied_to_another_version_is_refused(
    registry: ModelRegistry, store: FileStore
) -> None:
    published(registry, 1, 2)
    store.put("models/fraud/2/snapshot.json", store.get("models/fraud/1/snapshot.json") or b"")
    with pytest.raises(SnapshotError, match="holds fraud-v1, not fraud-v2"):
        registry.load("fraud", 2)


def test_publish_refuses_a_snapshot_it_cannot_verify(
    registry: ModelRegistry, store: FileStore
) -> None:
    with pytest.raises(SnapshotError, match="not publishing"):
        registry.publish(signed(1, key=b"another key"))
    assert store.list("") == []


# -- the trainer's side ----------------------------------------------------------------


class FlakyStore:
    """A store that fails its first ``failures`` writes (an outage), then works."""

    def __init__(self, inner: ObjectStore, failures: int) -> None:
        self.inner, self.failures, self.url = inner, failures, inner.url

    def put(self, key: str, data: bytes) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise StoreError(f"{self.url}: cannot write {key}: connection refused")
        self.inner.put(key, data)

    def get(self, key: str) -> bytes | None:
        if self.failures > 0:
            raise StoreError(f"{self.url}: cannot read {key}: connection refused")
        return self.inner.get(key)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)


def test_the_trainer_publishes_each_snapshot_to_kafka_and_the_registry(
    registry: ModelRegistry,
) -> None:
    worker = InMemoryWorker(Settings(snapshot_every_examples=2))
    publisher = RegistryPublisher(registry)
    worker.trainer.registry = publisher  # what app.py does when STREAMML_LAKE_URL is set
    topics = worker.texts.topics
    for i in range(6):
        example = Example(f"e{i}", {"TX_AMOUNT": 10.0 + 100 * (i % 2)}, i % 2 == 1, WHEN, WHEN)
        worker.send(topics.fraud_training, example.to_bytes())
    assert publisher.flush(10)
    on_topic = [verify(o.value, KEY) for o in worker.outputs[topics.model_snapshots]]
    assert [s.version for s in on_topic] == [1, 2, 3]
    assert registry.versions("fraud") == [1, 2, 3]
    assert registry.meta("fraud", 3)["examples"] == 6
    assert registry.serving("fraud").version == 3  # type: ignore[union-attr]
    assert worker.scorer.version == "fraud-v3"


def test_the_publisher_retries_a_store_outage_with_backoff(store: FileStore) -> None:
    waits: list[float] = []
    registry = ModelRegistry(FlakyStore(store, failures=3), KEY)
    publisher = RegistryPublisher(registry, attempts=5, sleep=waits.append)
    assert publisher.publish(signed(1))
    assert waits == [0.5, 1.0, 2.0]
    assert ModelRegistry(store, KEY).versions("fraud") == [1]


def test_the_publisher_gives_up_with_an_error_and_the_trainer_goes_on(
    store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    registry = ModelRegistry(FlakyStore(store, failures=100), KEY)
    publisher = RegistryPublisher(registry, attempts=3, sleep=lambda _: None)
    with caplog.at_level(logging.ERROR, "streamml.registry"):
        publisher.submit(signed(1))
        assert publisher.flush(10)
    assert publisher.failed == 1
    assert "not in the registry after 3 tries" in caplog.text
    publisher.submit(signed(2))  # the thread is still there
    assert publisher.flush(10) and publisher.failed == 2


class GatedStore:
    """A store whose writes wait until the test opens the gate (a slow store)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.url, self.gate = inner, inner.url, threading.Event()
        self.waiting = threading.Event()

    def put(self, key: str, data: bytes) -> None:
        self.waiting.set()
        assert self.gate.wait(10)
        self.inner.put(key, data)

    def get(self, key: str) -> bytes | None:
        return self.inner.get(key)

    def list(self, prefix: str) -> list[str]:
        return self.inner.list(prefix)


def test_a_slow_store_never_holds_the_trainer_and_drops_the_oldest_waiting(
    store: FileStore,
) -> None:
    slow = GatedStore(store)
    publisher = RegistryPublisher(ModelRegistry(slow, KEY), backlog=2)
    publisher.submit(signed(1))
    assert slow.waiting.wait(10)  # v1 is being written; the trainer goes on
    for version in (2, 3, 4):
        publisher.submit(signed(version))
    slow.gate.set()
    assert publisher.flush(10)
    assert ModelRegistry(store, KEY).versions("fraud") == [1, 3, 4]
    assert publisher.failed == 1


def test_a_restarted_trainer_resumes_from_a_registry_ahead_of_it(
    registry: ModelRegistry,
) -> None:
    published(registry, 1, 2)
    trainer = Trainer("fraud", {"weights": []}, every_examples=10, every_seconds=60)
    resume_from_registry(registry, {"fraud": trainer})
    assert (trainer.version, trainer.examples, trainer.model) == (2, 200, {"weights": [2.0]})
    plant_bomb(registry.store, 3)  # a newest version that does not verify is skipped
    registry.store.put("models/fraud/3/meta.json", b"{}")
    other = Trainer("fraud", {}, every_examples=10, every_seconds=60)
    resume_from_registry(registry, {"fraud": other})
    assert other.version == 0 and EXPLODED == []


# -- the scorer's side -------------------------------------------------------------------


class Installed:
    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, snapshot: Snapshot) -> None:
        self.names.append(snapshot.name)


def snapshot(version: int, task: str = "fraud") -> Snapshot:
    return verify(signed(version, task), KEY)


def test_the_policy_serves_the_newest_until_a_version_is_pinned() -> None:
    installed = Installed()
    policy = ServingPolicy(installed)
    for version in (1, 3, 2):
        policy.offer(snapshot(version))
    assert installed.names == ["fraud-v1", "fraud-v3"]  # never backwards
    pinned = Pointer("fraud", 2, "pinned", (), WHEN)
    assert policy.wants(pinned)
    policy.apply(pinned, snapshot(2))
    policy.offer(snapshot(4))  # newer on the topic: ignored while pinned
    assert installed.names[-1] == "fraud-v2" and policy.served("fraud") == 2
    assert not policy.wants(pinned)
    latest = Pointer("fraud", 4, "latest", (), WHEN)
    assert policy.wants(latest)
    policy.apply(latest, snapshot(4))
    policy.offer(snapshot(5))
    assert installed.names[-2:] == ["fraud-v4", "fraud-v5"]
    assert not policy.wants(latest)  # the topic is ahead of the pointer: keep v5


def test_the_follower_installs_what_the_pointer_names_and_survives_outages(
    registry: ModelRegistry, store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    published(registry, 1, 2, 3)
    published(registry, 1, task="emotion6")
    installed = Installed()
    policy = ServingPolicy(installed)
    follower = RegistryFollower(registry, ["fraud", "emotion6", "emotion13"], policy, 5.0)
    follower.poll()
    assert installed.names == ["fraud-v3", "emotion6-v1"]
    registry.rollback("fraud")
    follower.poll()
    assert installed.names[-1] == "fraud-v2"
    policy.offer(snapshot(4))  # pinned: the topic's v4 is not served
    assert policy.served("fraud") == 2
    flaky = FlakyStore(store, failures=100)
    down = RegistryFollower(ModelRegistry(flaky, KEY), ["fraud"], policy, 5.0)
    with caplog.at_level(logging.WARNING, "streamml.registry"):
        down.poll()
    assert "unreachable; keeping the current fraud model" in caplog.text
    assert policy.served("fraud") == 2


def test_the_follower_refuses_a_tampered_pinned_version(
    registry: ModelRegistry, store: FileStore, caplog: pytest.LogCaptureFixture
) -> None:
    published(registry, 1, 2)
    registry.promote("fraud", 1)
    plant_bomb(store, 1)
    installed = Installed()
    follower = RegistryFollower(registry, ["fraud"], ServingPolicy(installed), 5.0)
    with caplog.at_level(logging.ERROR, "streamml.registry"):
        follower.poll()
    assert installed.names == [] and EXPLODED == []
    assert "models/fraud/1/snapshot.json" in caplog.text and "bad signature" in caplog.text


# -- the command line --------------------------------------------------------------------


@pytest.fixture
def cli(store: FileStore) -> Callable[..., Any]:
    def run(*args: str, lake: str | None = store.url) -> Any:
        env = {"STREAMML_LAKE_URL": lake, "STREAMML_MODEL_SIGNING_KEY": None}
        return CliRunner().invoke(main, ["models", *args], env=env)

    return run


def test_models_list_and_show(registry: ModelRegistry, cli: Callable[..., Any]) -> None:
    published(registry, 1, 2, 3)
    registry.promote("fraud", 2)
    listed = cli("list", "fraud")
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].startswith("fraud: 3 version(s), serving v2 (pinned")
    assert [line.split()[0] for line in lines[1:]] == ["v3", "*", "v1"]
    assert "200 examples" in lines[2] and "logloss=0.25" in lines[2]
    as_json = json.loads(cli("list", "fraud", "--json", "-n", "2").output)
    assert [v["version"] for v in as_json["versions"]] == [3, 2]
    assert as_json["serving"]["mode"] == "pinned" and as_json["count"] == 3
    shown = cli("show", "fraud")
    assert shown.exit_code == 0 and "fraud-v2  (served)" in shown.output
    assert "signature  verified" in shown.output
    detail = json.loads(cli("show", "fraud", "v3", "--json").output)
    assert (detail["version"], detail["verified"], detail["examples"]) == (3, True, 300)


def test_models_promote_and_rollback(registry: ModelRegistry, cli: Callable[..., Any]) -> None:
    published(registry, 1, 2, 3)
    promoted = cli("promote", "fraud", "fraud-v1")
    assert promoted.exit_code == 0
    assert promoted.output.strip() == "fraud: serving v1, pinned (was v3, latest)"
    assert cli("rollback", "fraud").output.strip() == "fraud: serving v3, pinned (was v1)"
    latest = cli("promote", "fraud", "--latest")
    assert latest.output.strip() == "fraud: serving v3, latest (was v3, pinned)"
    assert registry.serving("fraud").mode == "latest"  # type: ignore[union-attr]
    assert cli("promote", "fraud").exit_code == 2  # neither VERSION nor --latest


def test_models_commands_explain_refusals(
    registry: ModelRegistry, store: FileStore, cli: Callable[..., Any]
) -> None:
    published(registry, 1, 2)
    tamper_model(store, "models/fraud/1/snapshot.json")
    refused = cli("promote", "fraud", "1")
    assert refused.exit_code == 1
    assert "Error:" in refused.output and "fraud-v1 has a bad signature" in refused.output
    assert registry.serving("fraud").version == 2  # type: ignore[union-attr]
    shown = cli("show", "fraud", "1")
    assert shown.exit_code == 1 and "DOES NOT VERIFY" in shown.output
    missing = cli("promote", "fraud", "9")
    assert missing.exit_code == 1 and "fraud has no version 9" in missing.output
    unknown = cli("list", "frud")
    assert unknown.exit_code == 1 and "no model of task 'frud'" in unknown.output
    unset = cli("list", "fraud", lake=None)
    assert unset.exit_code == 1 and "STREAMML_LAKE_URL is not set" in unset.output


def test_a_bootstrap_snapshot_carries_its_provenance_signed(
    registry: ModelRegistry, cli: Callable[..., Any]
) -> None:
    """What a bootstrap learned from travels in the signed header, shows in the registry,
    and cannot be altered without the signature failing."""
    provenance = {"kind": "bootstrap", "until": "2018-08-01T00:00:00+00:00", "rows": 12}
    snapshot = take("fraud", 1, 12, {"w": 1.0}, {"roc_auc": 0.9}, provenance=provenance)
    data = sign(snapshot, KEY)
    assert verify(data, KEY).provenance == provenance
    registry.publish(data)
    assert registry.meta("fraud", 1)["provenance"] == provenance
    shown = cli("show", "fraud", "1")
    learned = next(line for line in shown.output.splitlines() if "learned" in line).split()
    assert sorted(learned[1:]) == ["kind=bootstrap", "rows=12", "until=2018-08-01T00:00:00+00:00"]
    envelope = json.loads(data)
    envelope["header"] = envelope["header"].replace('"rows": 12', '"rows": 13')
    with pytest.raises(SnapshotError, match="bad signature"):
        verify(json.dumps(envelope).encode(), KEY)
