from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

import pytest
from httpx import AsyncClient
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.core.db import create_engine, create_session_factory
from app.errors.exceptions import Conflict
from app.main import create_app
from app.models import IdempotencyKey, utcnow
from app.repositories.graph import NodeRepository
from app.services.idempotency import Reservation, idempotency_service, purge_expired_keys
from tests.conftest import ClientFactory, LogReader, SettingsFactory, auth

ALICE = auth("alice")
BOB = auth("bob")
PROBLEM = "application/problem+json"


def keyed(headers: dict[str, str], key: str) -> dict[str, str]:
    return {**headers, "Idempotency-Key": key}


def new_key() -> str:
    return f'"{uuid.uuid4()}"'


async def node_titles(client: AsyncClient, headers: dict[str, str] = ALICE) -> list[str]:
    page = (await client.get("/v1/nodes?limit=100", headers=headers)).json()
    return [node["title"] for node in page["items"]]


async def test_retry_with_the_same_key_replays_the_first_response(
    graph_client: AsyncClient,
) -> None:
    key = new_key()
    body = {"title": "Once", "tags": ["a"]}

    first = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    retry = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    assert retry.headers["etag"] == first.headers["etag"]
    assert retry.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert await node_titles(graph_client) == ["Once"]


async def test_an_unquoted_key_is_the_same_key_as_its_quoted_form(
    graph_client: AsyncClient,
) -> None:
    key = str(uuid.uuid4())
    body = {"title": "Once"}

    first = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    retry = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, f'"{key}"'))

    assert retry.json() == first.json()
    assert await node_titles(graph_client) == ["Once"]


async def test_the_same_key_with_another_body_is_a_422_problem(graph_client: AsyncClient) -> None:
    key = new_key()
    await graph_client.post("/v1/nodes", json={"title": "One"}, headers=keyed(ALICE, key))

    response = await graph_client.post(
        "/v1/nodes", json={"title": "Two"}, headers=keyed(ALICE, key)
    )

    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["type"] == "/problems/idempotency-key-reused"
    assert await node_titles(graph_client) == ["One"]


async def test_the_same_key_on_another_operation_is_a_422_problem(
    graph_client: AsyncClient,
) -> None:
    key = new_key()
    await graph_client.post("/v1/nodes", json={"title": "One"}, headers=keyed(ALICE, key))

    response = await graph_client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": "One"}, headers=keyed(ALICE, key)
    )

    assert response.status_code == 422
    assert response.json()["type"] == "/problems/idempotency-key-reused"


async def test_keys_are_scoped_per_user(graph_client: AsyncClient) -> None:
    key = new_key()
    body = {"title": "Mine"}

    alice = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    bob = await graph_client.post("/v1/nodes", json=body, headers=keyed(BOB, key))

    assert alice.status_code == bob.status_code == 201
    assert "idempotent-replayed" not in bob.headers
    assert alice.json()["id"] != bob.json()["id"]
    assert await node_titles(graph_client, BOB) == ["Mine"]


@pytest.mark.parametrize(
    "key", ["", '""', '"unterminated', '"a"b"', "x" * 256, "tab\tkey", '"\x7f"', "a\\b"]
)
async def test_invalid_key_syntax_is_a_400_problem(graph_client: AsyncClient, key: str) -> None:
    response = await graph_client.post("/v1/nodes", json={"title": "No"}, headers=keyed(ALICE, key))

    assert response.status_code == 400
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/invalid-idempotency-key"
    assert problem["errors"] == [
        {"detail": "Invalid Idempotency-Key.", "header": "Idempotency-Key"}
    ]
    assert await node_titles(graph_client) == []


async def test_two_concurrent_requests_with_one_key_create_one_node(
    graph_client: AsyncClient,
) -> None:
    key = new_key()
    body = {"title": "Concurrent"}

    responses = await asyncio.gather(
        *(graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key)) for _ in range(4))
    )

    statuses = sorted(response.status_code for response in responses)
    assert set(statuses) <= {201, 409}, statuses
    created = [r for r in responses if r.status_code == 201]
    assert len({r.json()["id"] for r in created}) == 1
    assert sum("idempotent-replayed" not in r.headers for r in created) == 1
    for conflict in (r for r in responses if r.status_code == 409):
        assert conflict.json()["type"] == "/problems/idempotency-key-in-use"
    assert await node_titles(graph_client) == ["Concurrent"]


