"""SASL/OAUTHBEARER: OIDC tokens from a real HTTP token endpoint, MSK IAM tokens signed
with AWS credentials, and the clients' configuration."""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from pydantic import SecretStr
from pydantic import ValidationError as PydanticValidationError

from streamml.kafka_auth import CachedToken, FaustTokenProvider, TokenError, oidc_fetcher
from streamml.settings import Settings


@pytest.fixture
def token_endpoint() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A client-credentials token endpoint that knows one client."""
    requests: list[dict[str, Any]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers["Content-Length"])
            form = dict(urllib.parse.parse_qsl(self.rfile.read(length).decode()))
            basic = base64.b64decode(self.headers["Authorization"].split()[1]).decode()
            requests.append({"form": form, "client": basic})
            if basic != "worker:s3cret":
                self.send_response(401)
                self.end_headers()
                return
            body = json.dumps({"access_token": f"token-{len(requests)}", "expires_in": 100})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/token", requests
    server.shutdown()


def test_oidc_tokens_are_fetched_with_client_credentials_and_cached(
    token_endpoint: tuple[str, list[dict[str, Any]]],
) -> None:
    url, requests = token_endpoint
    now = [1000.0]
    source = CachedToken(oidc_fetcher(url, "worker", "s3cret", "kafka"), clock=lambda: now[0])
    assert source.token() == ("token-1", 1100.0)
    now[0] = 1070.0  # before 80 % of its lifetime: the same token
    assert source.token()[0] == "token-1"
    now[0] = 1081.0  # past it: a new one
    assert source.token()[0] == "token-2"
    assert requests[0]["form"] == {"grant_type": "client_credentials", "scope": "kafka"}
    # Faust's clients get the same tokens.
    assert asyncio.run(FaustTokenProvider(source).token()) == "token-2"


def test_a_refused_client_is_a_clear_error(
    token_endpoint: tuple[str, list[dict[str, Any]]],
) -> None:
    url, _ = token_endpoint
    with pytest.raises(TokenError, match=r"token endpoint .*/token refused: HTTP 401"):
        CachedToken(oidc_fetcher(url, "worker", "wrong", None)).token()


def test_oidc_settings_configure_librdkafka_to_fetch_tokens_itself() -> None:
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_oauth_token_endpoint_url="https://idp.example/token",
        kafka_oauth_client_id="worker",
        kafka_oauth_client_secret=SecretStr("s3cret"),
        kafka_oauth_scope="kafka",
    )
    config = settings.kafka_client_config()
    assert config["sasl.mechanism"] == "OAUTHBEARER"
    assert config["sasl.oauthbearer.method"] == "oidc"
    assert config["sasl.oauthbearer.token.endpoint.url"] == "https://idp.example/token"
    assert (config["sasl.oauthbearer.client.id"], config["sasl.oauthbearer.scope"]) == (
        "worker",
        "kafka",
    )


def test_msk_iam_tokens_are_signed_for_the_region(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
    settings = Settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism="OAUTHBEARER",
        kafka_oauth_method="msk-iam",
        kafka_msk_region="eu-west-1",
    )
    oauth_cb = settings.kafka_client_config()["oauth_cb"]
    token, expires = oauth_cb("")
    url = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode()
    assert url.startswith("https://kafka.eu-west-1.amazonaws.com/?Action=kafka-cluster%3AConnect")
    assert "X-Amz-Credential=AKIDEXAMPLE" in url and "not-a-real-secret" not in url
    assert expires > 0


@pytest.mark.parametrize(
    ("extra", "missing"),
    [
        ({}, "STREAMML_KAFKA_OAUTH_TOKEN_ENDPOINT_URL"),
        ({"kafka_oauth_method": "msk-iam"}, "STREAMML_KAFKA_MSK_REGION"),
    ],
)
def test_incomplete_oauth_settings_name_what_is_missing(
    extra: dict[str, str], missing: str
) -> None:
    with pytest.raises(PydanticValidationError, match=missing):
        Settings(kafka_sasl_mechanism="OAUTHBEARER", **extra)
