from __future__ import annotations

from httpx import AsyncClient

from tests.conftest import ClientFactory, LogReader, service_url


async def test_healthz_reports_version_and_environment(client: AsyncClient) -> None:
    response = await client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "version": "graphnode-api@1.2.3-test",
        "environment": "development",
    }


async def test_readyz_is_ok_when_the_database_answers(client: AsyncClient) -> None:
    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}


async def test_readyz_is_a_503_problem_when_the_database_is_unreachable(
    client_factory: ClientFactory, logs: LogReader
) -> None:
    # Port 9 (discard) is closed on the loopback: the connection is refused at once.
    client = await client_factory(
        database_url="postgresql+asyncpg://nobody:pw-x1@127.0.0.1:9/db",
        database_auto_migrate=False,
    )

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "5"
    body = response.json()
    assert body["type"] == "/problems/service-unavailable"
    assert body["checks"] == {"database": "unavailable", "broker": "ok"}
    (failed_check,) = logs.events("readiness.check_failed")
    assert failed_check["check"] == "database"
    assert "pw-x1" not in logs.text


async def test_readyz_against_real_postgres(client_factory: ClientFactory) -> None:
    client = await client_factory(database_url=service_url("TEST_DATABASE_URL"))

    response = await client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["checks"]["database"] == "ok"
