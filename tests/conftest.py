"""Session fixtures that give integration tests a real Kafka broker and a real S3 store.

Each is chosen once per session, first that applies:

Kafka  (a) ``KAFKA_BOOTSTRAP_SERVERS``, an existing cluster;
       (b) a container of the project's Kafka image (``scripts/images.sh`` builds it) on
           any engine that answers the Docker API (``DOCKER_HOST`` or the default socket;
           ``eval "$(scripts/podman.sh)"`` sets one up with Podman);
       (c) a local Kafka process (``streamml.services.kafka.LocalKafka``) on free ports.
S3     (a) ``STREAMML_TEST_S3_ENDPOINT`` (+ ``STREAMML_TEST_S3_BUCKET``,
           ``STREAMML_TEST_S3_ACCESS_KEY`` / ``STREAMML_TEST_S3_SECRET_KEY``, defaulting to
           the ``AWS_*`` ones); (b) a MinIO container; (c) a local MinIO process.

``STREAMML_TEST_CONTAINERS=0`` skips (b). On Podman, the testcontainers settings that
scripts/podman.sh exports are the defaults. The choice is logged and printed in the summary.
This module is the tests' edge: the only place they read the environment.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient, NewTopic
from testcontainers.core.config import ConnectionMode, testcontainers_config

from streamml.services.kafka import LocalKafka
from streamml.services.minio import LocalMinio
from streamml.settings import Settings
from tests.containers import MinioContainer, S3Endpoint, StreamMLKafkaContainer, free_port

logger = logging.getLogger("streamml.tests")

REPO = Path(__file__).resolve().parent.parent
IMAGES_SCRIPT = REPO / "scripts" / "images.sh"
DATA_DIR = REPO.parent / "shared" / "datasets"

# What each fixture chose, for the terminal summary.
_CHOSEN: dict[str, str] = {}


def _choose(service: str, how: str) -> None:
    _CHOSEN[service] = how
    logger.info("integration %s: %s", service, how)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _CHOSEN:
        terminalreporter.section("streamml test services")
        for service, how in _CHOSEN.items():
            terminalreporter.write_line(f"{service}: {how}")


def _settings_cache_dir() -> Path:
    """The real cache (jars, MinIO binary), so fallbacks never rebuild what exists."""
    return Settings().cache_dir


# -- the container engine -------------------------------------------------------------


@functools.cache
def _engine() -> str | None:
    """The engine's name ("Podman Engine", "Engine"...) if one answers, else ``None``."""
    if os.environ.get("STREAMML_TEST_CONTAINERS", "1") == "0":
        return None
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
            components = client.version().get("Components") or [{"Name": "Engine"}]
            name = str(components[0].get("Name", "Engine"))
        finally:
            client.close()
    except Exception as error:  # any failure means: no usable engine here
        logger.info("no container engine answers the Docker API (%s)", error)
        return None
    if "podman" in name.lower():
        _podman_defaults()
    return name


def _podman_defaults() -> None:
    """What scripts/podman.sh exports, for a session started with DOCKER_HOST alone."""
    # Ryuk's image is on Docker Hub, out of reach of the machines that run Podman here;
    # the fixtures remove their containers themselves.
    if not testcontainers_config.ryuk_disabled:
        logger.info("Podman engine: running without Ryuk")
        testcontainers_config.ryuk_disabled = True
    # These machines carry a /.dockerenv, which would make testcontainers reach
    # containers through their gateway IP instead of the published ports.
    if testcontainers_config.connection_mode_override is None:
        testcontainers_config.connection_mode_override = ConnectionMode.docker_host


