"""testcontainers classes for the project's own images (built by ``scripts/images.sh``).

testcontainers' ``KafkaContainer`` expects Confluent's image layout, so the project's
Kafka image (docker/kafka) gets a small class of its own; MinIO's image is its static
binary alone (docker/minio).
"""

from __future__ import annotations

import base64
import logging
import socket
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from docker.errors import APIError
from testcontainers.core.container import DockerContainer
from testcontainers.core.exceptions import ContainerStartException
from testcontainers.core.network import Network
from testcontainers.core.wait_strategies import HttpWaitStrategy
from testcontainers.core.waiting_utils import WaitStrategy, WaitStrategyTarget

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

KAFKA_CONTROLLER_PORT = 9093
KAFKA_INTERNAL_PORT = 19092
RETRIED_START_ERRORS = ("address already in use", "broken pipe")
logger = logging.getLogger(__name__)
MINIO_PORT = 9000


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _loopback(host: str) -> str:
    # "localhost" may resolve to ::1 first, where the engine does not forward ports.
    return "127.0.0.1" if host == "localhost" else host


def broker_answers(bootstrap: str, timeout: float = 2.0, **client: str) -> bool:
    """Whether a Kafka broker at ``bootstrap`` answers a metadata request (``client``:
    more librdkafka properties, e.g. credentials)."""
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0, **client})
    try:
        return bool(admin.list_topics(timeout=timeout).brokers)
    except KafkaException:
        return False


class KafkaMetadataWaitStrategy(WaitStrategy):
    """Ready when the broker answers an AdminClient metadata request; fails fast (with the
    container's log) if the container exits first."""

    def __init__(self, bootstrap: str, **client: str) -> None:
        super().__init__()
        self.bootstrap = bootstrap
        self.client = client

    def wait_until_ready(self, container: WaitStrategyTarget) -> None:
        deadline = time.monotonic() + self._startup_timeout
        while not broker_answers(self.bootstrap, 2.0, **self.client):
            container.reload()
            if container.status in {"exited", "dead"}:
                stdout, stderr = container.get_logs()
                log = (stdout + stderr).decode(errors="replace")[-4000:]
                raise ContainerStartException(f"Kafka exited during startup:\n{log}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"Kafka at {self.bootstrap} did not answer within {self._startup_timeout} s"
                )
            time.sleep(self._poll_interval)


class StreamMLKafkaContainer(DockerContainer):
    """One KRaft node (broker + controller) from ``localhost/streamml-kafka``.

    A client must reach the broker at the address the broker advertises, and that address
    must be known before the broker starts. So the container listens on the same port
    number as the host port it is published on (a free one, picked here) and advertises
    ``<engine host>:<port>``: no second listener, no config rewritten after start.
    """

    def __init__(self, image: str, port: int | None = None, **kwargs: Any) -> None:
        super().__init__(image, **kwargs)
        self.port = 0
        self._use_port(port or free_port())
        self.with_env("KAFKA_HEAP_OPTS", "-Xms256m -Xmx512m")

    client_listener = "PLAINTEXT"
    """The name (and protocol) of the listener clients on the host use."""

    def _use_port(self, port: int) -> None:
        self.ports.pop(str(self.port), None)
        self.port = port
        self.with_bind_ports(port, port)
        self.with_env("KAFKA_LISTENERS", ",".join(self._listeners().values()))

    def _listeners(self) -> dict[str, str]:
        """Each listener's bind address, by name (the client listener first)."""
        return {
            self.client_listener: f"{self.client_listener}://:{self.port}",
            "CONTROLLER": f"CONTROLLER://:{KAFKA_CONTROLLER_PORT}",
        }

    def _advertised(self) -> str:
        return f"{self.client_listener}://{self.get_bootstrap_server()}"

    def _configure(self) -> None:
        # Runs inside start(), so a port picked again after a clash is advertised too.
        self.with_env("KAFKA_ADVERTISED_LISTENERS", self._advertised())
        self.waiting_for(self._ready().with_startup_timeout(120))

    def _ready(self) -> WaitStrategy:
        return KafkaMetadataWaitStrategy(self.get_bootstrap_server())

    def get_bootstrap_server(self) -> str:
        # The engine's host, whatever the connection mode: the address is needed before
        # the container exists, and the port is published there.
        return f"{_loopback(self.get_docker_client().host())}:{self.port}"

    def start(self) -> StreamMLKafkaContainer:
        # The free port can be taken between picking and binding it, and the engine's
        # runtime sometimes fails a start ("write child: broken pipe"): try again, twice.
        for attempt in range(3):
            try:
                super().start()
                return self
            except APIError as error:
                if not any(t in str(error) for t in RETRIED_START_ERRORS) or attempt == 2:
                    raise
                logger.warning("starting %s failed (%s); trying again", self.image, error)
                if self._container is not None:
                    self._container.remove(force=True)
                    self._container = None
                self._use_port(free_port())
        raise AssertionError("unreachable")


