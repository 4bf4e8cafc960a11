from __future__ import annotations

import re
import uuid

import pytest
import sentry_sdk

from app.core.config import SettingsError, load_settings
from app.http import rate_limit
from tests.conftest import ClientFactory, LogReader, auth, service_url
from tests.core.test_jwks import bearer, oidc
from tests.core.test_sentry import sentry_on
from tests.local_http import JWKSProvider, SentryIngest
from tests.routers.test_health import TcpProxy

PROBLEM = "application/problem+json"
# RateLimit: "<policy>";r=<remaining>;t=<seconds> (draft-ietf-httpapi-ratelimit-headers)
RATELIMIT = re.compile(r'^"(?P<policy>[a-z]+)";r=(?P<r>\d+);t=(?P<t>\d+)$')


def _remaining(header: str) -> int:
    match = RATELIMIT.fullmatch(header)
    assert match is not None, header
    return int(match["r"])


async def test_every_limited_response_carries_the_policy_and_the_current_limit(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(rate_limit_default="5/minute")
    alice = auth("alice")

    responses = [await client.get("/v1/nodes", headers=alice) for _ in range(3)]

    for response in responses:
        assert response.headers["ratelimit-policy"] == '"default";q=5;w=60'
        match = RATELIMIT.fullmatch(response.headers["ratelimit"])
        assert match is not None
        assert match["policy"] == "default"
        assert 0 < int(match["t"]) <= 60
    assert [_remaining(r.headers["ratelimit"]) for r in responses] == [4, 3, 2]


async def test_over_the_limit_is_a_429_problem_with_retry_after(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(rate_limit_default="2/minute")
    alice = auth("alice")
    for _ in range(2):
        assert (await client.post("/v1/nodes", json={"title": "t"}, headers=alice)).is_success

    response = await client.post("/v1/nodes", json={"title": "t"}, headers=alice)

    assert response.status_code == 429
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/rate-limited"
    assert problem["correlation_id"] == response.headers["x-request-id"]
    match = RATELIMIT.fullmatch(response.headers["ratelimit"])
    assert match is not None
    assert match["r"] == "0"
    assert response.headers["retry-after"] == match["t"]
    assert 0 < int(match["t"]) <= 60
    assert response.headers["ratelimit-policy"] == '"default";q=2;w=60'
    # The refused request did not run.
    assert len((await client.get("/v1/nodes", headers=auth("alice2"))).json()["items"]) == 0


async def test_users_are_counted_apart_and_apart_from_anonymous_callers(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(rate_limit_default="1/minute")
    assert (await client.get("/v1/nodes", headers=auth("alice"))).status_code == 200
    assert (await client.get("/v1/nodes", headers=auth("alice"))).status_code == 429

    assert (await client.get("/v1/nodes", headers=auth("bob"))).status_code == 200
    # Same address, no token: the address has its own count.
    assert (await client.get("/v1/nodes")).status_code == 401


async def test_identity_provider_tokens_are_counted_per_user(
    client_factory: ClientFactory, provider: JWKSProvider
) -> None:
    client = await client_factory(**oidc(provider), rate_limit_default="1/minute")
    carol = bearer(provider.sign("carol", algorithm="ES256"))
    # The limiter never waits for the provider: until a route has fetched the key set, a
    # provider token is counted by address. This request spends the address's one.
    assert (await client.get("/v1/nodes", headers=carol)).status_code == 200

    assert (await client.get("/v1/nodes", headers=carol)).status_code == 200
    assert (await client.get("/v1/nodes", headers=bearer(provider.sign("dave")))).status_code == 200
    again = await client.get("/v1/nodes", headers=bearer(provider.sign("carol")))

    assert again.status_code == 429  # her subject's count, whichever token she sends
    assert len(provider.requests) == 1


async def test_anonymous_callers_and_invalid_tokens_are_counted_by_address(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(rate_limit_default="2/minute")

    first = await client.get("/v1/nodes")
    second = await client.get("/v1/nodes", headers={"Authorization": "Bearer forged.token.x"})
    third = await client.get("/v1/nodes")

    assert [first.status_code, second.status_code, third.status_code] == [401, 401, 429]
    assert _remaining(first.headers["ratelimit"]) == 1
    # A valid token is a separate count even from the same address.
    assert (await client.get("/v1/nodes", headers=auth("alice"))).status_code == 200


async def test_ai_routes_have_their_own_stricter_limit(client_factory: ClientFactory) -> None:
    client = await client_factory(rate_limit_default="100/minute", rate_limit_ai="2/minute")
    alice = auth("alice")
    analyze = {"text": "Rate limits protect the service."}

    statuses = [
        (await client.post("/v1/ai/lightweight-analyze", json=analyze, headers=alice)).status_code
        for _ in range(3)
    ]
    refused = await client.get("/v1/ai", headers=alice)
    other = await client.get("/v1/nodes", headers=alice)

    assert statuses == [200, 200, 429]
    assert refused.status_code == 429
    assert refused.headers["ratelimit-policy"] == '"ai";q=2;w=60'
    assert other.status_code == 200
    assert other.headers["ratelimit-policy"] == '"default";q=100;w=60'
    assert _remaining(other.headers["ratelimit"]) == 99


async def test_probes_docs_and_problem_pages_are_not_limited(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory(rate_limit_default="1/minute", rate_limit_ai="1/minute")

    for path in (
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/redoc",
        "/docs/assets/swagger-ui.css",
        "/problems",
        "/problems/rate-limited",
    ):
        for _ in range(3):
            response = await client.get(path)

            assert response.status_code == 200, path
            assert "ratelimit" not in response.headers, path


async def test_429s_are_not_sentry_events(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(**sentry_on(sentry_ingest), rate_limit_ai="1/minute")

    statuses = [(await client.get("/v1/ai")).status_code for _ in range(3)]
    sentry_sdk.flush()

    assert statuses == [200, 429, 429]
    assert sentry_ingest.events == []
    assert sentry_ingest.transactions  # the ingest was listening


def test_limit_settings_are_validated() -> None:
    for name, value in [
        ("rate_limit_default", "lots"),
        ("rate_limit_ai", "1/minute;10/hour"),
        ("rate_limit_ai", "0/minute"),
        ("rate_limit_storage_url", "memcached://127.0.0.1"),
        ("max_request_body_bytes", 10),
    ]:
        with pytest.raises(SettingsError, match=name.upper()):
            load_settings(_env_file=None, **{name: value})


async def test_redis_storage_is_shared_by_every_process(client_factory: ClientFactory) -> None:
    redis_url = service_url("TEST_REDIS_URL")
    settings = {"rate_limit_default": "3/minute", "rate_limit_storage_url": redis_url}
    first = await client_factory(**settings)
    second = await client_factory(**settings)
    user = auth(f"rl-{uuid.uuid4().hex}")  # the Redis is shared with other test runs

    statuses = [
        (await client.get("/v1/nodes", headers=user)).status_code
        for client in (first, second, first, second)
    ]

    assert statuses == [200, 200, 200, 429]


async def test_a_redis_outage_fails_open_and_is_logged_once(
    client_factory: ClientFactory, logs: LogReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    proxy = TcpProxy(service_url("TEST_REDIS_URL"))
    await proxy.start()
    client = await client_factory(
        rate_limit_default="2/minute",
        rate_limit_storage_url=f"redis://127.0.0.1:{proxy.port}/0",
    )
    user = auth(f"rl-{uuid.uuid4().hex}")
    before = await client.get("/v1/nodes", headers=user)
    assert _remaining(before.headers["ratelimit"]) == 1

    await proxy.cut()
    # Past the limit, but with the limiter's storage gone every request is served.
    during = [await client.get("/v1/nodes", headers=user) for _ in range(4)]

    assert [r.status_code for r in during] == [200] * 4
    assert all("ratelimit" not in r.headers for r in during)
    (warning,) = logs.events("rate_limit.storage_unavailable")
    assert warning["level"] == "warning"
    assert warning["error_type"]
    assert "127.0.0.1" not in str(warning)
    # Without waiting the retry period, the storage is not even tried again.
    monkeypatch.setattr(rate_limit, "STORAGE_RETRY_SECONDS", 0.0)
    await client.get("/v1/nodes", headers=user)
    assert len(logs.events("rate_limit.storage_unavailable")) == 1


async def test_the_limiter_recovers_when_redis_is_back(
    client_factory: ClientFactory, logs: LogReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rate_limit, "STORAGE_RETRY_SECONDS", 0.0)
    proxy = TcpProxy(service_url("TEST_REDIS_URL"))
    await proxy.start()
    port = proxy.port
    client = await client_factory(
        rate_limit_default="5/minute", rate_limit_storage_url=f"redis://127.0.0.1:{port}/0"
    )
    user = auth(f"rl-{uuid.uuid4().hex}")
    await proxy.cut()
    assert "ratelimit" not in (await client.get("/v1/nodes", headers=user)).headers

    # Back on the same address (the client reconnects to it), forwarding again.
    revived = TcpProxy(service_url("TEST_REDIS_URL"))
    await revived.start(port)
    try:
        response = await client.get("/v1/nodes", headers=user)
    finally:
        await revived.cut()

    assert "ratelimit" in response.headers
    assert len(logs.events("rate_limit.storage_recovered")) == 1
