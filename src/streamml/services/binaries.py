"""The programs the local services run: Kafka's jars (Maven) and MinIO (``go install``).

Both are built once into ``settings.cache_dir`` and reused. A marker file is written
only after a build succeeded, so an interrupted build is redone rather than trusted.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

from streamml.errors import ConfigurationError, ServiceError
from streamml.services.process import Progress
from streamml.settings import Settings

logger = logging.getLogger(__name__)

MINIO_MODULE = "github.com/minio/minio"
# MinIO's release tags are not semantic versions, so the module is pinned to a commit.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MIN_JAVA = 17
JAVA_HINT = (
    "Java 17 and Maven are needed to run Kafka locally: "
    "apt-get install openjdk-17-jre-headless maven"
)
GO_HINT = (
    "Go 1.24 or newer is needed to build MinIO locally: "
    "install it from https://go.dev/dl/ (or apt-get install golang-go on a recent release)"
)
_MARKER = ".complete"


def java_major_version(version_output: str) -> int | None:
    """The major version in ``java -version`` output (``1.8`` counts as 8).

    >>> java_major_version('openjdk version "17.0.15" 2025-04-15')
    17
    >>> java_major_version('java version "1.8.0_292"')
    8
    """
    match = re.search(r'version "(\d+)(?:\.(\d+))?', version_output)
    if match is None:
        return None
    major = int(match.group(1))
    return int(match.group(2) or 0) if major == 1 else major


def require_java() -> str:
    """Path of a ``java`` of version 17 or newer, else :class:`ConfigurationError`."""
    java = shutil.which("java")
    if java is None:
        raise ConfigurationError(JAVA_HINT)
    result = subprocess.run(
        [java, "-version"], capture_output=True, text=True, check=False, timeout=60
    )
    major = java_major_version(result.stderr + result.stdout)
    if major is None or major < MIN_JAVA:
        found = "an unrecognised version" if major is None else f"Java {major}"
        raise ConfigurationError(f"{JAVA_HINT} (found {found} at {java})")
    return java


def _require_tool(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise ConfigurationError(hint)
    return path


@contextlib.contextmanager
def _build_lock(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` so parallel runs do not build it twice."""
    directory.mkdir(parents=True, exist_ok=True)
    with (directory / ".lock").open("w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def _kafka_pom() -> bytes:
    return resources.files("streamml.services").joinpath("resources/kafka-pom.xml").read_bytes()


def kafka_jars(settings: Settings, progress: Progress | None = None) -> Path:
    """The directory of Kafka's runtime jars, resolved with Maven on first use.

    The jars go to ``cache_dir/kafka/<POM hash>/libs`` so that a changed POM (a new Kafka
    version) gets a fresh directory; Maven's local repository is ``cache_dir/m2``.
    """
    report = progress or logger.info
    pom = _kafka_pom()
    root = settings.cache_dir / "kafka" / hashlib.sha256(pom).hexdigest()[:12]
    libs = root / "libs"
    if (root / _MARKER).exists() and libs.is_dir():
        return libs
    require_java()
    mvn = _require_tool("mvn", JAVA_HINT)
    with _build_lock(root):
        if not ((root / _MARKER).exists() and libs.is_dir()):
            _resolve_jars(mvn, pom, root, settings.cache_dir / "m2", report)
    return libs


def _resolve_jars(mvn: str, pom: bytes, root: Path, repository: Path, report: Progress) -> None:
    libs = root / "libs"
    (root / _MARKER).unlink(missing_ok=True)
    (root / "pom.xml").write_bytes(pom)
    partial = root / "libs.partial"
    shutil.rmtree(partial, ignore_errors=True)
    report(f"Resolving the Kafka jars with Maven into {libs} (first time only)...")
    started = time.monotonic()
    _run_maven(mvn, root / "pom.xml", repository, partial)
    shutil.rmtree(libs, ignore_errors=True)
    partial.replace(libs)
    count = len(list(libs.glob("*.jar")))
    (root / _MARKER).write_text(f"{count} jars\n")
    report(f"Resolved {count} Kafka jars in {time.monotonic() - started:.1f} s.")


def _run_maven(mvn: str, pom: Path, repository: Path, output: Path) -> None:
    command = [
        mvn, "-q", "-B", "-f", str(pom), f"-Dmaven.repo.local={repository}",
        "dependency:copy-dependencies", f"-DoutputDirectory={output}", "-DincludeScope=runtime",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0 or not any(output.glob("*.jar")):
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-15:])
        raise ServiceError(f"Maven could not resolve the Kafka jars ({' '.join(command)}):\n{tail}")


def minio_binary(settings: Settings, progress: Progress | None = None) -> Path:
    """The MinIO server binary, built with ``go install`` on first use (takes minutes).

    ``CGO_ENABLED=0`` makes it static, so the same file is the MinIO container image.
    """
    report = progress or logger.info
    gobin = settings.cache_dir / "minio" / MINIO_VERSION
    binary = gobin / "minio"
    if (gobin / _MARKER).exists() and binary.is_file():
        return binary
    go = _require_tool("go", GO_HINT)
    with _build_lock(gobin):
        if not ((gobin / _MARKER).exists() and binary.is_file()):
            _build_minio(go, gobin, report)
    return binary


def _build_minio(go: str, gobin: Path, report: Progress) -> None:
    binary = gobin / "minio"
    (gobin / _MARKER).unlink(missing_ok=True)
    report(
        f"Building MinIO {MINIO_VERSION} with go install into {gobin}; "
        "the first build takes a few minutes..."
    )
    started = time.monotonic()
    env = {**os.environ, "CGO_ENABLED": "0", "GOBIN": str(gobin)}
    command = [go, "install", f"{MINIO_MODULE}@{MINIO_VERSION}"]
    with subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as process:
        output = _wait_reporting(process, report, started)
    if process.returncode != 0 or not binary.is_file():
        tail = "\n".join(output.splitlines()[-15:])
        raise ServiceError(f"go install {MINIO_MODULE}@{MINIO_VERSION} failed:\n{tail}")
    (gobin / _MARKER).write_text(f"{MINIO_MODULE}@{MINIO_VERSION}\n")
    report(f"Built MinIO in {time.monotonic() - started:.0f} s: {binary}")


def _wait_reporting(process: subprocess.Popen[str], report: Progress, started: float) -> str:
    """Wait for a long build, saying every 30 s that it is still going."""
    while True:
        try:
            output, _ = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            report(f"  still building MinIO ({time.monotonic() - started:.0f} s)...")
        else:
            return output
