"""A real Apache Kafka broker in KRaft combined mode, run as a local Java process."""

from __future__ import annotations

import base64
import subprocess
import uuid
from importlib import resources
from pathlib import Path
from string import Template
from typing import ClassVar

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient

from streamml.errors import ServiceError
from streamml.services.base import BaseLocalService
from streamml.services.binaries import kafka_jars, require_java
from streamml.services.process import port_open


def _resource(name: str) -> str:
    return resources.files("streamml.services").joinpath(f"resources/{name}").read_text()


def render_kafka_config(kafka_port: int, controller_port: int, data_dir: Path) -> str:
    """The ``server.properties`` of a single combined broker + controller node.

    >>> config = render_kafka_config(9092, 9093, Path("/tmp/kafka/data"))
    >>> "controller.quorum.bootstrap.servers=127.0.0.1:9093" in config.splitlines()
    True
    """
    return Template(_resource("kafka-server.properties")).substitute(
        kafka_port=kafka_port, controller_port=controller_port, data_dir=data_dir
    )


def new_cluster_id() -> str:
    """A random cluster id in Kafka's form (a UUID as 22 characters of URL-safe base64).

    >>> len(new_cluster_id())
    22
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        # Kafka's own Uuid.randomUuid() rejects ids starting with '-': they read as an
        # option on command lines.
        if not text.startswith("-"):
            return text


def broker_answers(address: str, timeout: float = 2.0) -> bool:
    """Whether a Kafka broker at ``address`` answers a metadata request."""
    host, _, port = address.rpartition(":")
    if not port_open(int(port), host):  # spares librdkafka's connection-refused noise
        return False
    admin = AdminClient({"bootstrap.servers": address, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout)
    except KafkaException:
        return False
    return bool(metadata.brokers)


class LocalKafka(BaseLocalService):
    """One Kafka node (broker and controller) on ``127.0.0.1:settings.kafka_port``.

    Data, config and ``kafka.log`` live under ``cache_dir/services/kafka-<port>/``; the
    storage is formatted once and its cluster id kept in ``cluster.id``, so topics and
    offsets survive ``down()`` / ``up()``.
    """

    name: ClassVar[str] = "kafka"
    title: ClassVar[str] = "Kafka"

    @property
    def port(self) -> int:
        return self.settings.kafka_port

    @property
    def config_path(self) -> Path:
        return self.workdir / "server.properties"

    def ports(self) -> tuple[int, ...]:
        return (self.settings.kafka_port, self.settings.kafka_controller_port)

    def ready(self) -> bool:
        return broker_answers(self.address)

    def _signature(self) -> str:
        return str(self.config_path)

    def _prepare(self) -> tuple[list[str], dict[str, str] | None]:
        java = require_java()
        libs = kafka_jars(self.settings, self._report)
        self.workdir.mkdir(parents=True, exist_ok=True)
        data_dir = self.workdir / "data"
        self.config_path.write_text(
            render_kafka_config(self.port, self.settings.kafka_controller_port, data_dir)
        )
        (self.workdir / "log4j2.properties").write_text(_resource("kafka-log4j2.properties"))
        if not (data_dir / "meta.properties").exists():
            self._format_storage(java, libs)
        command = [
            java, f"-Xmx{self.settings.kafka_heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true",
            *self._java_options(libs), "kafka.Kafka", str(self.config_path),
        ]  # fmt: skip
        return command, None

    def _java_options(self, libs: Path) -> list[str]:
        log4j = self.workdir / "log4j2.properties"
        # Java expands the 'dir/*' class path wildcard itself; no shell is involved.
        return [f"-Dlog4j2.configurationFile={log4j}", "-cp", f"{libs}/*"]

    def _cluster_id(self) -> str:
        path = self.workdir / "cluster.id"
        if path.exists():
            return path.read_text().strip()
        cluster_id = new_cluster_id()
        path.write_text(f"{cluster_id}\n")
        return cluster_id

    def _format_storage(self, java: str, libs: Path) -> None:
        """Format the metadata log once (``--standalone``: this node is the only voter)."""
        command = [
            java, *self._java_options(libs), "kafka.tools.StorageTool", "format",
            "-t", self._cluster_id(), "-c", str(self.config_path), "--standalone",
        ]  # fmt: skip
        result = subprocess.run(command, capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise ServiceError(f"Formatting Kafka storage in {self.workdir} failed:\n{output}")
