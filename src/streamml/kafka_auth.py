"""SASL/OAUTHBEARER tokens for Kafka: OIDC client credentials, or Amazon MSK IAM.

librdkafka (confluent-kafka) fetches OIDC tokens itself; for MSK IAM it calls
:func:`msk_iam_oauth_cb`. Faust's aiokafka clients take a token provider
(:class:`FaustTokenProvider`) fed by the same sources, so every client of a process
authenticates the same way. Tokens are cached until shortly before they expire.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field

from aiokafka.abc import AbstractTokenProvider

from streamml.errors import ConfigurationError, StreamMLError

REFRESH_SHARE = 0.8
"""A token is renewed once this share of its lifetime has passed."""


class TokenError(StreamMLError):
    """The token endpoint refused or did not answer; the message names it."""


@dataclass
class CachedToken:
    """A token source that fetches (``fetch`` gives the token and its lifetime in
    seconds) only when the cached token is near its end."""

    fetch: Callable[[], tuple[str, float]]
    clock: Callable[[], float] = time.time
    _token: str = ""
    _renew_at: float = 0.0
    _expires_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def token(self) -> tuple[str, float]:
        """The token and when it expires (epoch seconds)."""
        with self._lock:
            now = self.clock()
            if not self._token or now >= self._renew_at:
                token, lifetime = self.fetch()
                self._token = token
                self._renew_at = now + REFRESH_SHARE * lifetime
                self._expires_at = now + lifetime
            return self._token, self._expires_at


def oidc_fetcher(
    endpoint: str, client_id: str, client_secret: str, scope: str | None, timeout: float = 10.0
) -> Callable[[], tuple[str, float]]:
    """The OAuth 2.0 client-credentials grant against ``endpoint``."""

    def fetch() -> tuple[str, float]:
        form = {"grant_type": "client_credentials", **({"scope": scope} if scope else {})}
        basic = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()
        request = urllib.request.Request(
            endpoint,
            data=urllib.parse.urlencode(form).encode(),
            headers={
                "Authorization": f"Basic {basic}",
                "Content-Type": "application/x-www-form-urlencoded",
            },
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                body = json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise TokenError(f"token endpoint {endpoint} refused: HTTP {error.code}") from None
        except (OSError, ValueError) as error:
            raise TokenError(f"token endpoint {endpoint}: {error}") from None
        if "access_token" not in body:
            raise TokenError(f"token endpoint {endpoint} answered without an access_token")
        return str(body["access_token"]), float(body.get("expires_in", 300))

    return fetch


def msk_iam_fetcher(region: str) -> Callable[[], tuple[str, float]]:
    """An MSK IAM token for ``region``, signed with the standard AWS credential chain."""

    def fetch() -> tuple[str, float]:
        from aws_msk_iam_sasl_signer import MSKAuthTokenProvider

        try:
            token, expiry_ms = MSKAuthTokenProvider.generate_auth_token(region)
        except Exception as error:  # botocore: no credentials, bad region...
            raise TokenError(f"MSK IAM token for region {region}: {error}") from None
        return str(token), max(1.0, expiry_ms / 1000 - time.time())

    return fetch


def msk_iam_oauth_cb(source: CachedToken) -> Callable[[str], tuple[str, float]]:
    """librdkafka's ``oauth_cb``: the token and its expiry in epoch seconds."""

    def oauth_cb(_config: str) -> tuple[str, float]:
        return source.token()

    return oauth_cb


class FaustTokenProvider(AbstractTokenProvider):  # type: ignore[misc]
    """aiokafka's token provider over a :class:`CachedToken` (fetched off the loop)."""

    def __init__(self, source: CachedToken) -> None:
        self.source = source

    async def token(self) -> str:
        token, _ = await asyncio.to_thread(self.source.token)
        return token


def token_source(
    method: str,
    *,
    endpoint: str | None = None,
    client_id: str | None = None,
    client_secret: str | None = None,
    scope: str | None = None,
    region: str | None = None,
) -> CachedToken:
    """The cached token source of ``method`` (``oidc`` or ``msk-iam``)."""
    if method == "msk-iam":
        if not region:
            raise ConfigurationError("STREAMML_KAFKA_MSK_REGION is needed for MSK IAM")
        return CachedToken(msk_iam_fetcher(region))
    if not (endpoint and client_id and client_secret):
        raise ConfigurationError(
            "OIDC needs STREAMML_KAFKA_OAUTH_TOKEN_ENDPOINT_URL, STREAMML_KAFKA_OAUTH_CLIENT_ID "
            "and STREAMML_KAFKA_OAUTH_CLIENT_SECRET"
        )
    return CachedToken(oidc_fetcher(endpoint, client_id, client_secret, scope))
