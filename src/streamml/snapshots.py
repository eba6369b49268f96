"""Signed model snapshots: what a trainer publishes and a scorer hot-swaps.

A snapshot is a JSON envelope (task, version, examples learned, creation time, metrics,
library versions, encoding) around the pickled River model, zlib-compressed (text models
are mostly strings and shrink about 1.8x), with an HMAC-SHA256 over the envelope and the
model bytes. The signature is checked *before* anything is unpickled; a snapshot
that does not verify is refused with :class:`SnapshotError`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import pickle
import platform
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from typing import Any

from streamml.errors import StreamMLError

LIBRARIES = ("river", "numpy", "streamml")
ENCODING = "pickle+zlib"
"""How ``model_bytes`` hold the model; envelopes without one hold a bare pickle."""


class SnapshotError(StreamMLError):
    """A snapshot is malformed, unsigned or signed with another key."""


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One published version of a task's model."""

    task: str
    version: int
    examples: int
    created: datetime
    model_bytes: bytes
    metrics: dict[str, float] = field(default_factory=dict)
    libraries: dict[str, str] = field(default_factory=dict)
    encoding: str = ENCODING
    provenance: dict[str, Any] = field(default_factory=dict)
    """What the model learned from, when it was not the trainer's stream (a bootstrap
    from history: source, data span, rows, cut-off); signed with the rest."""

    @property
    def name(self) -> str:
        return f"{self.task}-v{self.version}"

    def model(self) -> Any:
        """The unpickled model. Only call on a snapshot returned by :func:`verify`."""
        raw = zlib.decompress(self.model_bytes) if self.encoding == ENCODING else self.model_bytes
        return pickle.loads(raw)  # bytes verified by HMAC first


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "unknown"
    return versions


def encode_model(model: Any) -> bytes:
    """The model as a snapshot holds it (:data:`ENCODING`); its length is what a
    snapshot of ``model`` weighs, before the envelope's base64."""
    return zlib.compress(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL), 1)


def take(
    task: str,
    version: int,
    examples: int,
    model: Any,
    metrics: dict[str, float],
    *,
    provenance: dict[str, Any] | None = None,
) -> Snapshot:
    """Snapshot ``model`` as it is now."""
    return Snapshot(
        task=task,
        version=version,
        examples=examples,
        created=datetime.now(UTC),
        model_bytes=encode_model(model),
        metrics=dict(metrics),
        libraries=library_versions(),
        provenance=dict(provenance or {}),
    )


def _header(snapshot: Snapshot) -> bytes:
    fields: dict[str, Any] = {
        "task": snapshot.task,
        "version": snapshot.version,
        "examples": snapshot.examples,
        "created": snapshot.created.isoformat(),
        "metrics": snapshot.metrics,
        "libraries": snapshot.libraries,
        "encoding": snapshot.encoding,
        "model_sha256": hashlib.sha256(snapshot.model_bytes).hexdigest(),
    }
    if snapshot.provenance:  # absent from older envelopes, whose signatures still verify
        fields["provenance"] = snapshot.provenance
    return json.dumps(fields, sort_keys=True).encode()


def _signature(header: bytes, model_bytes: bytes, key: bytes) -> str:
    mac = hmac.new(key, header, hashlib.sha256)
    mac.update(b"\0")
    mac.update(model_bytes)
    return mac.hexdigest()


def sign(snapshot: Snapshot, key: bytes) -> bytes:
    """The wire form of ``snapshot``, signed with ``key``.

    Examples
    --------
    >>> snap = take("fraud", 3, 1000, {"weights": [1.0]}, {"logloss": 0.1})
    >>> verify(sign(snap, b"k"), b"k").model()
    {'weights': [1.0]}
    >>> verify(sign(snap, b"k"), b"other")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    streamml.snapshots.SnapshotError: snapshot fraud-v3 has a bad signature ...
    """
    header = _header(snapshot)
    envelope = {
        "header": header.decode(),
        "model": base64.b64encode(snapshot.model_bytes).decode(),
        "signature": _signature(header, snapshot.model_bytes, key),
    }
    return json.dumps(envelope).encode()


def verify(data: bytes, key: bytes) -> Snapshot:
    """Check the signature of a wire snapshot and return it, or raise :class:`SnapshotError`."""
    try:
        envelope = json.loads(data)
        header = envelope["header"].encode()
        model_bytes = base64.b64decode(envelope["model"], validate=True)
        signature = str(envelope["signature"])
        fields = json.loads(header)
        name = f"{fields['task']}-v{fields['version']}"
        if fields.get("encoding", "pickle") not in ("pickle", ENCODING):
            raise ValueError(f"unknown model encoding {fields['encoding']!r}")
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise SnapshotError(f"malformed snapshot: {error!r}") from None
    expected = _signature(header, model_bytes, key)
    if not hmac.compare_digest(signature, expected):
        raise SnapshotError(
            f"snapshot {name} has a bad signature (wrong key or tampered bytes); "
            "refusing to load it"
        )
    return Snapshot(
        task=fields["task"],
        version=int(fields["version"]),
        examples=int(fields["examples"]),
        created=datetime.fromisoformat(fields["created"]),
        model_bytes=model_bytes,
        metrics={k: float(v) for k, v in fields["metrics"].items()},
        libraries=dict(fields["libraries"]),
        encoding=str(fields.get("encoding", "pickle")),
        provenance=dict(fields.get("provenance") or {}),
    )