@pytest.fixture
def held_node_creation(monkeypatch: pytest.MonkeyPatch) -> Iterator[asyncio.Event]:
    """Node creation waits for the returned event: a request stays in flight until set."""
    release = asyncio.Event()
    add = NodeRepository.add

    async def held_add(self: NodeRepository, node: Any, tags: Any) -> Any:
        await release.wait()
        return await add(self, node, tags)

    monkeypatch.setattr(NodeRepository, "add", held_add)
    yield release
    release.set()


async def test_a_retry_while_the_first_is_in_flight_is_a_409_then_a_replay(
    graph_client: AsyncClient, held_node_creation: asyncio.Event
) -> None:
    key = new_key()
    body = {"title": "Slow"}
    first = asyncio.create_task(
        graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    )
    await asyncio.sleep(0.2)  # let the first request reserve the key

    in_flight = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    held_node_creation.set()
    created = await first
    replay = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))

    assert in_flight.status_code == 409
    assert in_flight.headers["content-type"] == PROBLEM
    assert in_flight.json()["type"] == "/problems/idempotency-key-in-use"
    assert in_flight.headers["retry-after"] == "1"
    assert created.status_code == 201
    assert replay.status_code == 201
    assert replay.json() == created.json()


async def test_a_failed_request_releases_its_key(graph_client: AsyncClient) -> None:
    key = new_key()
    source = (await graph_client.post("/v1/nodes", json={"title": "S"}, headers=ALICE)).json()
    body = {"source_id": source["id"], "target_id": str(uuid.uuid4()), "relation": "r"}

    failed = await graph_client.post("/v1/edges", json=body, headers=keyed(ALICE, key))
    target = (await graph_client.post("/v1/nodes", json={"title": "T"}, headers=ALICE)).json()
    # A new body needs a new key; the failed request left nothing behind for this key.
    retried = await graph_client.post(
        "/v1/edges", json={**body, "target_id": target["id"]}, headers=keyed(ALICE, key)
    )

    assert failed.status_code == 404
    assert retried.status_code == 201, retried.text
    assert "idempotent-replayed" not in retried.headers


async def test_edge_creation_is_replayed(graph_client: AsyncClient) -> None:
    key = new_key()
    a = (await graph_client.post("/v1/nodes", json={"title": "A"}, headers=ALICE)).json()
    b = (await graph_client.post("/v1/nodes", json={"title": "B"}, headers=ALICE)).json()
    body = {"source_id": a["id"], "target_id": b["id"], "relation": "knows"}

    first = await graph_client.post("/v1/edges", json=body, headers=keyed(ALICE, key))
    retry = await graph_client.post("/v1/edges", json=body, headers=keyed(ALICE, key))

    assert first.status_code == retry.status_code == 201
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    # Without the key, the same body is a duplicate edge: the replay did not create one.
    again = await graph_client.post("/v1/edges", json=body, headers=ALICE)
    assert again.status_code == 409
    assert again.json()["existing_id"] == first.json()["id"]