class KafkaClusterNode(StreamMLKafkaContainer):
    """One node (broker and controller) of a :class:`KafkaCluster`. Clients on the host use
    EXTERNAL, published on the same port number; the nodes reach each other on their
    network by container name, over INTERNAL and CONTROLLER."""

    client_listener = "EXTERNAL"

    def __init__(self, image: str, node_id: int, names: list[str], cluster_id: str) -> None:
        self.node_id = node_id
        self.name = names[node_id - 1]
        super().__init__(image)
        self.with_name(self.name)
        voters = ",".join(f"{i}@{name}:{KAFKA_CONTROLLER_PORT}" for i, name in enumerate(names, 1))
        replicas = str(min(len(names), 3))
        in_sync = str(max(1, min(len(names) - 1, 2)))
        self.with_env("CLUSTER_ID", cluster_id)
        self.with_envs(
            KAFKA_NODE_ID=str(node_id),
            KAFKA_CONTROLLER_QUORUM_VOTERS=voters,
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP=(
                "EXTERNAL:PLAINTEXT,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
            ),
            KAFKA_INTER_BROKER_LISTENER_NAME="INTERNAL",
            KAFKA_DEFAULT_REPLICATION_FACTOR=replicas,
            KAFKA_MIN_INSYNC_REPLICAS=in_sync,
            KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR=replicas,
            KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR=replicas,
            KAFKA_TRANSACTION_STATE_LOG_MIN_ISR=in_sync,
            KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR=replicas,
            KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR=in_sync,
        )

    def _listeners(self) -> dict[str, str]:
        return {**super()._listeners(), "INTERNAL": f"INTERNAL://:{KAFKA_INTERNAL_PORT}"}

    def _advertised(self) -> str:
        return f"{super()._advertised()},INTERNAL://{self.name}:{KAFKA_INTERNAL_PORT}"


