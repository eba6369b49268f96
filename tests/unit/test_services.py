"""Local services without starting Java or MinIO: config, tools, pid files, errors."""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from streamml.errors import ConfigurationError, ServiceError
from streamml.services.binaries import (
    MINIO_VERSION,
    java_major_version,
    kafka_jars,
    minio_binary,
    require_java,
)
from streamml.services.cli import services
from streamml.services.kafka import LocalKafka, new_cluster_id, render_kafka_config
from streamml.services.minio import LocalMinio
from streamml.services.process import DetachedProcess
from streamml.settings import Settings

MakeTool = Callable[[str, str], Path]
JAVA_17 = "import sys; print('openjdk version \"17.0.15\" 2025-04-15', file=sys.stderr)"


@pytest.fixture
def make_tool(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> MakeTool:
    """PATH holds only the fake tools made with ``make_tool(name, python_source)``."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))

    def make(name: str, source: str) -> Path:
        tool = bin_dir / name
        tool.write_text(f"#!{sys.executable}\n{source}\n")
        tool.chmod(0o755)
        return tool

    return make


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(cache_dir=tmp_path / "cache", kafka_port=free_port(), minio_port=free_port())


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# Kafka configuration -------------------------------------------------------------------


def test_kafka_config_is_a_single_combined_node() -> None:
    lines = render_kafka_config(19092, 19093, Path("/data/kafka")).splitlines()
    for expected in [
        "process.roles=broker,controller",
        "listeners=PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093",
        "controller.listener.names=CONTROLLER",
        "controller.quorum.bootstrap.servers=127.0.0.1:19093",
        "log.dirs=/data/kafka",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "group.initial.rebalance.delay.ms=0",
        "num.partitions=3",
    ]:
        assert expected in lines
    assert "auto.create.topics.enable=false" not in lines


def test_cluster_ids_look_like_kafkas() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert set(cluster_id) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )


# Tools: java, mvn, go -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("output", "major"),
    [
        ('openjdk version "17.0.15" 2025-04-15', 17),
        ('openjdk version "21" 2023-09-19', 21),
        ('java version "1.8.0_292"', 8),
        ("something else", None),
    ],
)
def test_java_major_version(output: str, major: int | None) -> None:
    assert java_major_version(output) == major


def test_missing_java_says_what_to_install(make_tool: MakeTool) -> None:
    with pytest.raises(ConfigurationError, match="apt-get install openjdk-17-jre-headless maven"):
        require_java()


def test_old_java_is_refused(make_tool: MakeTool) -> None:
    make_tool("java", "import sys; print('java version \"1.8.0_292\"', file=sys.stderr)")
    with pytest.raises(ConfigurationError, match="found Java 8"):
        require_java()


def test_missing_maven_says_what_to_install(make_tool: MakeTool, settings: Settings) -> None:
    make_tool("java", JAVA_17)
    with pytest.raises(ConfigurationError, match="Maven"):
        kafka_jars(settings)


FAKE_MVN = """
import pathlib, sys
out = pathlib.Path(next(a.split("=", 1)[1] for a in sys.argv if a.startswith("-DoutputDirectory=")))
out.mkdir(parents=True)
(out / "kafka_2.13-4.1.1.jar").write_bytes(b"jar")
with open(pathlib.Path(sys.argv[0]).with_name("calls"), "a") as calls:
    calls.write("mvn\\n")
"""


def test_kafka_jars_resolve_once_then_come_from_the_cache(
    make_tool: MakeTool, settings: Settings
) -> None:
    make_tool("java", JAVA_17)
    mvn = make_tool("mvn", FAKE_MVN)
    libs = kafka_jars(settings)
    assert [jar.name for jar in libs.glob("*.jar")] == ["kafka_2.13-4.1.1.jar"]
    assert libs.parent.parent == settings.cache_dir / "kafka"
    assert kafka_jars(settings) == libs
    assert mvn.with_name("calls").read_text() == "mvn\n"


def test_failed_maven_run_leaves_no_marker(make_tool: MakeTool, settings: Settings) -> None:
    make_tool("java", JAVA_17)
    make_tool("mvn", "print('[ERROR] Could not resolve dependencies'); raise SystemExit(1)")
    with pytest.raises(ServiceError, match="Could not resolve dependencies"):
        kafka_jars(settings)
    make_tool("mvn", FAKE_MVN)  # the next run redoes the work instead of trusting a half copy
    assert any(kafka_jars(settings).glob("*.jar"))


def test_missing_go_says_what_to_install(make_tool: MakeTool, settings: Settings) -> None:
    with pytest.raises(ConfigurationError, match=r"Go 1\.24"):
        minio_binary(settings)


def test_minio_is_built_static_into_the_versioned_cache(
    make_tool: MakeTool, settings: Settings
) -> None:
    make_tool(
        "go",
        "import os, pathlib\n"
        "assert os.environ['CGO_ENABLED'] == '0'\n"
        "pathlib.Path(os.environ['GOBIN'], 'minio').write_text('binary')",
    )
    binary = minio_binary(settings)
    assert binary == settings.cache_dir / "minio" / MINIO_VERSION / "minio"
    (settings.cache_dir.parent / "bin" / "go").unlink()  # cached: go is not needed again
    assert minio_binary(settings) == binary


# Detached processes and pid files --------------------------------------------------------


def sleeper(tmp_path: Path, source: str = "import time; time.sleep(60)") -> list[str]:
    return [sys.executable, "-c", source, str(tmp_path)]


def test_detached_process_starts_and_stops(tmp_path: Path) -> None:
    process = DetachedProcess("sleeper", tmp_path, signature=str(tmp_path))
    pid = process.start(sleeper(tmp_path))
    assert process.pid() == pid
    assert os.getpgid(pid) == pid  # its own session and process group
    assert process.stop(timeout=10) is True
    assert process.pid() is None
    assert not process.pid_path.exists()
    assert process.stop() is False


def test_stop_kills_a_process_that_ignores_sigterm(tmp_path: Path) -> None:
    stubborn = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
        " print('ignoring', flush=True); time.sleep(60)"
    )
    process = DetachedProcess("stubborn", tmp_path, signature=str(tmp_path))
    pid = process.start(sleeper(tmp_path, stubborn))
    process.wait_ready(pid, lambda: "ignoring" in process.log_tail(), timeout=10)
    assert process.stop(timeout=0.5) is True
    assert process.pid() is None


def test_stale_pid_files_are_ignored_and_removed(tmp_path: Path) -> None:
    process = DetachedProcess("svc", tmp_path, signature=str(tmp_path))
    process.pid_path.write_text("999999999\n")  # above any pid_max: surely dead
    assert process.pid() is None
    assert not process.pid_path.exists()


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    process = DetachedProcess("svc", tmp_path, signature=str(tmp_path / "data"))
    process.pid_path.write_text(f"{os.getpid()}\n")  # alive, but not our service
    assert process.pid() is None
    assert process.stop() is False


def test_startup_failure_quotes_this_runs_log(tmp_path: Path) -> None:
    process = DetachedProcess("crasher", tmp_path, signature=str(tmp_path))
    process.log_path.write_text("old run noise\n")
    pid = process.start(sleeper(tmp_path, "print('boom: port in use'); raise SystemExit(3)"))
    with pytest.raises(ServiceError) as raised:
        process.wait_ready(pid, lambda: False, timeout=10)
    message = str(raised.value)
    assert "boom: port in use" in message
    assert str(process.log_path) in message
    assert "old run noise" not in message
    assert not process.pid_path.exists()


def test_wait_ready_times_out(tmp_path: Path) -> None:
    process = DetachedProcess("slow", tmp_path, signature=str(tmp_path))
    pid = process.start(sleeper(tmp_path))
    started = time.monotonic()
    with pytest.raises(ServiceError, match="did not become ready within 1 s"):
        process.wait_ready(pid, lambda: False, timeout=1)
    assert time.monotonic() - started < 5
    process.stop()


# Services and the command line ----------------------------------------------------------


def test_status_of_stopped_services(settings: Settings) -> None:
    status = LocalKafka(settings).status()
    assert not status.running
    assert status.pid is None
    assert status.address == f"127.0.0.1:{settings.kafka_port}"
    assert status.log_path == (
        settings.cache_dir / "services" / f"kafka-{settings.kafka_port}" / "kafka.log"
    )
    assert LocalMinio(settings).status().log_path.name == "minio.log"
    assert LocalKafka(settings).down() is False


def test_kafka_refuses_a_port_held_by_another_process(
    make_tool: MakeTool, settings: Settings, busy_port: int
) -> None:
    # Checked before Java is looked for (PATH is empty): the cheap, clear error first.
    kafka = LocalKafka(settings.model_copy(update={"kafka_port": busy_port}))
    with pytest.raises(ServiceError, match=f"Port {busy_port} .* in use by another process"):
        kafka.up()


def test_minio_refuses_a_busy_console_port(
    make_tool: MakeTool, settings: Settings, busy_port: int
) -> None:
    minio = LocalMinio(settings.model_copy(update={"minio_port": busy_port - 1}))
    with pytest.raises(ServiceError, match=f"Port {busy_port} "):
        minio.up()


def test_cli_status_lists_both_services(settings: Settings) -> None:
    result = CliRunner().invoke(services, ["status"], obj=settings)
    assert result.exit_code == 0
    assert [line.split()[:2] for line in result.stdout.splitlines()] == [
        ["kafka", "stopped"],
        ["minio", "stopped"],
    ]


def test_cli_errors_are_one_line_without_traceback(
    make_tool: MakeTool, settings: Settings, busy_port: int
) -> None:
    busy = settings.model_copy(update={"kafka_port": busy_port})
    result = CliRunner().invoke(services, ["up", "--no-minio"], obj=busy)
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: Port {busy_port} on 127.0.0.1 is in use")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
