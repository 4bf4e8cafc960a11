from __future__ import annotations

import asyncio
from typing import Any

import pytest
import sentry_sdk
from httpx import AsyncClient
from sqlalchemy.exc import OperationalError

from app.services.extraction import GraphExtractionService
from app.worker.queue import TaskiqJobQueue
from tests.conftest import ClientFactory, LogReader, auth
from tests.core.test_sentry import sentry_on
from tests.local_http import SentryIngest
from tests.routers.test_graph_observability import AS_DEVELOPMENT

ALICE = auth("alice")
BOB = auth("bob")
DOCUMENT = (
    "Graph databases store nodes and edges. A knowledge graph links concepts with typed "
    "relations. Graph databases answer relationship queries quickly. Knowledge graph "
    "queries traverse edges between nodes."
)


async def wait_for_job(
    client: AsyncClient, location: str, headers: dict[str, str], *, seconds: float = 15
) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while True:
        job = (await client.get(location, headers=headers)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job did not finish: {job}")
        await asyncio.sleep(0.05)


async def submit(client: AsyncClient, headers: dict[str, str] = ALICE) -> Any:
    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=headers
    )
    assert response.status_code == 202, response.text
    return response


async def test_job_runs_and_writes_concepts_and_co_occurrences(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory()

    response = await submit(client)
    job = await wait_for_job(client, response.headers["location"], ALICE)

    assert response.json()["status"] == "queued"
    assert response.headers["location"] == f"/v1/ai/jobs/{response.json()['id']}"
    assert job["status"] == "succeeded"
    assert job["attempts"] == 1
    assert job["problem"] is None
    result = job["result"]
    assert result["nodes_created"] == len(result["concepts"]) >= 5
    assert result["edges_created"] > 0
    nodes = (await client.get("/v1/nodes?limit=100&tag=extracted", headers=ALICE)).json()
    assert {node["title"] for node in nodes["items"]} == set(result["concepts"])
    some = nodes["items"][0]["id"]
    edges = (await client.get(f"/v1/nodes/{some}/edges", headers=ALICE)).json()["items"]
    assert all(edge["relation"] == "co-occurs-with" and edge["weight"] >= 1 for edge in edges)


async def test_a_second_document_reuses_nodes_and_strengthens_edges(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory()

    first = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)
    second = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)

    assert second["result"]["nodes_created"] == 0
    assert second["result"]["nodes_reused"] == first["result"]["nodes_created"]
    assert second["result"]["edges_strengthened"] == first["result"]["edges_created"]


async def test_another_users_job_is_a_404(client_factory: ClientFactory) -> None:
    client = await client_factory()
    location = (await submit(client)).headers["location"]

    assert (await client.get(location, headers=BOB)).status_code == 404


async def test_job_input_is_validated(client_factory: ClientFactory) -> None:
    client = await client_factory(ai_max_text_chars=100)

    for body, status in (
        ({"kind": "summarize", "text": "x"}, 422),
        ({"kind": "extract-graph", "text": "  "}, 422),
        ({"kind": "extract-graph", "text": "a\u0000b"}, 422),
        ({"kind": "extract-graph", "text": "x" * 101}, 413),
    ):
        response = await client.post("/v1/ai/jobs", json=body, headers=ALICE)
        assert response.status_code == status, body


async def test_a_job_that_cannot_be_sent_is_failed_and_answered_503(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await client_factory()

    async def broker_down(self: TaskiqJobQueue, job: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(TaskiqJobQueue, "enqueue", broker_down)
    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
    )

    assert response.status_code == 503
    assert response.headers["retry-after"] == "10"
    problem = response.json()
    job = (await client.get(f"/v1/ai/jobs/{problem['job_id']}", headers=ALICE)).json()
    assert job["status"] == "failed"
    assert job["problem"]["type"] == "/problems/service-unavailable"
    assert job["problem"]["status"] == 503


async def test_audit_lines_of_the_job_carry_the_requests_ids(
    client_factory: ClientFactory, logs: LogReader
) -> None:
    client = await client_factory()

    response = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**ALICE, "X-Request-ID": "job-origin-01"},
    )
    job = await wait_for_job(client, response.headers["location"], ALICE)

    extraction = [
        line
        for line in logs.read()
        if line["event"].startswith("audit.") and line.get("service") == "GraphExtractionService"
    ]
    assert [line["event"] for line in extraction] == ["audit.call", "audit.success"]
    for line in extraction:
        assert line["correlation_id"] == "job-origin-01"
        assert line["user_id"] == "alice"
        assert line["job_id"] == job["id"]


