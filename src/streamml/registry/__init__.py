"""The model registry: every signed snapshot in the lake, and a pointer to the one served.

Layout under the lake's root (see ADR 0010)::

    models/TASK/VERSION/snapshot.json   the signed envelope, byte for byte as published
    models/TASK/VERSION/meta.json       what a person reads: examples, metrics, libraries...
    models/TASK/serving.json            the pointer: version served, mode, history

In ``latest`` mode each publish moves the pointer to the new version; ``pinned`` (set by
promote or rollback) holds it until someone follows the latest again. Every snapshot is
verified before anything is written or served, and is never unpickled unless it verifies.

>>> import tempfile
>>> from streamml.snapshots import sign, take
>>> from streamml.store import open_store
>>> registry = ModelRegistry(open_store(f"file://{tempfile.mkdtemp()}"), b"k")
>>> for version in (1, 2):
...     _ = registry.publish(sign(take("fraud", version, 10 * version, {}, {}), b"k"))
>>> registry.versions("fraud"), registry.serving("fraud").version
([1, 2], 2)
>>> registry.rollback("fraud").version, registry.serving("fraud").mode
(1, 'pinned')
"""

from streamml.registry.models import HISTORY_LIMIT, ROOT, ModelRegistry, Pointer, RegistryError
from streamml.registry.publish import RegistryPublisher
from streamml.registry.serving import RegistryFollower, ServingPolicy

__all__ = [
    "HISTORY_LIMIT",
    "ROOT",
    "ModelRegistry",
    "Pointer",
    "RegistryError",
    "RegistryFollower",
    "RegistryPublisher",
    "ServingPolicy",
]
