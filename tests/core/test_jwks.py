from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest
import sentry_sdk

from app.core.config import SettingsError, load_settings
from tests.conftest import ClientFactory, LogReader, auth
from tests.core.test_sentry import sentry_on
from tests.local_http import JWKSProvider, SentryIngest

CHALLENGE = 'Bearer realm="graphnode-api", error="invalid_token"'
PROBLEM = "application/problem+json"


def oidc(provider: JWKSProvider, **overrides: Any) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "jwt_jwks_url": provider.url,
        "jwt_issuer": provider.issuer,
        "jwt_audience": provider.audience,
        "jwt_jwks_min_refetch_seconds": 60,
    }
    settings.update(overrides)
    return settings


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
async def test_a_provider_token_authenticates_its_subject(
    client_factory: ClientFactory, provider: JWKSProvider, algorithm: str
) -> None:
    client = await client_factory(**oidc(provider))
    token = provider.sign("user-42", algorithm=algorithm)

    created = await client.post("/v1/nodes", json={"title": "Mine"}, headers=bearer(token))
    listed = await client.get("/v1/nodes", headers=bearer(provider.sign("user-42")))
    other = await client.get("/v1/nodes", headers=bearer(provider.sign("someone-else")))

    assert created.status_code == 201, created.text
    assert [node["id"] for node in listed.json()["items"]] == [created.json()["id"]]
    assert other.json()["items"] == []


async def test_development_tokens_still_work_beside_the_provider(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider, jwt_issuer="graphnode-api"))

    response = await client.get("/v1/nodes", headers=auth("alice"))

    assert response.status_code == 200
    assert provider.requests == []  # an HS256 token needs no provider key


@pytest.mark.parametrize(
    ("claims", "detail"),
    [
        ({"iss": "https://evil.example.test/"}, "invalid"),
        ({"aud": "another-api"}, "invalid"),
        ({"exp": 1_000_000_000}, "expired"),
        ({"sub": None}, "invalid"),
        ({"sub": "bad user\nid"}, "invalid"),
    ],
)
async def test_bad_provider_tokens_are_401_with_a_challenge(
    client_factory: ClientFactory,
    provider: JWKSProvider,
    claims: dict[str, Any],
    detail: str,
) -> None:
    client = await client_factory(**oidc(provider))

    response = await client.get("/v1/nodes", headers=bearer(provider.sign(**claims)))

    assert response.status_code == 401
    assert response.headers["content-type"] == PROBLEM
    assert response.headers["www-authenticate"] == CHALLENGE
    assert detail in response.json()["detail"]


def with_header(token: str, **header: str) -> str:
    """`token` with its header replaced (payload and signature kept)."""
    encoded = base64.urlsafe_b64encode(json.dumps({"typ": "JWT", **header}).encode())
    _, payload, signature = token.split(".")
    return f"{encoded.decode().rstrip('=')}.{payload}.{signature}"


async def test_a_token_signed_with_another_key_under_a_known_kid_is_401(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider))
    impostor = JWKSProvider()  # its own keys; never started
    forged = with_header(impostor.sign(), alg="RS256", kid=provider.kid("RS256"))

    response = await client.get("/v1/nodes", headers=bearer(forged))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_a_key_of_the_wrong_type_for_the_algorithm_is_401(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider))
    # Signed with the EC key, but claiming RS256 under the EC key's kid.
    token = with_header(provider.sign(algorithm="ES256"), alg="RS256", kid=provider.kid("ES256"))

    response = await client.get("/v1/nodes", headers=bearer(token))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE


async def test_keys_are_cached_and_refetched_once_after_a_rotation(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider, jwt_jwks_min_refetch_seconds=0))
    for _ in range(3):
        assert (await client.get("/v1/nodes", headers=bearer(provider.sign()))).status_code == 200
    provider.rotate()

    rotated = await client.get("/v1/nodes", headers=bearer(provider.sign()))

    assert rotated.status_code == 200
    assert len(provider.requests) == 2  # the first token, then the new kid


async def test_a_flood_of_unknown_kids_fetches_the_keys_at_most_once_more(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider))
    assert (await client.get("/v1/nodes", headers=bearer(provider.sign()))).status_code == 200

    responses = await asyncio.gather(
        *(
            client.get("/v1/nodes", headers=bearer(provider.sign(kid=f"made-up-{uuid.uuid4()}")))
            for _ in range(20)
        )
    )

    assert {response.status_code for response in responses} == {401}
    assert all(r.headers["www-authenticate"] == CHALLENGE for r in responses)
    assert len(provider.requests) <= 2


async def test_a_provider_outage_is_a_503_problem_reported_once(
    client_factory: ClientFactory,
    provider: JWKSProvider,
    sentry_ingest: SentryIngest,
    logs: LogReader,
) -> None:
    provider.down = True
    client = await client_factory(**sentry_on(sentry_ingest, **oidc(provider)))

    first = await client.get("/v1/nodes", headers=bearer(provider.sign()))
    second = await client.get("/v1/nodes", headers=bearer(provider.sign()))
    sentry_sdk.flush()

    for response in (first, second):
        assert response.status_code == 503
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "/problems/service-unavailable"
        assert 1 <= int(response.headers["retry-after"]) <= 60
    assert len(provider.requests) == 1  # the second did not ask the provider again
    assert len(sentry_ingest.events) == 1
    assert [line["error_type"] for line in logs.events("jwks.fetch_failed")] == ["HTTPStatusError"]


async def test_an_unreachable_provider_is_a_503_not_a_500(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider))
    token = provider.sign()
    provider.stop()

    response = await client.get("/v1/nodes", headers=bearer(token))

    assert response.status_code == 503
    assert response.json()["type"] == "/problems/service-unavailable"


async def test_cached_keys_keep_working_while_the_provider_is_down(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(
        **oidc(provider, jwt_jwks_cache_seconds=1, jwt_jwks_min_refetch_seconds=0)
    )
    assert (await client.get("/v1/nodes", headers=bearer(provider.sign()))).status_code == 200
    provider.down = True
    await asyncio.sleep(1.1)  # the cache goes stale: the next token makes a fetch attempt

    response = await client.get("/v1/nodes", headers=bearer(provider.sign()))

    assert response.status_code == 200
    assert len(provider.requests) == 2


async def test_provider_tokens_are_401_when_no_jwks_url_is_set(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(jwt_issuer=provider.issuer)

    response = await client.get("/v1/nodes", headers=bearer(provider.sign()))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == CHALLENGE
    assert provider.requests == []


def test_the_jwks_url_must_be_http() -> None:
    with pytest.raises(SettingsError, match="JWT_JWKS_URL"):
        load_settings(_env_file=None, jwt_jwks_url="file:///etc/passwd")
