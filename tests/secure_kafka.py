"""A Kafka broker that lets in only its users: TLS with a certificate authority and
SASL/SCRAM users, both made by the test (``tests/integration/test_security.py``)."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from testcontainers.core.waiting_utils import WaitStrategy

from tests.containers import KafkaMetadataWaitStrategy, StreamMLKafkaContainer


@dataclass(frozen=True, slots=True)
class Certificates:
    """A certificate authority and a server certificate it signed, as PEM files in one
    directory: ``ca.pem`` (what clients trust) and ``server.pem`` (the unencrypted PKCS#8
    key and the chain, Kafka's PEM key store)."""

    directory: Path

    @property
    def ca(self) -> Path:
        return self.directory / "ca.pem"

    @property
    def server(self) -> Path:
        return self.directory / "server.pem"

    @classmethod
    def create(cls, directory: Path, hosts: tuple[str, ...] = ("localhost",)) -> Certificates:
        """New keys, valid for a day, for ``hosts`` and 127.0.0.1."""
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        now = datetime.now(UTC)

        def certificate(
            subject: str, key: ec.EllipticCurvePrivateKey, issuer: x509.Name
        ) -> x509.CertificateBuilder:
            return (
                x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
                .issuer_name(issuer)
                .public_key(key.public_key())
                .serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(minutes=5))
                .not_valid_after(now + timedelta(days=1))
            )

        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "streamml test CA")])
        ca_cert = (
            certificate("streamml test CA", ca_key, ca_name)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(h) for h in hosts]
        names.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
        cert = (
            certificate(hosts[0], key, ca_name)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .sign(ca_key, hashes.SHA256())
        )
        directory.mkdir(parents=True, exist_ok=True)
        pem = serialization.Encoding.PEM
        result = cls(directory)
        result.ca.write_bytes(ca_cert.public_bytes(pem))
        result.server.write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
            + cert.public_bytes(pem)
            + ca_cert.public_bytes(pem)
        )
        return result


class SecureKafkaContainer(StreamMLKafkaContainer):
    """One node whose only client listener is SASL_SSL with SCRAM-SHA-512: TLS with the
    server certificate of ``certificates``, and the ``users`` (name: password) created when
    its storage is formatted. The broker talks to itself as the first of them."""

    client_listener = "SASL_SSL"
    SECRETS = "/etc/kafka/secrets"

    def __init__(self, image: str, certificates: Certificates, users: dict[str, str]) -> None:
        self.certificates = certificates
        self.users = users
        super().__init__(image)
        broker_user, broker_password = next(iter(users.items()))
        self.with_volume_mapping(str(certificates.directory), self.SECRETS, "ro")
        self.with_env(
            "SCRAM_USERS",
            "\n".join(f"SCRAM-SHA-512=[name={u},password={p}]" for u, p in users.items()),
        )
        self.with_envs(
            KAFKA_LISTENER_SECURITY_PROTOCOL_MAP="SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
            KAFKA_INTER_BROKER_LISTENER_NAME="SASL_SSL",
            KAFKA_SASL_ENABLED_MECHANISMS="SCRAM-SHA-512",
            KAFKA_SASL_MECHANISM_INTER_BROKER_PROTOCOL="SCRAM-SHA-512",
            KAFKA_LISTENER_NAME_SASL___SSL_SCRAM__SHA__512_SASL_JAAS_CONFIG=(
                "org.apache.kafka.common.security.scram.ScramLoginModule required "
                f'username="{broker_user}" password="{broker_password}";'
            ),
            KAFKA_SSL_KEYSTORE_TYPE="PEM",
            KAFKA_SSL_KEYSTORE_LOCATION=f"{self.SECRETS}/{certificates.server.name}",
            KAFKA_SSL_TRUSTSTORE_TYPE="PEM",
            KAFKA_SSL_TRUSTSTORE_LOCATION=f"{self.SECRETS}/{certificates.ca.name}",
        )

    def client_config(self, user: str) -> dict[str, str]:
        """librdkafka properties to connect as ``user``."""
        return {
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": "SCRAM-SHA-512",
            "sasl.username": user,
            "sasl.password": self.users[user],
            "ssl.ca.location": str(self.certificates.ca),
        }

    def _ready(self) -> WaitStrategy:
        first = next(iter(self.users))
        return KafkaMetadataWaitStrategy(self.get_bootstrap_server(), **self.client_config(first))
