from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
import sentry_sdk
from asgi_lifespan import LifespanManager
from httpx import ASGITransport, AsyncClient
from sqlalchemy.exc import OperationalError
from taskiq import TaskiqMessage, TaskiqMiddleware

import app.main as app_main
from app.core.context import current
from app.main import create_app
from app.models import Job
from app.services.extraction import GraphExtractionService
from app.services.jobs import JobService
from app.worker.queue import TaskiqJobQueue
from tests.conftest import ClientFactory, LogReader, SettingsFactory, auth
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


async def wait_for_log(logs: LogReader, event: str, *, seconds: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while not (found := logs.events(event)):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"no {event!r} in the log")
        await asyncio.sleep(0.05)
    return found[-1]


async def wait_for_job(
    client: AsyncClient, location: str, headers: dict[str, str], *, seconds: float = 15
) -> Any:
    """Poll as a client should: the interval grows to a second, so a slow job on a busy
    machine does not run into the AI rate limit that job reads count against."""
    deadline = asyncio.get_running_loop().time() + seconds
    interval = 0.05
    while True:
        job = (await client.get(location, headers=headers)).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"job did not finish: {job}")
        await asyncio.sleep(interval)
        interval = min(1.0, interval * 1.5)


async def wait_for_line(logs: LogReader, event: str, *, seconds: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < deadline:
        if found := logs.events(event):
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no {event!r} log line")


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


async def test_the_same_document_twice_adds_nothing(client_factory: ClientFactory) -> None:
    client = await client_factory()

    first = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)
    weights = await _edge_weights(client, ALICE)
    second = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)

    assert second["result"]["already_extracted"] is True
    assert second["result"]["nodes_created"] == second["result"]["edges_created"] == 0
    assert second["result"]["nodes_reused"] == first["result"]["nodes_created"]
    assert await _edge_weights(client, ALICE) == weights


async def test_another_document_reuses_nodes_and_strengthens_edges(
    client_factory: ClientFactory,
) -> None:
    client = await client_factory()
    first = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)
    before = await _edge_weights(client, ALICE)

    response = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": "Graph databases store nodes and edges."},
        headers=ALICE,
    )
    second = await wait_for_job(client, response.headers["location"], ALICE)

    assert second["result"]["nodes_created"] == 0
    assert second["result"]["nodes_reused"] == len(second["result"]["concepts"]) >= 2
    assert second["result"]["edges_strengthened"] > 0
    after = await _edge_weights(client, ALICE)
    assert after.keys() == before.keys()  # merged into the edges of the first document
    assert sum(after.values()) > sum(before.values())
    assert first["result"]["edges_created"] == len(before)


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


async def test_a_job_the_broker_refuses_is_accepted_and_sent_by_the_relay_later(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch, logs: LogReader
) -> None:
    client = await client_factory(outbox_relay_interval_seconds=0.2)
    original_send = TaskiqJobQueue.send

    async def broker_down(self: TaskiqJobQueue, job: Any) -> None:
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(TaskiqJobQueue, "send", broker_down)
    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
    )

    assert response.status_code == 202
    location = response.headers["location"]
    (deferred,) = logs.events("job.send_deferred")
    assert deferred["jobs_waiting"] == 1
    waiting = await wait_for_log(logs, "outbox.waiting")  # a relay pass found it still down
    assert waiting["jobs_waiting"] == 1
    assert (await client.get(location, headers=ALICE)).json()["status"] == "queued"
    assert (await client.get("/readyz")).json()["jobs_waiting"] == 1

    monkeypatch.setattr(TaskiqJobQueue, "send", original_send)  # the broker is back
    job = await wait_for_job(client, location, ALICE)

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1
    assert (await client.get("/readyz")).json()["jobs_waiting"] == 0
    assert logs.events("outbox.relayed")[-1]["count"] == 1


async def test_with_sentry_off_a_job_builds_no_transaction_or_span(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The SDK builds, times and scopes real ones while uninitialised, for nothing.
    built: list[str] = []
    for name in ("continue_trace", "start_transaction", "start_span"):
        real = getattr(sentry_sdk, name)

        def recording(*args: Any, _name: str = name, _real: Any = real, **kwargs: Any) -> Any:
            built.append(_name)
            return _real(*args, **kwargs)

        monkeypatch.setattr(sentry_sdk, name, recording)
    client = await client_factory()

    job = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)

    assert job["status"] == "succeeded"
    assert built == []


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
    assert event["exception"]["values"][-1]["mechanism"] == {"type": "taskiq", "handled": False}


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


