"""A detached background process tracked by a pid file: start, wait until ready, stop.

Both local services (Kafka, MinIO) are long-lived processes that must outlive the
``streamml services up`` command that started them, so they run in their own session
and are found again through a pid file in their working directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from streamml.errors import ServiceError

Progress = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """What ``status()`` of a local service reports."""

    name: str
    running: bool
    pid: int | None
    address: str
    log_path: Path


def port_open(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections on ``host:port``."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


# Services this interpreter started. Holding their Popen objects lets poll() reap them
# (a dead child would otherwise linger as a zombie that looks alive) and keeps Popen's
# "still running" ResourceWarning from firing when a service outlives its caller's frame.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as dead)."""
    child = _CHILDREN.get(pid)
    if child is not None:
        return child.poll() is None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _cmdline(pid: int) -> str | None:
    """The command line of ``pid``, or ``None`` where /proc is not available."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return None
    return raw.replace(b"\0", b" ").decode(errors="replace")


class DetachedProcess:
    """One background process in ``workdir`` with a pid file and a log file.

    ``signature`` is a string that occurs on the process's command line (a config or
    data path); a pid file whose process does not carry it is stale (the pid was reused)
    and is ignored, so ``stop()`` never signals a stranger.
    """

    def __init__(self, name: str, workdir: Path, signature: str) -> None:
        self.name = name
        self.workdir = workdir
        self.signature = signature
        self.pid_path = workdir / f"{name}.pid"
        self.log_path = workdir / f"{name}.log"
        self._start_marker = f" {name} starting ---"

    def pid(self) -> int | None:
        """The pid of our running process, or ``None`` (a stale pid file is removed)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (OSError, ValueError):
            return None
        if _alive(pid):
            cmdline = _cmdline(pid)
            # Empty while the kernel is still exec'ing it; None without /proc.
            if not cmdline or self.signature in cmdline:
                return pid
        self.pid_path.unlink(missing_ok=True)
        return None

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None) -> int:
        """Start ``argv`` in its own session, output appended to the log; return its pid."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            log.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')}{self._start_marker}\n".encode())
            log.flush()
            # A new session detaches the service from the terminal and the CLI's process
            # group, so Ctrl-C in that terminal or the CLI exiting does not stop it.
            process = subprocess.Popen(
                list(argv),
                cwd=self.workdir,
                env=dict(env) if env is not None else None,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _CHILDREN[process.pid] = process
        temporary = self.pid_path.with_suffix(".pid.tmp")
        temporary.write_text(f"{process.pid}\n")
        temporary.replace(self.pid_path)
        return process.pid

    def wait_ready(self, pid: int, ready: Callable[[], bool], timeout: float) -> float:
        """Poll ``ready()`` until it is true; return the seconds it took.

        Raises :class:`ServiceError` with the log's tail if the process exits first or
        ``timeout`` seconds pass.
        """
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not _alive(pid):
                self.pid_path.unlink(missing_ok=True)
                raise self._failure(f"{self.name} exited during startup")
            if ready():
                return time.monotonic() - started
            time.sleep(0.25)
        raise self._failure(f"{self.name} did not become ready within {timeout:.0f} s")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM, wait up to ``timeout`` s for a clean exit, then SIGKILL.

        Returns ``False`` when nothing was running.
        """
        pid = self.pid()
        if pid is None:
            self.pid_path.unlink(missing_ok=True)
            return False
        self._signal(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            self._signal(pid, signal.SIGKILL)
            while _alive(pid):
                time.sleep(0.05)
        self.pid_path.unlink(missing_ok=True)
        return True

    def log_tail(self, lines: int = 20) -> str:
        """The last ``lines`` lines the latest run wrote to the log ('' when none)."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        # The log is appended to across runs; older runs would only mislead.
        latest = text.rpartition(self._start_marker)[2].splitlines()
        return "\n".join(line for line in latest[-lines:] if line.strip())

    def _signal(self, pid: int, signum: signal.Signals) -> None:
        # The service leads its own process group: signal the group so helpers it
        # spawned go too; fall back to the pid if the group is already gone.
        try:
            os.killpg(pid, signum)
        except (ProcessLookupError, PermissionError):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _failure(self, headline: str) -> ServiceError:
        tail = self.log_tail()
        quoted = "\n".join(f"    {line}" for line in tail.splitlines()) or "    (log is empty)"
        return ServiceError(f"{headline}; see {self.log_path}. Last lines:\n{quoted}")
