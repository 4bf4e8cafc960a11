from __future__ import annotations

import asyncio
from typing import Any

from httpx import AsyncClient

from app.main import create_app
from app.models import Job
from tests.conftest import ClientFactory, LogReader, SettingsFactory, auth
from tests.worker.test_jobs_in_process import submit, wait_for_job, wait_for_line

ALICE = auth("alice")
BOB = auth("bob")
PROBLEM = "application/problem+json"


class HeldQueue:
    """The broker's side of the outbox, holding sent jobs until `deliver()`: a message on
    its way to a worker. The relay records them as sent, so it does not send them again."""

    def __init__(self, transport: Any) -> None:
        self.transport = transport
        self.held: list[Job] = []

    def stamp(self, job: Job) -> Any:
        return self.transport.stamp(job)

    async def send(self, job: Job) -> None:
        self.held.append(job)

    async def deliver(self) -> None:
        for job in self.held:
            await self.transport.send(job)


async def client_holding_jobs(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> tuple[AsyncClient, HeldQueue]:
    """A client whose app keeps submitted jobs in a HeldQueue instead of sending them."""
    app = create_app(settings_factory())
    client = await client_factory(app)
    relay = app.state.job_queue
    held = HeldQueue(relay.transport)
    relay.transport = held
    return client, held


async def test_jobs_are_listed_newest_first_with_a_status_filter(
    client_factory: ClientFactory,
    settings_factory: SettingsFactory,
) -> None:
    client, held = await client_holding_jobs(client_factory, settings_factory)
    ids = [(await submit(client)).json()["id"] for _ in range(3)]
    await submit(client, BOB)
    await client.delete(f"/v1/ai/jobs/{ids[0]}", headers=ALICE)

    everything = await client.get("/v1/ai/jobs", headers=ALICE)
    queued = await client.get("/v1/ai/jobs?status=queued", headers=ALICE)
    cancelled = await client.get("/v1/ai/jobs?status=cancelled", headers=ALICE)

    assert everything.status_code == 200
    assert [job["id"] for job in everything.json()["items"]] == ids[::-1]
    assert everything.json()["next_cursor"] is None
    assert "link" not in everything.headers
    assert [job["id"] for job in queued.json()["items"]] == ids[:0:-1]
    assert [job["id"] for job in cancelled.json()["items"]] == [ids[0]]
    assert len(held.held) == 4


async def test_jobs_paginate_with_cursor_and_link(
    client_factory: ClientFactory, settings_factory: SettingsFactory
) -> None:
    client, _ = await client_holding_jobs(client_factory, settings_factory)
    ids = [(await submit(client)).json()["id"] for _ in range(5)]

    seen: list[str] = []
    url: str | None = "/v1/ai/jobs?limit=2&status=queued"
    while url is not None:
        response = await client.get(url, headers=ALICE)
        page = response.json()
        seen += [job["id"] for job in page["items"]]
        link = response.headers.get("link")
        if page["next_cursor"] is None:
            url = None
        else:
            assert link is not None
            url = link.removeprefix("<").split(">;")[0]
            assert link.endswith('; rel="next"')
            assert "status=queued" in url
            assert "limit=2" in url
            assert f"cursor={page['next_cursor']}" in url

    assert seen == ids[::-1]


async def test_invalid_job_filters_are_422(client_factory: ClientFactory) -> None:
    client = await client_factory()

    for query in ("status=done", "limit=0", "cursor=nope", "status=queued&status=failed"):
        response = await client.get(f"/v1/ai/jobs?{query}", headers=ALICE)
        assert response.status_code == 422, query
        assert response.headers["content-type"] == PROBLEM


async def test_a_queued_job_is_cancelled_and_never_runs_though_its_message_arrives(
    client_factory: ClientFactory, settings_factory: SettingsFactory, logs: LogReader
) -> None:
    client, held = await client_holding_jobs(client_factory, settings_factory)
    location = (await submit(client)).headers["location"]

    cancelled = await client.delete(location, headers=ALICE)
    await held.deliver()  # the message reaches the (in-process) worker after the cancel
    skipped = await wait_for_line(logs, "job.skipped")

    assert cancelled.status_code == 200
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["finished_at"] is not None
    assert skipped["job_id"] == cancelled.json()["id"]
    job = (await client.get(location, headers=ALICE)).json()
    assert job["status"] == "cancelled"
    assert job["attempts"] == 0
    nodes = (await client.get("/v1/nodes", headers=ALICE)).json()["items"]
    assert nodes == []


async def test_a_finished_job_cannot_be_cancelled(client_factory: ClientFactory) -> None:
    client = await client_factory()
    location = (await submit(client)).headers["location"]
    await wait_for_job(client, location, ALICE)

    response = await client.delete(location, headers=ALICE)

    assert response.status_code == 409
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["type"] == "/problems/job-not-cancellable"
    assert problem["job_status"] == "succeeded"
    assert problem["status"] == 409


async def test_a_running_job_cannot_be_cancelled(
    client_factory: ClientFactory, monkeypatch: Any
) -> None:
    from app.services.extraction import GraphExtractionService

    started, release = asyncio.Event(), asyncio.Event()
    extract = GraphExtractionService.extract

    async def held_extract(self: Any, *args: Any, **kwargs: Any) -> Any:
        started.set()
        await release.wait()
        return await extract(self, *args, **kwargs)

    monkeypatch.setattr(GraphExtractionService, "extract", held_extract)
    client = await client_factory()
    location = (await submit(client)).headers["location"]
    await asyncio.wait_for(started.wait(), 10)

    response = await client.delete(location, headers=ALICE)
    release.set()
    job = await wait_for_job(client, location, ALICE)

    assert response.status_code == 409
    assert response.json()["job_status"] == "running"
    assert job["status"] == "succeeded"


async def test_another_users_job_cannot_be_cancelled_or_listed(
    client_factory: ClientFactory,
    settings_factory: SettingsFactory,
) -> None:
    client, _ = await client_holding_jobs(client_factory, settings_factory)
    location = (await submit(client)).headers["location"]

    assert (await client.delete(location, headers=BOB)).status_code == 404
    assert (await client.get("/v1/ai/jobs", headers=BOB)).json()["items"] == []
    assert (await client.get(location, headers=ALICE)).json()["status"] == "queued"


async def test_cancelling_an_unknown_job_is_a_404(client_factory: ClientFactory) -> None:
    client = await client_factory()

    response = await client.delete(
        "/v1/ai/jobs/00000000-0000-4000-8000-000000000000", headers=ALICE
    )

    assert response.status_code == 404