async def _edge_weights(client: AsyncClient, headers: dict[str, str]) -> dict[str, float]:
    nodes = (await client.get("/v1/nodes?limit=100", headers=headers)).json()["items"]
    weights: dict[str, float] = {}
    for node in nodes:
        page = await client.get(f"/v1/nodes/{node['id']}/edges?limit=100", headers=headers)
        weights.update({edge["id"]: edge["weight"] for edge in page.json()["items"]})
    return weights


async def test_concurrent_jobs_of_one_user_neither_duplicate_nodes_nor_lose_weight(
    graph_client: AsyncClient,
) -> None:
    carol = auth("carol")
    alone = await wait_for_job(
        graph_client, (await submit(graph_client, carol)).headers["location"], carol
    )

    responses = await asyncio.gather(*(submit(graph_client) for _ in range(4)))
    jobs = [await wait_for_job(graph_client, r.headers["location"], ALICE) for r in responses]

    assert [job["status"] for job in jobs] == ["succeeded"] * 4
    assert sum(job["result"]["nodes_created"] for job in jobs) == len(alone["result"]["concepts"])
    nodes = (await graph_client.get("/v1/nodes?limit=100", headers=ALICE)).json()["items"]
    titles = [node["title"] for node in nodes]
    assert sorted(titles) == sorted(alone["result"]["concepts"])  # each concept once
    alices, carols = (
        await _edge_weights(graph_client, ALICE),
        await _edge_weights(graph_client, carol),
    )
    # The same document four times at once: merged as if it had run once.
    assert sorted(alices.values()) == sorted(carols.values())


async def test_a_database_blip_at_pickup_is_retried_without_counting_an_attempt(
    client_factory: ClientFactory, monkeypatch: pytest.MonkeyPatch, logs: LogReader
) -> None:
    client = await client_factory(job_retry_base_seconds=0.01, job_max_attempts=3)
    original = JobService.start
    failures = iter([True, True])

    async def flaky(self: JobService, *args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            raise OperationalError("SELECT", {}, ConnectionResetError("db restarted"))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(JobService, "start", flaky)
    job = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1  # the job itself ran once
    retries = logs.events("job.retrying")
    assert [(line["step"], line["attempt"]) for line in retries] == [("start", 1), ("start", 2)]


async def test_a_job_that_cannot_be_picked_up_is_reported_once_and_requeued(
    client_factory: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    sentry_ingest: SentryIngest,
    logs: LogReader,
) -> None:
    client = await client_factory(
        **sentry_on(sentry_ingest, **AS_DEVELOPMENT),
        job_retry_base_seconds=0.01,
        job_max_attempts=2,
    )
    original = JobService.start
    failures = iter([True, True])  # every try of the first delivery

    async def down(self: JobService, *args: Any, **kwargs: Any) -> Any:
        if next(failures, False):
            raise OperationalError("SELECT", {}, ConnectionRefusedError("db is down"))
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(JobService, "start", down)
    job = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)
    sentry_sdk.flush()

    assert job["status"] == "succeeded"  # the requeued message ran once the database was back
    assert job["attempts"] == 1
    (event,) = sentry_ingest.events
    assert event["contexts"]["graphnode"]["job_id"] == job["id"]
    # The outage is a 503 to the job, as to a request; the event names the real cause.
    assert event["contexts"]["cause"] == {
        "dependency": "database",
        "reason": "unavailable",
        "error_type": "OperationalError",
    }
    assert [value["type"] for value in event["exception"]["values"]] == [
        "OperationalError",
        "ServiceUnavailable",
    ]
    (requeued,) = logs.events("job.requeued")
    assert requeued["sentry_event_id"] == event["event_id"]
    assert requeued["job_id"] == job["id"]


