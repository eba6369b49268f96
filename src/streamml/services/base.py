"""What every local service shares: ``up()`` / ``down()`` / ``status()`` over a detached
process, so Kafka and MinIO only say how to build, start and probe themselves."""

from __future__ import annotations

import abc
import logging
from pathlib import Path
from typing import ClassVar

from streamml.errors import ConfigurationError, ServiceError
from streamml.services.process import DetachedProcess, Progress, ServiceStatus, port_open
from streamml.settings import Settings

logger = logging.getLogger(__name__)


class BaseLocalService(abc.ABC):
    """A service run as a local background process under ``cache_dir/services/<name>-<port>``.

    ``up()`` is idempotent: a second call while the service runs returns at once. The
    process survives the Python process that started it; ``down()`` stops it.
    """

    name: ClassVar[str]
    title: ClassVar[str]

    def __init__(self, settings: Settings, progress: Progress | None = None) -> None:
        self.settings = settings
        self._report: Progress = progress or logger.info
        self.workdir = settings.cache_dir / "services" / f"{self.name}-{self.port}"
        self._process = DetachedProcess(self.name, self.workdir, self._signature())

    @property
    @abc.abstractmethod
    def port(self) -> int:
        """The client port; the service's directory is named after it."""

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self._process.log_path

    @abc.abstractmethod
    def ports(self) -> tuple[int, ...]:
        """Every port the service listens on (all must be free before it starts)."""

    @abc.abstractmethod
    def ready(self) -> bool:
        """Whether the service answers its clients right now."""

    @abc.abstractmethod
    def _signature(self) -> str:
        """A string on the service's command line that identifies this instance."""

    @abc.abstractmethod
    def _prepare(self) -> tuple[list[str], dict[str, str] | None]:
        """Build or fetch what the service needs; return its argv and environment."""

    def _after_ready(self) -> None:
        """Runs after each successful ``up()`` (create buckets and the like)."""
        return  # nothing to do for services without client-side setup

    def up(self, timeout: float = 60.0) -> ServiceStatus:
        """Start the service unless it runs, and wait until it answers its clients."""
        pid = self._process.pid()
        if pid is not None:
            if not self.ready():  # started a moment ago by another call: wait for it
                self._process.wait_ready(pid, self.ready, timeout)
            self._after_ready()
            return self.status()
        self._check_ports_free()
        argv, env = self._prepare()
        self._report(f"Starting {self.title} on {self.address} (log: {self.log_path})...")
        pid = self._process.start(argv, env)
        try:
            seconds = self._process.wait_ready(pid, self.ready, timeout)
        except ServiceError:
            self._process.stop(timeout=10.0)  # never leave a half-started service behind
            raise
        self._after_ready()
        self._report(f"{self.title} is ready on {self.address} after {seconds:.1f} s (pid {pid}).")
        return self.status()

    def down(self, timeout: float = 30.0) -> bool:
        """Stop the service (SIGTERM, then SIGKILL after ``timeout`` s); ``False`` if
        it was not running."""
        pid = self._process.pid()
        if not self._process.stop(timeout):
            return False
        self._report(f"Stopped {self.title} (pid {pid}).")
        return True

    def status(self) -> ServiceStatus:
        pid = self._process.pid()
        return ServiceStatus(self.name, pid is not None, pid, self.address, self.log_path)

    def _check_ports_free(self) -> None:
        ports = self.ports()
        if len(set(ports)) != len(ports):
            raise ConfigurationError(f"{self.title} needs distinct ports, got {ports}")
        for port in ports:
            if port_open(port):
                raise ServiceError(
                    f"Port {port} on 127.0.0.1 is in use by another process, not the "
                    f"streamml {self.title} of {self.workdir}; stop that process or "
                    f"choose other ports (STREAMML_{self.name.upper()}_PORT...)."
                )