class KafkaCluster:
    """``size`` KRaft nodes (each a broker and a voter of the controller quorum) on a
    container network of their own; internal topics are replicated on up to three nodes
    with ``min.insync.replicas`` two (one for a single node). Nodes can be killed, stopped
    and started again; their data stays in their containers."""

    def __init__(self, image: str, size: int = 3) -> None:
        self.network = Network()
        unique = uuid.uuid4().hex[:8]
        names = [f"streamml-kafka-{unique}-{i}" for i in range(1, size + 1)]
        cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode()[:22]
        cluster_id = "A" + cluster_id[1:] if cluster_id.startswith("-") else cluster_id
        self.nodes = {
            i: KafkaClusterNode(image, i, names, cluster_id).with_network(self.network)
            for i in range(1, size + 1)
        }

    @property
    def bootstrap(self) -> str:
        return ",".join(node.get_bootstrap_server() for node in self.nodes.values())

    def __enter__(self) -> KafkaCluster:
        self.network.create()
        # A node answers once a quorum of controllers is up: start them all at once.
        with ThreadPoolExecutor(len(self.nodes)) as pool:
            for future in [pool.submit(node.start) for node in self.nodes.values()]:
                future.result()
        return self

    def __exit__(self, *exc: object) -> None:
        for node in self.nodes.values():
            try:
                node.stop()
            except Exception as error:  # cleanup goes on with the other nodes
                logger.warning("stopping %s: %s", node.name, error)
        self.network.remove()

    def kill(self, node_id: int) -> None:
        """SIGKILL the node's process (its container stays, with its data)."""
        self.nodes[node_id].get_wrapped_container().kill()

    def stop(self, node_id: int) -> None:
        """Shut the node down cleanly (SIGTERM)."""
        self.nodes[node_id].get_wrapped_container().stop(timeout=30)

    def start(self, node_id: int, timeout: float = 120) -> None:
        """Start a killed or stopped node again; returns once it answers."""
        node = self.nodes[node_id]
        node.get_wrapped_container().start()
        deadline = time.monotonic() + timeout
        while not broker_answers(node.get_bootstrap_server()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{node.name} did not come back within {timeout} s")
            time.sleep(1)


@dataclass(frozen=True, slots=True)
class S3Endpoint:
    """Where the tests' object store is, and a bucket that exists on it."""

    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"
    outage: Callable[[float], None] | None = field(default=None, compare=False)
    """Makes the store unreachable for that many seconds, then brings it back (blocking);
    ``None`` when the tests do not control the store."""

    def client(self) -> S3Client:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            region_name=self.region,
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def ensure_bucket(self, timeout: float = 15.0) -> None:
        """Create the bucket unless it exists; a server that just went live may still
        answer 5xx for a moment, so those are retried."""
        client = self.client()
        deadline = time.monotonic() + timeout
        while True:
            try:
                client.head_bucket(Bucket=self.bucket)
                return
            except ClientError as error:
                status = int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
                if status == 404:
                    client.create_bucket(Bucket=self.bucket)
                    return
                if status < 500 or time.monotonic() > deadline:
                    raise
            except BotoCoreError:
                if time.monotonic() > deadline:
                    raise
            time.sleep(0.5)


class MinioContainer(DockerContainer):
    """MinIO from ``localhost/streamml-minio``, with ``bucket`` created on start."""

    def __init__(
        self,
        image: str,
        access_key: str = "streamml",
        secret_key: str = "streamml-secret",
        bucket: str = "streamml",
        **kwargs: Any,
    ) -> None:
        super().__init__(image, **kwargs)
        self.access_key = access_key
        self.secret_key = secret_key
        self.bucket = bucket
        self.with_exposed_ports(MINIO_PORT)
        self.with_env("MINIO_ROOT_USER", access_key)
        self.with_env("MINIO_ROOT_PASSWORD", secret_key)
        self.waiting_for(
            HttpWaitStrategy(MINIO_PORT, "/minio/health/live").with_startup_timeout(60)
        )

    def get_s3_endpoint(self) -> str:
        host = _loopback(self.get_container_host_ip())
        return f"http://{host}:{self.get_exposed_port(MINIO_PORT)}"

    def endpoint(self) -> S3Endpoint:
        return S3Endpoint(
            self.get_s3_endpoint(),
            self.bucket,
            self.access_key,
            self.secret_key,
            outage=self.outage,
        )

    def outage(self, seconds: float) -> None:
        """Freeze MinIO (the container's processes stop; requests hang, then time out)."""
        container = self.get_wrapped_container()
        container.pause()
        try:
            time.sleep(seconds)
        finally:
            container.unpause()

    def start(self) -> MinioContainer:
        for attempt in range(3):
            try:
                super().start()
                break
            except APIError as error:
                if "broken pipe" not in str(error) or attempt == 2:
                    raise
                logger.warning("starting %s failed (%s); trying again", self.image, error)
                if self._container is not None:
                    self._container.remove(force=True)
                    self._container = None
        self.endpoint().ensure_bucket()
        return self