async def test_transient_failures_are_retried_with_the_attempts_counted(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = await client_factory(job_retry_base_seconds=0.01, job_max_attempts=3)
    original = GraphExtractionService.extract
    failures = iter([True, True, False])

    async def flaky(self: GraphExtractionService, *args: Any, **kwargs: Any) -> Any:
        if next(failures):
            raise OperationalError("SELECT", {}, ConnectionResetError("db restarted"))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(GraphExtractionService, "extract", flaky)
    job = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)

    assert job["status"] == "succeeded"
    assert job["attempts"] == 3


async def test_a_failing_job_is_failed_with_a_problem_and_reported_once(
    client_factory: ClientFactory,
    sentry_ingest: SentryIngest,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = await client_factory(**sentry_on(sentry_ingest, **AS_DEVELOPMENT))

    async def broken(self: GraphExtractionService, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("extractor bug with secret text")

    monkeypatch.setattr(GraphExtractionService, "extract", broken)
    response = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**ALICE, "X-Request-ID": "job-fail-0001"},
    )
    job = await wait_for_job(client, response.headers["location"], ALICE)
    sentry_sdk.flush()

    assert job["status"] == "failed"
    assert job["attempts"] == 1  # not transient: no retry
    problem = job["problem"]
    assert problem["type"] == "/problems/internal-error"
    assert problem["status"] == 500
    assert problem["instance"] == f"/v1/ai/jobs/{job['id']}"
    assert problem["correlation_id"] == "job-fail-0001"
    assert "secret text" not in str(problem)
    (event,) = sentry_ingest.events
    assert event["event_id"] == problem["event_id"]
    assert event["contexts"]["graphnode"]["job_id"] == job["id"]
    assert event["user"]["id"] == "alice"
    assert event["tags"]["job_id"] == job["id"]
    assert event["tags"]["component"] == "worker"
    assert event["tags"]["correlation_id"] == "job-fail-0001"


async def test_job_trace_continues_the_request_through_the_publish_span(
    client_factory: ClientFactory, sentry_ingest: SentryIngest
) -> None:
    client = await client_factory(**sentry_on(sentry_ingest, **AS_DEVELOPMENT))

    response = await submit(client)
    await wait_for_job(client, response.headers["location"], ALICE)
    sentry_sdk.flush()

    transactions = {tx["transaction"]: tx for tx in sentry_ingest.transactions}
    http = transactions["/v1/ai/jobs"]
    job = transactions["graphnode.extract_graph"]
    (publish,) = [span for span in http["spans"] if span["op"] == "queue.publish"]
    assert job["transaction_info"]["source"] == "task"
    assert job["contexts"]["trace"]["op"] == "queue.task.taskiq"
    assert job["contexts"]["trace"]["status"] == "ok"
    assert job["contexts"]["trace"]["trace_id"] == http["contexts"]["trace"]["trace_id"]
    assert job["contexts"]["trace"]["parent_span_id"] == publish["span_id"]
    assert job["tags"]["component"] == "worker"
    (process,) = [span for span in job["spans"] if span["op"] == "queue.process"]
    data = process["data"]
    assert data["messaging.message.id"] == publish["data"]["messaging.message.id"]
    assert data["messaging.destination.name"] == "graphnode-jobs"
    assert data["messaging.system"] == "taskiq-inmemory"
    assert data["messaging.message.retry.count"] == 0
    assert data["messaging.message.body.size"] > 0
    assert data["messaging.message.receive.latency"] >= 0
    assert publish["data"]["messaging.message.body.size"] > 0
    # The job's service spans sit inside the process span.
    assert any(span["op"] == "service.call" for span in job["spans"])


async def test_a_redelivered_message_for_a_finished_job_writes_nothing(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory()
    response = await submit(client)
    job = await wait_for_job(client, response.headers["location"], ALICE)
    app = client._transport.app  # type: ignore[attr-defined]  # the app behind the client
    before = len((await client.get("/v1/nodes?limit=100", headers=ALICE)).json()["items"])

    # The broker delivers the same message again (at-least-once).
    task = app.state.broker.find_task("graphnode.extract_graph")
    await (await task.kiq(job_id=job["id"])).wait_result(timeout=5)

    after = (await client.get(response.headers["location"], headers=ALICE)).json()
    assert after["attempts"] == 1
    assert len((await client.get("/v1/nodes?limit=100", headers=ALICE)).json()["items"]) == before
