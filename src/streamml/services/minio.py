"""A real MinIO server (S3-compatible object store) run as a local process."""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from typing import TYPE_CHECKING, ClassVar

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from streamml.errors import ConfigurationError, ServiceError
from streamml.services.base import BaseLocalService
from streamml.services.binaries import minio_binary

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class LocalMinio(BaseLocalService):
    """MinIO on ``127.0.0.1:settings.minio_port`` (console on the next port).

    Objects and ``minio.log`` live under ``cache_dir/services/minio-<port>/``. ``up()``
    also creates ``settings.minio_bucket`` if it is missing.
    """

    name: ClassVar[str] = "minio"
    title: ClassVar[str] = "MinIO"

    @property
    def port(self) -> int:
        return self.settings.minio_port

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.address}"

    def ports(self) -> tuple[int, ...]:
        if self.port >= 65535:
            raise ConfigurationError("minio_port must leave room for the console on port + 1")
        return (self.port, self.port + 1)

    def ready(self) -> bool:
        url = f"{self.endpoint_url}/minio/health/live"
        try:
            with urllib.request.urlopen(url, timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def client(self) -> S3Client:
        """A boto3 S3 client for this server with the root credentials."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            aws_access_key_id=self.settings.minio_root_user,
            aws_secret_access_key=self.settings.minio_root_password.get_secret_value(),
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 3}),
        )

    def _signature(self) -> str:
        return str(self.workdir / "data")

    def _prepare(self) -> tuple[list[str], dict[str, str] | None]:
        binary = minio_binary(self.settings, self._report)
        console = f"127.0.0.1:{self.port + 1}"
        command = [
            str(binary), "server", str(self.workdir / "data"),
            "--address", self.address, "--console-address", console,
        ]  # fmt: skip
        env = {
            **os.environ,
            "MINIO_ROOT_USER": self.settings.minio_root_user,
            "MINIO_ROOT_PASSWORD": self.settings.minio_root_password.get_secret_value(),
        }
        return command, env

    def _after_ready(self) -> None:
        """Create the bucket (idempotent); retried briefly because a server that just
        went live may still be initialising its storage."""
        bucket = self.settings.minio_bucket
        client = self.client()
        deadline = time.monotonic() + 15.0
        while True:
            try:
                client.create_bucket(Bucket=bucket)
                self._report(f"Created bucket {bucket!r} on {self.endpoint_url}.")
                return
            except client.exceptions.BucketAlreadyOwnedByYou:
                return
            except (ClientError, BotoCoreError) as error:
                if not _transient(error) or time.monotonic() > deadline:
                    raise ServiceError(
                        f"Could not create bucket {bucket!r} on {self.endpoint_url}: {error}"
                    ) from error
                time.sleep(0.5)


def _transient(error: ClientError | BotoCoreError) -> bool:
    """Connection problems and 5xx answers pass; refused credentials and the like do not."""
    if isinstance(error, ClientError):
        return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 500)) >= 500
    return True