async def test_job_submission_is_replayed_without_a_second_job(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory()
    key = new_key()
    body = {"kind": "extract-graph", "text": "Graphs link concepts. Concepts form graphs."}

    first = await client.post("/v1/ai/jobs", json=body, headers=keyed(ALICE, key))
    retry = await client.post("/v1/ai/jobs", json=body, headers=keyed(ALICE, key))

    assert first.status_code == retry.status_code == 202
    assert retry.json() == first.json()
    assert retry.headers["location"] == first.headers["location"]
    jobs = (await client.get("/v1/ai/jobs", headers=ALICE)).json()["items"]
    assert [job["id"] for job in jobs] == [first.json()["id"]]


@asynccontextmanager
async def sessions_on(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions of our own on the test's database, beside the app's."""
    engine = create_engine(database_url)
    try:
        yield create_session_factory(engine)
    finally:
        await engine.dispose()


async def _age_key(database_url: str, key: str, **changes: Any) -> None:
    async with sessions_on(database_url) as sessions, sessions() as session:
        await session.execute(
            update(IdempotencyKey).where(IdempotencyKey.key == key).values(**changes)
        )
        await session.commit()


async def _keys(database_url: str) -> list[str]:
    async with sessions_on(database_url) as sessions, sessions() as session:
        return list((await session.execute(select(IdempotencyKey.key))).scalars())


async def test_an_expired_key_does_the_work_again(
    graph_client: AsyncClient, database_url: str
) -> None:
    key = str(uuid.uuid4())
    body = {"title": "Daily"}
    first = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    await _age_key(database_url, key, expires_at=utcnow() - timedelta(seconds=1))

    second = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))

    assert second.status_code == 201
    assert "idempotent-replayed" not in second.headers
    assert second.json()["id"] != first.json()["id"]


async def test_an_abandoned_reservation_is_taken_over(
    graph_client: AsyncClient, database_url: str
) -> None:
    key = str(uuid.uuid4())
    body = {"title": "Crashed"}
    await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))
    # As if the first request had died before recording its response, long ago.
    await _age_key(database_url, key, status_code=None, created_at=utcnow() - timedelta(minutes=5))

    retry = await graph_client.post("/v1/nodes", json=body, headers=keyed(ALICE, key))

    assert retry.status_code == 201
    assert "idempotent-replayed" not in retry.headers


async def test_expired_keys_are_purged(graph_client: AsyncClient, database_url: str) -> None:
    old, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    await graph_client.post("/v1/nodes", json={"title": "Old"}, headers=keyed(ALICE, old))
    await graph_client.post("/v1/nodes", json={"title": "New"}, headers=keyed(ALICE, fresh))
    await _age_key(database_url, old, expires_at=utcnow() - timedelta(seconds=1))

    async with sessions_on(database_url) as sessions:
        await purge_expired_keys(sessions)

    assert await _keys(database_url) == [fresh]


async def test_expired_keys_are_purged_when_the_app_starts(
    client_factory: ClientFactory, tmp_path: Any, logs: LogReader
) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'purge.db'}"
    first = await client_factory(database_url=database_url)
    old, fresh = str(uuid.uuid4()), str(uuid.uuid4())
    await first.post("/v1/nodes", json={"title": "Old"}, headers=keyed(ALICE, old))
    await first.post("/v1/nodes", json={"title": "New"}, headers=keyed(ALICE, fresh))
    await _age_key(database_url, old, expires_at=utcnow() - timedelta(seconds=1))

    await client_factory(database_url=database_url)
    deadline = asyncio.get_running_loop().time() + 10
    while not [line for line in logs.events("idempotency.purged") if line["keys"] == 1]:
        assert asyncio.get_running_loop().time() < deadline, "no purge with one key"
        await asyncio.sleep(0.02)

    assert await _keys(database_url) == [fresh]


class RefusingTransport:
    """The broker's side of the outbox while the broker is down."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport

    def stamp(self, job: Any) -> Any:
        return self.transport.stamp(job)

    async def send(self, job: Any) -> None:
        raise ConnectionError("broker down")


async def test_a_job_accepted_while_the_broker_is_down_is_replayed_not_submitted_again(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> None:
    app = create_app(settings_factory(outbox_relay_interval_seconds=3600))
    client = await client_factory(app)
    relay = app.state.job_queue
    working, relay.transport = relay.transport, RefusingTransport(relay.transport)
    key = new_key()
    body = {"kind": "extract-graph", "text": "Graphs link concepts."}

    accepted = await client.post("/v1/ai/jobs", json=body, headers=keyed(ALICE, key))
    relay.transport = working
    retried = await client.post("/v1/ai/jobs", json=body, headers=keyed(ALICE, key))

    # Accepted once its row committed (the outbox sends it later): the retry gets that job.
    assert accepted.status_code == 202
    assert accepted.json()["status"] == "queued"
    assert retried.status_code == 202
    assert retried.headers["idempotent-replayed"] == "true"
    assert retried.json()["id"] == accepted.json()["id"]
    assert retried.headers["location"] == accepted.headers["location"]


async def test_a_request_that_lost_its_reservation_cannot_record_its_response(
    graph_client: AsyncClient, database_url: str
) -> None:
    key = str(uuid.uuid4())
    async with sessions_on(database_url) as sessions:
        async with sessions() as session:
            first = await idempotency_service.reserve(
                session, owner_id="alice", key=key, fingerprint="f"
            )
            await session.commit()
        await _age_key(database_url, key, created_at=utcnow() - timedelta(minutes=5))
        async with sessions() as session:
            second = await idempotency_service.reserve(
                session, owner_id="alice", key=key, fingerprint="f"
            )
            await session.commit()
        async with sessions() as session:
            assert isinstance(first, Reservation)
            with pytest.raises(Conflict):
                await idempotency_service.record(
                    session,
                    owner_id="alice",
                    key=key,
                    reservation=first,
                    status_code=201,
                    body={},
                    headers={},
                )

    assert isinstance(second, Reservation)
    assert second.token != first.token
