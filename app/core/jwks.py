"""Signing keys of an OpenID Connect provider, from its JWKS URL (`JWT_JWKS_URL`).

Keys are cached for JWT_JWKS_CACHE_SECONDS. A token naming an unknown `kid` (the
provider rotated its keys) triggers a refetch, but at most one fetch per
JWT_JWKS_MIN_REFETCH_SECONDS, shared by every request waiting on it, so a flood of tokens
with made-up `kid`s cannot hammer the provider. Fetches go over the app's async httpx
client: nothing blocks the event loop. While the provider is unreachable, cached keys keep
working; a token whose key we do not have is a 503 (we cannot tell whether it is valid).
"""

from __future__ import annotations

import asyncio
import math
import time
from typing import Any

import httpx
import structlog
from jwt import PyJWK, PyJWKSet
from jwt.exceptions import PyJWKSetError

from app.core.config import Settings
from app.errors.exceptions import ServiceUnavailable, Unauthorized

# The JWKS of a real provider is a few kilobytes.
MAX_JWKS_BYTES = 256 * 1024

log = structlog.get_logger("graphnode.auth")


class JWKSUnavailable(Exception):
    """The provider's key set could not be fetched or parsed."""


class SigningKeys:
    def __init__(
        self,
        url: str,
        http_client: httpx.AsyncClient,
        *,
        cache_seconds: float,
        min_refetch_seconds: float,
        timeout_seconds: float,
    ) -> None:
        self._url = url
        self._http = http_client
        self._cache_seconds = cache_seconds
        self._min_refetch_seconds = min_refetch_seconds
        self._timeout = timeout_seconds
        self._keys: dict[str | None, PyJWK] = {}
        self._fetched_at = -math.inf  # last successful fetch (monotonic)
        self._attempted_at = -math.inf  # last fetch attempt, successful or not
        self._last_failed = False
        self._lock = asyncio.Lock()
        self.fetches = 0

    async def get(self, kid: str | None) -> PyJWK:
        """The key for `kid`: Unauthorized if the provider has none, ServiceUnavailable if
        the provider cannot be reached and the key is not cached."""
        key = self._cached(kid, fresh_only=True)
        if key is not None:
            return key
        async with self._lock:
            # Another request may have fetched while this one waited.
            key = self._cached(kid, fresh_only=True)
            if key is not None:
                return key
            since_attempt = time.monotonic() - self._attempted_at
            if since_attempt >= self._min_refetch_seconds:
                await self._refresh()
            elif self._last_failed and self._cached(kid, fresh_only=False) is None:
                raise self._unavailable(report=False)
        key = self._cached(kid, fresh_only=False)
        if key is not None:
            return key
        if self._last_failed:
            raise self._unavailable(report=False)
        raise Unauthorized("The bearer token is invalid.")

    def cached(self, kid: str | None) -> PyJWK | None:
        """The key for `kid` if one was fetched, whatever its age; never asks the provider."""
        return self._cached(kid, fresh_only=False)

    def _cached(self, kid: str | None, *, fresh_only: bool) -> PyJWK | None:
        if fresh_only and time.monotonic() - self._fetched_at > self._cache_seconds:
            return None
        if kid is None and len(self._keys) == 1:
            # A provider with one key may leave `kid` out of its tokens.
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    async def _refresh(self) -> None:
        self._attempted_at = time.monotonic()
        self.fetches += 1
        try:
            keys = await self._fetch()
        except JWKSUnavailable as error:
            self._last_failed = True
            log.warning("jwks.fetch_failed", error_type=type(error.__cause__ or error).__name__)
            # The one request that found the outage reports it; the others within
            # JWT_JWKS_MIN_REFETCH_SECONDS are answered 503 without another event.
            if not self._keys:
                raise self._unavailable(report=True) from error
            return
        self._keys = keys
        self._fetched_at = time.monotonic()
        self._last_failed = False
        log.info("jwks.fetched", keys=len(keys))

    async def _fetch(self) -> dict[str | None, PyJWK]:
        try:
            response = await self._http.get(
                self._url, timeout=self._timeout, headers={"Accept": "application/json"}
            )
            response.raise_for_status()
            if len(response.content) > MAX_JWKS_BYTES:
                raise JWKSUnavailable("the key set is too large")
            document: Any = response.json()
            if not isinstance(document, dict):
                raise JWKSUnavailable("the key set is not a JSON object")
            key_set = PyJWKSet.from_dict(document)
        except (httpx.HTTPError, ValueError, PyJWKSetError) as error:
            raise JWKSUnavailable(type(error).__name__) from error
        # Signature keys only: `use` absent or "sig", as PyJWKClient selects them.
        return {key.key_id: key for key in key_set.keys if key.public_key_use in (None, "sig")}

    def _unavailable(self, *, report: bool) -> ServiceUnavailable:
        wait = self._min_refetch_seconds - (time.monotonic() - self._attempted_at)
        return ServiceUnavailable(
            "The identity provider's signing keys are unavailable. Retry later.",
            retry_after=max(1, math.ceil(wait)),
            report=report,
        )


def build_signing_keys(settings: Settings, http_client: httpx.AsyncClient) -> SigningKeys | None:
    """The provider's keys when JWT_JWKS_URL is set; None accepts only JWT_SECRET tokens."""
    if settings.jwt_jwks_url is None:
        return None
    return SigningKeys(
        settings.jwt_jwks_url,
        http_client,
        cache_seconds=settings.jwt_jwks_cache_seconds,
        min_refetch_seconds=settings.jwt_jwks_min_refetch_seconds,
        timeout_seconds=settings.jwt_jwks_timeout_seconds,
    )
