"""Kafka's default partitioner (murmur2), so state written outside a producer lands in
the partition a keyed record of the same key would reach.

The Java clients, Kafka Streams and librdkafka's ``murmur2_random`` (which the worker and
``streamml produce`` use) all pick ``(murmur2(key) & 0x7fffffff) % partitions`` for a
non-empty key.
"""

from __future__ import annotations

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's 32-bit murmur2 hash of ``data``, as an unsigned int.

    Examples
    --------
    Values from the Java client's own tests (``UtilsTest.testMurmur2``):

    >>> keys = (b"21", b"foobar", b"a-little-bit-long-string",
    ...         b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8")
    >>> [h - (1 << 32) if h >= 1 << 31 else h for h in map(murmur2, keys)]
    [-973932308, -790332482, -985981536, -58897971]
    """
    length = len(data)
    h = (_SEED ^ length) & _MASK
    full = length & ~3
    for i in range(0, full, 4):
        k = data[i] | (data[i + 1] << 8) | (data[i + 2] << 16) | (data[i + 3] << 24)
        k = (k * _M) & _MASK
        k ^= k >> 24
        k = (k * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    rest = length & 3
    if rest == 3:
        h ^= data[full + 2] << 16
    if rest >= 2:
        h ^= data[full + 1] << 8
    if rest >= 1:
        h ^= data[full]
        h = (h * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    h ^= h >> 15
    return h


def partition_for(key: bytes, partitions: int) -> int:
    """The partition of ``partitions`` a record keyed ``key`` goes to.

    >>> partition_for(b"c1", 1)
    0
    >>> 0 <= partition_for(b"customer-42", 12) < 12
    True
    """
    if partitions < 1:
        raise ValueError(f"a topic has at least one partition, not {partitions}")
    return (murmur2(key) & 0x7FFFFFFF) % partitions
