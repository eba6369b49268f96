"""Security on the real broker: Kafka with TLS and SASL/SCRAM (certificates and users made
by the test), clients without credentials refused, a whole run's logs free of its
secrets, a forged model snapshot refused unread, and nothing listening beyond loopback."""

from __future__ import annotations

import os
import pickle
import secrets
import signal
import threading
import urllib.request
import zlib
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer
from pydantic import SecretStr

from streamml.admin import ensure_topics
from streamml.contracts import decode_record
from streamml.datasets import SourceOptions, get_source
from streamml.produce import replay
from streamml.records import Prediction, Transaction
from streamml.settings import Settings
from streamml.snapshots import Snapshot, sign
from tests.containers import S3Endpoint, broker_answers
from tests.integration.worker_process import (
    listening_addresses,
    metrics_url,
    predictions_of,
    read_topics,
    start_worker,
    wait_until_ready,
)
from tests.secure_kafka import Certificates, SecureKafkaContainer

pytestmark = pytest.mark.integration

LOOPBACK = {"127.0.0.1", "::1"}


class Unpickled:
    """Unpickling this makes a directory: the proof that a forged snapshot was read."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (os.mkdir, (str(self.marker),))


def forged_snapshot(marker: Path) -> bytes:
    """A newer fraud model than any, signed with a key that is not the worker's."""
    snapshot = Snapshot(
        task="fraud",
        version=1_000_000,
        examples=1,
        created=datetime.now(UTC),
        model_bytes=zlib.compress(pickle.dumps(Unpickled(marker))),
    )
    return sign(snapshot, b"not-the-signing-key")


def assert_only_users_get_in(kafka: SecureKafkaContainer) -> None:
    """A user gets in; without credentials, with a wrong password, or without trusting the
    broker's certificate authority, nobody does."""
    bootstrap = kafka.get_bootstrap_server()
    as_streamml = kafka.client_config("streamml")
    assert broker_answers(bootstrap, 10, **as_streamml)
    assert not broker_answers(bootstrap, 5)
    assert not broker_answers(bootstrap, 5, **{"security.protocol": "SSL"})
    assert not broker_answers(bootstrap, 5, **{**as_streamml, "sasl.password": "guess"})
    untrusted = {k: v for k, v in as_streamml.items() if k != "ssl.ca.location"}
    assert not broker_answers(bootstrap, 5, **untrusted)


def test_a_worker_on_tls_and_scram_runs_and_keeps_its_secrets(
    kafka_image: str,
    settings_factory: Callable[..., Settings],
    s3_endpoint: S3Endpoint,
    tmp_path: Path,
) -> None:
    certificates = Certificates.create(tmp_path / "certificates")
    users = {"broker": secrets.token_hex(16), "streamml": secrets.token_hex(16)}
    signing_key = secrets.token_hex(16)
    with SecureKafkaContainer(kafka_image, certificates, users) as kafka:
        bootstrap = kafka.get_bootstrap_server()
        assert_only_users_get_in(kafka)
        settings = settings_factory(
            kafka_bootstrap_servers=bootstrap,
            kafka_security_protocol="SASL_SSL",
            kafka_sasl_mechanism="SCRAM-SHA-512",
            kafka_sasl_username="streamml",
            kafka_sasl_password=SecretStr(users["streamml"]),
            kafka_ssl_cafile=certificates.ca,
            model_signing_key=SecretStr(signing_key),
        )
        ensure_topics(settings)
        lake = f"s3://{s3_endpoint.bucket}/{settings.topic_prefix}lake"
        # The Kafka password from a secrets directory, the others from the environment.
        secrets_dir = tmp_path / "secrets"
        secrets_dir.mkdir(mode=0o700)
        (secrets_dir / "STREAMML_KAFKA_SASL_PASSWORD").write_text(users["streamml"] + "\n")
        env = {
            "STREAMML_SECRETS_DIR": str(secrets_dir),
            "STREAMML_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "STREAMML_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "STREAMML_KAFKA_SASL_USERNAME": "streamml",
            "STREAMML_KAFKA_SSL_CAFILE": str(certificates.ca),
            "STREAMML_MODEL_SIGNING_KEY": signing_key,
            "STREAMML_LAKE_URL": lake,
            "STREAMML_S3_ENDPOINT_URL": s3_endpoint.endpoint_url,
            "STREAMML_S3_ACCESS_KEY": s3_endpoint.access_key,
            "STREAMML_S3_SECRET_KEY": s3_endpoint.secret_key,
            "STREAMML_S3_REGION": s3_endpoint.region,
            "STREAMML_SNAPSHOT_EVERY_EXAMPLES": "500",
        }
        one_day = SourceOptions(end=datetime(2018, 4, 2, tzinfo=UTC))
        records = list(get_source("fraud", settings, one_day).records())
        ids = {r.event_id for r in records if isinstance(r, Transaction)}
        log = tmp_path / "worker.log"
        worker = start_worker(settings, log, debug=True, **env)
        try:
            wait_until_ready(log, worker, timeout=180)
            producing = threading.Thread(
                target=replay, args=(settings, records), kwargs={"rate": 3000, "progress": False}
            )
            producing.start()
            marker = tmp_path / "unpickled"
            producer = Producer(settings.kafka_client_config())
            producer.produce(settings.topics.model_snapshots, forged_snapshot(marker), b"fraud")
            assert producer.flush(30) == 0
            producing.join(120)
            counts = predictions_of(settings, ids, read_committed=False)
            topic = settings.topics.fraud_predictions
            served = {
                decode_record(Prediction, raw).model_version
                for raw in read_topics(settings, [topic], lambda c: False, timeout=5)[topic]
            }
            base = metrics_url(log)
            pages = [urllib.request.urlopen(f"{base}{p}", timeout=10).read() for p in PAGES]
            listening = listening_addresses(worker.pid)
        finally:
            worker.send_signal(signal.SIGTERM)
            stopped = worker.wait(90)
    text = log.read_text(errors="replace")
    assert stopped == 0, text[-3000:]
    assert ids <= counts.keys(), f"{len(ids - counts.keys())} transactions without prediction"
    assert "refused the snapshot" in text and not marker.exists()
    assert "fraud-v1000000" not in served, "the forged model was served"
    # Every socket the worker listens on (metrics and health) is on loopback.
    assert listening and {host for host, _ in listening} <= LOOPBACK, listening
    # No secret in any line the worker logged at DEBUG, nor in what it serves over HTTP.
    everything = text + "".join(page.decode() for page in pages)
    for name, secret in {
        "Kafka password": users["streamml"],
        "broker's password": users["broker"],
        "signing key": signing_key,
        "S3 secret key": s3_endpoint.secret_key,
    }.items():
        assert secret not in everything, f"the {name} is in the worker's log"
    print(f"\nsecurity: scanned {text.count(chr(10))} log lines of a run on SASL_SSL")


PAGES = ("/metrics", "/healthz")