async def test_a_job_finished_by_another_delivery_meanwhile_is_skipped_not_failed(
    client_factory: ClientFactory,
    monkeypatch: pytest.MonkeyPatch,
    sentry_ingest: SentryIngest,
    logs: LogReader,
) -> None:
    client = await client_factory(**sentry_on(sentry_ingest, **AS_DEVELOPMENT))
    app = client._transport.app  # type: ignore[attr-defined]  # the app behind the client
    original = GraphExtractionService.extract

    async def overtaken(self: GraphExtractionService, *args: Any, **kwargs: Any) -> Any:
        context = current()
        assert context is not None
        assert context.job_id is not None
        async with app.state.session_factory() as other:  # the other delivery finishes first
            job = await other.get(Job, uuid.UUID(context.job_id))
            job.status, job.result = "succeeded", {"by": "the other delivery"}
            await other.commit()
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(GraphExtractionService, "extract", overtaken)
    job = await wait_for_job(client, (await submit(client)).headers["location"], ALICE)
    sentry_sdk.flush()

    skipped = await wait_for_line(logs, "job.skipped")  # the job looked done before this
    sentry_sdk.flush()

    assert job["result"] == {"by": "the other delivery"}
    assert sentry_ingest.events == []
    assert skipped["reason"] == "finished in another delivery"
    # This delivery's nodes were rolled back with it.
    assert (await client.get("/v1/nodes", headers=ALICE)).json()["items"] == []


class HostileLabels(TaskiqMiddleware):
    """Runs after ours: the message leaves with labels nobody should trust."""

    def pre_send(self, message: TaskiqMessage) -> TaskiqMessage:
        message.labels.update(
            {
                "correlation_id": "evil\r\nforged-line",
                "user_id": "x" * 500,
                "enqueued_at_ms": float("inf"),
                "sentry-trace": "0" * 32 + "-" + "1" * 16 + "-1\r\nX-Evil: 1",
                "baggage": "b" * 20_000,
            }
        )
        return message


async def test_hostile_labels_are_dropped_and_nothing_leaks_from_the_previous_message(
    client_factory: ClientFactory, logs: LogReader
) -> None:
    client = await client_factory()
    app = client._transport.app  # type: ignore[attr-defined]  # the app behind the client
    first = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**ALICE, "X-Request-ID": "first-message-01"},
    )
    await wait_for_job(client, first.headers["location"], ALICE)
    app.state.broker.add_middlewares(HostileLabels())
    logs.read()
    logs.lines.clear()

    second = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**BOB, "X-Request-ID": "second-message"},
    )
    job = await wait_for_job(client, second.headers["location"], BOB)

    assert job["status"] == "succeeded"
    lines = [line for line in logs.read() if line.get("job_id") == job["id"]]
    assert lines
    for line in lines:
        assert line["correlation_id"] not in ("first-message-01", "second-message")
        assert "evil" not in line["correlation_id"]
        assert line["user_id"] in (None, "bob")  # from the stored job, never from the label
    assert "forged-line" not in logs.text
    assert "X-Evil" not in logs.text


@pytest.mark.parametrize(
    ("work_seconds", "grace_seconds", "status"),
    [(0.3, 10.0, "succeeded"), (30.0, 0.3, "failed")],
    ids=["finishes-within-grace", "interrupted-after-grace"],
)
async def test_shutdown_lets_in_process_jobs_finish_and_fails_those_it_must_cut(
    settings_factory: SettingsFactory,
    monkeypatch: pytest.MonkeyPatch,
    work_seconds: float,
    grace_seconds: float,
    status: str,
) -> None:
    original = GraphExtractionService.extract

    async def slow(self: GraphExtractionService, *args: Any, **kwargs: Any) -> Any:
        await asyncio.sleep(work_seconds)
        return await original(self, *args, **kwargs)

    monkeypatch.setattr(GraphExtractionService, "extract", slow)
    monkeypatch.setattr(app_main, "JOB_DRAIN_SECONDS", grace_seconds)
    settings = settings_factory()
    app = create_app(settings)
    async with (
        LifespanManager(app),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        location = (await submit(client)).headers["location"]
        for _ in range(500):
            if (await client.get(location, headers=ALICE)).json()["status"] == "running":
                break
            await asyncio.sleep(0.02)
    # The app has shut down; a new one reads what the first left in the database.
    async with (
        LifespanManager(app := create_app(settings)),
        AsyncClient(transport=ASGITransport(app=app), base_url="http://testserver") as client,
    ):
        job = (await client.get(location, headers=ALICE)).json()

    assert job["status"] == status
    assert job["attempts"] == 1
    if status == "failed":
        assert job["problem"]["status"] == 503
        assert "shut down before the job finished" in job["problem"]["detail"]
