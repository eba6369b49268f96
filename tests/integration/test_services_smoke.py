"""The services the integration tests run on work as clients expect: a message produced to
the broker comes back to a consumer group that commits its offset, and an object written to
the store reads back byte for byte."""

from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Message, Producer, TopicPartition

from tests.conftest import TopicAdmin
from tests.containers import S3Endpoint

pytestmark = pytest.mark.integration


def _consume_one(bootstrap: str, topic: str, group: str, timeout: float = 60.0) -> Message:
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group,
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = consumer.poll(1.0)
            if message is None:
                continue
            assert message.error() is None, message.error()
            # A synchronous commit needs the offsets topic: proves the group coordinator works.
            consumer.commit(message=message, asynchronous=False)
            return message
        raise AssertionError(f"no message on {topic} within {timeout} s")
    finally:
        consumer.close()


def test_a_produced_message_is_consumed_and_its_offset_committed(
    kafka_bootstrap: str, admin: TopicAdmin
) -> None:
    topic, group = f"smoke-{uuid.uuid4().hex[:8]}", f"smoke-group-{uuid.uuid4().hex[:8]}"
    admin.create(topic, partitions=1)
    producer = Producer({"bootstrap.servers": kafka_bootstrap, "acks": "all"})
    producer.produce(topic, key=b"k1", value=b"hello kafka", headers=[("h", b"v")])
    assert producer.flush(30) == 0

    message = _consume_one(kafka_bootstrap, topic, group)

    assert (message.key(), message.value()) == (b"k1", b"hello kafka")
    assert message.headers() == [("h", b"v")]
    committed = Consumer({"bootstrap.servers": kafka_bootstrap, "group.id": group})
    try:
        [position] = committed.committed([TopicPartition(topic, 0)], timeout=30)
    finally:
        committed.close()
    offset = message.offset()
    assert offset is not None and position.offset == offset + 1


def test_an_object_put_reads_back_byte_for_byte(s3_endpoint: S3Endpoint) -> None:
    client = s3_endpoint.client()
    key = f"smoke/{uuid.uuid4().hex}/part-0.bin"
    body = bytes(range(256)) * 4096  # 1 MiB, every byte value

    client.put_object(Bucket=s3_endpoint.bucket, Key=key, Body=body)

    read = client.get_object(Bucket=s3_endpoint.bucket, Key=key)["Body"].read()
    assert read == body
    listed = client.list_objects_v2(Bucket=s3_endpoint.bucket, Prefix=key)
    assert [item["Key"] for item in listed.get("Contents", [])] == [key]
    client.delete_object(Bucket=s3_endpoint.bucket, Key=key)