@functools.cache
def _project_images() -> dict[str, str]:
    """Build (or find, when up to date) the project's images; their names by variable."""
    engine = _engine() or ""
    env = dict(os.environ)
    # The images must land in the store of the engine the tests talk to.
    env.setdefault("STREAMML_CONTAINER_CLI", "podman" if "podman" in engine.lower() else "docker")
    result = subprocess.run(
        [str(IMAGES_SCRIPT)], capture_output=True, text=True, env=env, check=False, timeout=1800
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{IMAGES_SCRIPT} failed (set STREAMML_TEST_CONTAINERS=0 to use local "
            f"processes instead):\n{result.stderr[-3000:]}"
        )
    return dict(
        line.split("=", 1) for line in result.stdout.splitlines() if line.startswith("STREAMML_")
    )


# -- Kafka ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """``host:port`` of a real Kafka broker for the whole session."""
    external = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if external:
        _choose("kafka", f"KAFKA_BOOTSTRAP_SERVERS={external}")
        yield external
    elif _engine() is not None:
        image = _project_images()["STREAMML_KAFKA_IMAGE"]
        with StreamMLKafkaContainer(image) as kafka:
            bootstrap = kafka.get_bootstrap_server()
            _choose("kafka", f"container {image} ({_engine()}) at {bootstrap}")
            yield bootstrap
    else:
        yield from _local_kafka()


@pytest.fixture(scope="session")
def kafka_image() -> str:
    """The project's Kafka image, for tests that run brokers of their own (a cluster to
    break, a broker with TLS); they are skipped where no container engine answers."""
    if _engine() is None:
        pytest.skip("needs a container engine: the test runs brokers of its own")
    return _project_images()["STREAMML_KAFKA_IMAGE"]


def _local_kafka() -> Iterator[str]:
    kafka_port, controller_port = _distinct_free_ports(2)
    settings = Settings(
        cache_dir=_settings_cache_dir(),
        kafka_port=kafka_port,
        kafka_controller_port=controller_port,
        kafka_heap="512m",
    )
    service = LocalKafka(settings, logger.info)
    service.up(timeout=180)
    try:
        _choose("kafka", f"local process at {service.address} ({service.workdir})")
        yield service.address
    finally:
        service.down()
        shutil.rmtree(service.workdir, ignore_errors=True)


def _distinct_free_ports(count: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < count:
        ports.add(free_port())
    return sorted(ports)


class TopicAdmin:
    """Creates topics for a test and waits until they exist."""

    def __init__(self, bootstrap: str) -> None:
        self.client = AdminClient({"bootstrap.servers": bootstrap})

    def create(
        self, *names: str, partitions: int = 1, config: dict[str, str] | None = None
    ) -> list[str]:
        """Create ``names`` (existing ones are left alone); returns the names."""
        specs = [NewTopic(n, num_partitions=partitions, config=config or {}) for n in names]
        for name, future in self.client.create_topics(specs, operation_timeout=30).items():
            try:
                future.result(timeout=60)
            except KafkaException as error:
                if error.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
                    raise
            logger.debug("topic %s ready", name)
        return list(names)


@pytest.fixture(scope="session")
def admin(kafka_bootstrap: str) -> TopicAdmin:
    return TopicAdmin(kafka_bootstrap)


# -- S3 ---------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[S3Endpoint]:
    """A real S3-compatible endpoint and a bucket on it, for the whole session."""
    external = os.environ.get("STREAMML_TEST_S3_ENDPOINT")
    if external:
        endpoint = S3Endpoint(
            endpoint_url=external,
            bucket=os.environ.get("STREAMML_TEST_S3_BUCKET", "streamml-test"),
            access_key=_first_env("STREAMML_TEST_S3_ACCESS_KEY", "AWS_ACCESS_KEY_ID"),
            secret_key=_first_env("STREAMML_TEST_S3_SECRET_KEY", "AWS_SECRET_ACCESS_KEY"),
            region=os.environ.get("AWS_REGION", "us-east-1"),
        )
        endpoint.ensure_bucket()
        _choose("s3", f"STREAMML_TEST_S3_ENDPOINT={external}, bucket {endpoint.bucket}")
        yield endpoint
    elif _engine() is not None:
        image = _project_images()["STREAMML_MINIO_IMAGE"]
        with MinioContainer(image) as minio:
            endpoint = minio.endpoint()
            _choose("s3", f"container {image} ({_engine()}) at {endpoint.endpoint_url}")
            yield endpoint
    else:
        yield from _local_minio()


def _first_env(*names: str) -> str:
    for name in names:
        if os.environ.get(name):
            return os.environ[name]
    raise pytest.UsageError(f"STREAMML_TEST_S3_ENDPOINT is set but none of {names} is")


def _local_minio() -> Iterator[S3Endpoint]:
    port = free_port()
    while port >= 65535 or not _is_free(port + 1):  # MinIO's console takes port + 1
        port = free_port()
    settings = Settings(cache_dir=_settings_cache_dir(), minio_port=port)
    service = LocalMinio(settings, logger.info)
    service.up(timeout=120)
    try:

        def outage(seconds: float) -> None:
            service.down()
            try:
                time.sleep(seconds)
            finally:
                service.up(timeout=120)

        endpoint = S3Endpoint(
            endpoint_url=service.endpoint_url,
            bucket=settings.minio_bucket,
            access_key=settings.minio_root_user,
            secret_key=settings.minio_root_password.get_secret_value(),
            outage=outage,
        )
        _choose("s3", f"local process at {endpoint.endpoint_url} ({service.workdir})")
        yield endpoint
    finally:
        service.down()
        shutil.rmtree(service.workdir, ignore_errors=True)


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


# -- settings -----------------------------------------------------------------------------


@pytest.fixture
def settings_factory(
    kafka_bootstrap: str, request: pytest.FixtureRequest, tmp_path: Path
) -> Callable[..., Settings]:
    """Build :class:`Settings` for this test: the session's broker, topics and consumer
    groups of its own (a unique prefix and app id), directories under ``tmp_path``.
    Keyword arguments override; unknown ones are an error (Settings would ignore them)."""
    name = re.sub(r"[^a-zA-Z0-9]+", "-", request.node.name).strip("-")[:60]

    def build(**overrides: Any) -> Settings:
        unknown = set(overrides) - set(Settings.model_fields)
        if unknown:
            raise TypeError(f"Settings has no field(s) {sorted(unknown)}")
        unique = uuid.uuid4().hex[:8]
        values: dict[str, Any] = {
            "kafka_bootstrap_servers": kafka_bootstrap,
            "topic_prefix": f"{name}-{unique}-",
            "app_id": f"streamml-test-{unique}",
            "cache_dir": tmp_path / "cache",
            "state_dir": tmp_path / "state",
            "data_dir": DATA_DIR,
            "topic_partitions": 3,
            "topic_replication_factor": 1,
        }
        return Settings(**{**values, **overrides})

    return build
