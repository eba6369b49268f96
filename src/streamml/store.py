"""Object stores: an S3-compatible bucket or a local directory, behind one small interface.

Keys are ``/``-separated paths under the store's root (the URL's prefix). Writes are
whole objects and atomic: an S3 PUT either lands or does not, and the file store writes
a temporary file, fsyncs it and renames it into place. Failures of the store itself
raise :class:`StoreError`, which callers retry.

>>> import tempfile
>>> store = open_store(f"file://{tempfile.mkdtemp()}/lake")
>>> store.put("a/b.txt", b"hi")
>>> store.get("a/b.txt"), store.list("a/")
(b'hi', ['a/b.txt'])
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from streamml.errors import ConfigurationError, StreamMLError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client


class StoreError(StreamMLError):
    """The store did not answer or refused a request; the message names store and key."""


class ObjectStore(Protocol):
    """What the sink and the model registry need from a store."""

    url: str

    def put(self, key: str, data: bytes) -> None:
        """Write the object ``key`` whole, replacing any previous one."""
        ...

    def get(self, key: str) -> bytes | None:
        """The object's bytes, or ``None`` if there is no such object."""
        ...

    def list(self, prefix: str) -> list[str]:
        """Every key starting with ``prefix``, sorted."""
        ...


@dataclass(frozen=True, slots=True)
class S3Options:
    """How to reach an S3-compatible store. Credentials come from the standard AWS chain
    (environment, shared files, instance or task role) unless given here."""

    endpoint_url: str | None = None
    region: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    server_side_encryption: str | None = None  # "AES256" or "aws:kms"
    kms_key_id: str | None = None
    timeout_seconds: float = 10.0


def open_store(url: str, s3: S3Options | None = None) -> ObjectStore:
    """The store at ``url``: ``file:///abs/path``, ``file://rel/path`` or
    ``s3://bucket/prefix``."""
    parsed = urlparse(url)
    if parsed.scheme == "file":
        return FileStore(url, Path(parsed.netloc + parsed.path))
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise ConfigurationError(f"{url}: an s3:// URL needs a bucket (s3://bucket/prefix)")
        return S3Store(url, parsed.netloc, parsed.path.strip("/"), s3 or S3Options())
    raise ConfigurationError(f"{url}: unsupported store URL; use s3://bucket/prefix or file://path")


@dataclass
class FileStore:
    """A directory laid out exactly like the bucket would be."""

    url: str
    root: Path

    def put(self, key: str, data: bytes) -> None:
        path = self._path(key)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
        except OSError as error:
            raise StoreError(f"{self.url}: cannot write {key}: {error}") from error

    def get(self, key: str) -> bytes | None:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            raise StoreError(f"{self.url}: cannot read {key}: {error}") from error

    def list(self, prefix: str) -> list[str]:
        base = self.root
        if not base.exists():
            return []
        keys = (
            p.relative_to(base).as_posix()
            for p in base.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )
        return sorted(k for k in keys if k.startswith(prefix))

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise StoreError(f"{self.url}: refusing key {key!r} outside the store")
        return self.root / key


@dataclass
class S3Store:
    """A bucket and a key prefix on any S3-compatible service (AWS, MinIO...)."""

    url: str
    bucket: str
    prefix: str
    options: S3Options
    _client: Any = field(default=None, repr=False)

    @property
    def client(self) -> S3Client:
        if self._client is None:
            import boto3
            from botocore.config import Config

            self._client = boto3.client(
                "s3",
                endpoint_url=self.options.endpoint_url,
                region_name=self.options.region,
                aws_access_key_id=self.options.access_key,
                aws_secret_access_key=self.options.secret_key,
                config=Config(
                    s3={"addressing_style": "path"},
                    # One attempt: the sink and the registry retry with backoff and pause
                    # consumption meanwhile; hidden retries would only hide an outage.
                    retries={"max_attempts": 1, "mode": "standard"},
                    connect_timeout=self.options.timeout_seconds,
                    read_timeout=self.options.timeout_seconds,
                ),
            )
        return self._client  # type: ignore[no-any-return]

    def put(self, key: str, data: bytes) -> None:
        extra: dict[str, str] = {}
        if self.options.server_side_encryption:
            extra["ServerSideEncryption"] = self.options.server_side_encryption
        if self.options.kms_key_id:
            extra["SSEKMSKeyId"] = self.options.kms_key_id
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **extra)  # type: ignore[arg-type]
        except Exception as error:  # botocore raises many unrelated types
            raise StoreError(f"{self.url}: cannot write {key}: {error}") from error

    def get(self, key: str) -> bytes | None:
        from botocore.exceptions import ClientError

        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
            return response["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
                return None
            raise StoreError(f"{self.url}: cannot read {key}: {error}") from error
        except Exception as error:
            raise StoreError(f"{self.url}: cannot read {key}: {error}") from error

    def list(self, prefix: str) -> list[str]:
        keys: list[str] = []
        root = f"{self.prefix}/" if self.prefix else ""
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=root + prefix
            )
            for page in pages:
                keys.extend(item["Key"][len(root) :] for item in page.get("Contents", []))
        except Exception as error:
            raise StoreError(f"{self.url}: cannot list {prefix}: {error}") from error
        return sorted(keys)

    def _key(self, key: str) -> str:
        return f"{self.prefix}/{key}" if self.prefix else key
