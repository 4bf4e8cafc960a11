"""The API and a separate `taskiq worker` process, over real Redis and RabbitMQ.

The in-process broker copies the caller's context into the task, which would hide a
missing label; these tests prove propagation across processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from httpx import AsyncClient

from tests.conftest import ClientFactory, LogReader, service_url
from tests.core.test_sentry import sentry_on
from tests.local_http import SentryIngest
from tests.routers.test_graph_observability import AS_DEVELOPMENT
from tests.routers.test_health import TcpProxy
from tests.worker.test_jobs_in_process import ALICE, DOCUMENT, wait_for_job

ROOT = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent / "hooks"


class Worker:
    def __init__(self, process: subprocess.Popen[bytes], log: Path) -> None:
        self.process = process
        self.log = log

    def lines(self) -> list[dict[str, Any]]:
        """Every line the worker's processes wrote (each must be a JSON object)."""
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def wait_for(self, event: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(line.get("event") == event for line in self.lines()):
                return
            if self.process.poll() is not None:
                raise AssertionError(f"worker exited: {self.log.read_text()[-3000:]}")
            time.sleep(0.1)
        raise AssertionError(f"no {event!r} in the worker log: {self.log.read_text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the manager and its worker processes: no acknowledgement, no cleanup."""
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        # A child the manager left behind (it was killed, or exited first) goes too.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)


# moto's server accepts any credentials; aiobotocore needs some to sign its requests.
AWS_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
SQS_REGION = "us-east-1"


@pytest.fixture(scope="session")
def sqs_endpoint() -> Iterator[str]:
    """A local SQS (moto's server mode) on a free loopback port, for the whole run."""
    from moto.server import ThreadedMotoServer

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def create_sqs_queue(endpoint: str, name: str, visibility_timeout: str) -> None:
    import boto3  # type: ignore[import-untyped]

    client = boto3.client(
        "sqs",
        endpoint_url=endpoint,
        region_name=SQS_REGION,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    client.create_queue(QueueName=name, Attributes={"VisibilityTimeout": visibility_timeout})


@pytest.fixture(params=["redis", "amqp", "sqs"])
def broker_url(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    if request.param == "sqs":
        for name, value in AWS_TEST_CREDENTIALS.items():
            monkeypatch.setenv(name, value)  # the API here and the workers it starts
        endpoint: str = request.getfixturevalue("sqs_endpoint")
        return f"sqs://{SQS_REGION}?endpoint_url={endpoint}"
    variable = {"redis": "TEST_REDIS_URL", "amqp": "TEST_AMQP_URL"}[request.param]
    return service_url(variable)


@pytest.fixture
def environment(tmp_path: Path, broker_url: str, sentry_ingest: SentryIngest) -> dict[str, str]:
    """Settings shared by the API (in this process) and the worker processes."""
    queue = f"graphnode-test-{uuid.uuid4().hex[:12]}"
    if broker_url.startswith("sqs://"):
        # SQS queues are provisioned, not created by the app (docs/worker.md).
        create_sqs_queue(broker_url.partition("endpoint_url=")[2], queue, "2")
    return {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "BROKER_URL": broker_url,
        "BROKER_QUEUE": queue,
        "BROKER_REDELIVERY_SECONDS": "2",
        "SENTRY_DSN": sentry_ingest.dsn,
        "SENTRY_TRACES_SAMPLE_RATE": "1.0",
        "LOG_FORMAT": "json",
        "ENVIRONMENT": "development",
        "JOB_RETRY_BASE_SECONDS": "0.1",
    }


def launch_worker(
    tmp_path: Path, environment: dict[str, str], name: str, hook: str | None, delay: float
) -> Worker:
    """`python -m app.worker` (taskiq's worker: one child, which its manager restarts if it
    dies) on `environment`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "BROKER_"))}
    env.update(environment)
    env["PYTHONPATH"] = os.pathsep.join([str(HOOKS), str(ROOT)] if hook else [str(ROOT)])
    if hook:
        env["GRAPHNODE_TEST_WORKER_HOOK"] = hook
        env["GRAPHNODE_TEST_WORKER_DELAY"] = str(delay)
    log = tmp_path / f"{name}.log"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app.worker",  # taskiq's worker, our logging in the supervisor too
            "--workers",
            "1",
            "--wait-tasks-timeout",
            "10",
        ],
        cwd=tmp_path,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, so kill() reaches the children
    )
    worker = Worker(process, log)
    worker.wait_for("Listening started.")
    return worker


@pytest.fixture
def start_worker(tmp_path: Path, environment: dict[str, str]) -> Iterator[Callable[..., Worker]]:
    workers: list[Worker] = []

    def start(hook: str | None = None, delay: float = 30) -> Worker:
        worker = launch_worker(tmp_path, environment, f"worker-{len(workers)}", hook, delay)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        worker.stop()


async def api(
    client_factory: ClientFactory, environment: dict[str, str], ingest: SentryIngest
) -> AsyncClient:
    return await client_factory(
        **sentry_on(ingest, **AS_DEVELOPMENT),
        database_url=environment["DATABASE_URL"],
        broker_url=environment["BROKER_URL"],
        broker_queue=environment["BROKER_QUEUE"],
    )


async def test_job_runs_in_the_worker_with_the_requests_context_and_trace(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
) -> None:
    client = await api(client_factory, environment, sentry_ingest)  # migrates the database
    worker = start_worker()

    response = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**ALICE, "X-Request-ID": "cross-process-01"},
    )
    job = await wait_for_job(client, response.headers["location"], ALICE)
    worker.stop()  # SIGTERM: the worker flushes Sentry on its way out
    sentry_sdk.flush()

    # (a) the job succeeded and its nodes exist
    assert job["status"] == "succeeded", job
    nodes = (await client.get("/v1/nodes?limit=100&tag=extracted", headers=ALICE)).json()
    assert {node["title"] for node in nodes["items"]} == set(job["result"]["concepts"])
    # (b) the worker's audit lines carry the request's correlation id and user id
    audit = [line for line in worker.lines() if line["event"].startswith("audit.")]
    assert {line["service"] for line in audit} >= {"GraphExtractionService", "JobService"}
    assert {(line["correlation_id"], line["user_id"], line["job_id"]) for line in audit} == {
        ("cross-process-01", "alice", job["id"])
    }
    # (c) one trace: request -> queue.publish -> worker transaction -> queue.process
    transactions = sentry_ingest.transactions
    (http,) = [tx for tx in transactions if tx["transaction"] == "/v1/ai/jobs"]
    (task,) = [tx for tx in transactions if tx["transaction"] == "graphnode.extract_graph"]
    (publish,) = [span for span in http["spans"] if span["op"] == "queue.publish"]
    assert task["tags"]["component"] == "worker"
    assert task["contexts"]["trace"]["trace_id"] == http["contexts"]["trace"]["trace_id"]
    assert task["contexts"]["trace"]["parent_span_id"] == publish["span_id"]
    assert task["transaction_info"]["source"] == "task"
    (process,) = [span for span in task["spans"] if span["op"] == "queue.process"]
    scheme = environment["BROKER_URL"].partition(":")[0]
    system = {"redis": "redis", "amqp": "rabbitmq", "sqs": "aws_sqs"}[scheme]
    assert process["data"]["messaging.system"] == system
    assert process["data"]["messaging.destination.name"] == environment["BROKER_QUEUE"]
    assert process["data"]["messaging.message.id"] == publish["data"]["messaging.message.id"]
    assert process["data"]["messaging.message.retry.count"] == 0
    assert process["data"]["messaging.message.receive.latency"] >= 0
    assert process["data"]["messaging.message.body.size"] > 0
    if system == "aws_sqs":  # the SQS call itself, inside the publish span
        (send,) = [span for span in http["spans"] if span["op"] == "http.client"]
        assert send["parent_span_id"] == publish["span_id"]
        assert send["data"]["url"].startswith(environment["BROKER_URL"].partition("=")[2])


async def test_a_job_that_always_fails_is_one_event_and_a_failed_job(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
) -> None:
    client = await api(client_factory, environment, sentry_ingest)
    worker = start_worker(hook="fail")

    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
    )
    job = await wait_for_job(client, response.headers["location"], ALICE)
    worker.stop()
    sentry_sdk.flush()

    assert job["status"] == "failed"
    assert job["problem"]["type"] == "/problems/internal-error"
    (event,) = sentry_ingest.events
    assert event["event_id"] == job["problem"]["event_id"]
    assert event["tags"]["component"] == "worker"
    assert event["user"]["id"] == "alice"
    assert event["contexts"]["graphnode"]["job_id"] == job["id"]
    mechanism = event["exception"]["values"][-1]["mechanism"]
    assert mechanism == {"type": "taskiq", "handled": False}


async def wait_until_running(client: AsyncClient, location: str) -> None:
    # The interval grows: job reads count against the AI rate limit.
    interval = 0.05
    for _ in range(60):
        if (await client.get(location, headers=ALICE)).json()["status"] == "running":
            return
        await asyncio.sleep(interval)
        interval = min(0.5, interval * 1.5)
    raise AssertionError("the job never started")


async def test_sigterm_lets_the_running_job_finish(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
) -> None:
    client = await api(client_factory, environment, sentry_ingest)
    worker = start_worker(hook="slow", delay=2)
    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
    )
    await wait_until_running(client, response.headers["location"])

    worker.stop()  # SIGTERM while the job sleeps

    assert worker.process.returncode == 0
    job = (await client.get(response.headers["location"], headers=ALICE)).json()
    assert job["status"] == "succeeded"
    assert job["attempts"] == 1


async def test_a_killed_workers_job_is_redelivered_and_completes_once(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
) -> None:
    client = await api(client_factory, environment, sentry_ingest)
    doomed = start_worker(hook="slow")

    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
    )
    location = response.headers["location"]
    await wait_until_running(client, location)
    doomed.kill()
    rescuer = start_worker()

    job = await wait_for_job(client, location, ALICE, seconds=60)
    rescuer.stop()

    assert job["status"] == "succeeded"
    assert job["attempts"] == 2
    nodes = (await client.get("/v1/nodes?limit=100&tag=extracted", headers=ALICE)).json()
    titles = [node["title"] for node in nodes["items"]]
    assert sorted(titles) == sorted(job["result"]["concepts"])  # written once, not twice


async def test_a_job_longer_than_the_redelivery_delay_stays_with_its_worker(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
) -> None:
    client = await api(client_factory, environment, sentry_ingest)
    busy = start_worker(hook="slow", delay=3 * float(environment["BROKER_REDELIVERY_SECONDS"]))
    response = await client.post(
        "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
    )
    location = response.headers["location"]
    await wait_until_running(client, location)
    idle = start_worker()  # would claim the message if the busy worker stopped holding it

    job = await wait_for_job(client, location, ALICE, seconds=60)
    busy.stop()
    idle.stop()

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1
    assert not [line for line in idle.lines() if line.get("job_id") == job["id"]]


async def test_a_job_submitted_while_the_broker_is_down_runs_once_it_is_back_in_the_trace(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
    logs: LogReader,
) -> None:
    broker_url = environment["BROKER_URL"]
    sqs_prefix, _, sqs_endpoint = broker_url.partition("?endpoint_url=")
    proxy = TcpProxy(sqs_endpoint or broker_url)
    await proxy.start()
    if sqs_endpoint:
        proxied = f"{sqs_prefix}?endpoint_url={proxy.url(sqs_endpoint)}"
    else:
        proxied = proxy.url(broker_url)
    client = await client_factory(
        **sentry_on(sentry_ingest, **AS_DEVELOPMENT),
        database_url=environment["DATABASE_URL"],
        broker_url=proxied,  # the API's way to the broker
        broker_queue=environment["BROKER_QUEUE"],
        outbox_relay_interval_seconds=0.2,
    )
    worker = start_worker()  # reaches the broker directly
    await proxy.cut()

    response = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**ALICE, "X-Request-ID": "outbox-outage-01"},
    )

    assert response.status_code == 202
    location = response.headers["location"]
    assert (await client.get(location, headers=ALICE)).json()["status"] == "queued"
    waiting = (await client.get("/readyz")).json()
    assert waiting["checks"]["broker"] == "unavailable"
    assert waiting["jobs_waiting"] == 1
    (deferred,) = logs.events("job.send_deferred")
    assert deferred["jobs_waiting"] == 1

    await proxy.resume()
    job = await wait_for_job(client, location, ALICE, seconds=60)
    worker.stop()
    sentry_sdk.flush()

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1  # sent (and run) once
    assert (await client.get("/readyz")).json()["jobs_waiting"] == 0
    audit = [line for line in worker.lines() if line["event"].startswith("audit.")]
    assert {(line["correlation_id"], line["user_id"]) for line in audit} == {
        ("outbox-outage-01", "alice")
    }
    # Sent by the relay after the request had answered, the job is still in its trace.
    (http,) = [tx for tx in sentry_ingest.transactions if tx["transaction"] == "/v1/ai/jobs"]
    (task,) = [
        tx for tx in sentry_ingest.transactions if tx["transaction"] == "graphnode.extract_graph"
    ]
    (publish,) = [span for span in http["spans"] if span["op"] == "queue.publish"]
    assert task["contexts"]["trace"]["trace_id"] == http["contexts"]["trace"]["trace_id"]
    assert task["contexts"]["trace"]["parent_span_id"] == publish["span_id"]
    (process,) = [span for span in task["spans"] if span["op"] == "queue.process"]
    assert process["data"]["messaging.message.id"] == publish["data"]["messaging.message.id"]


async def test_a_job_whose_worker_keeps_dying_is_dead_lettered_and_failed_on_sqs(
    client_factory: ClientFactory,
    sentry_ingest: SentryIngest,
    sqs_endpoint: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import boto3

    for name, value in AWS_TEST_CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    queue = f"graphnode-test-{uuid.uuid4().hex[:12]}"
    dead_letters = f"{queue}-dlq"
    sqs = boto3.client("sqs", endpoint_url=sqs_endpoint, region_name=SQS_REGION)
    dlq_url = sqs.create_queue(QueueName=dead_letters)["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])
    redrive = json.dumps(
        {"deadLetterTargetArn": dlq_arn["Attributes"]["QueueArn"], "maxReceiveCount": "2"}
    )
    sqs.create_queue(
        QueueName=queue, Attributes={"VisibilityTimeout": "2", "RedrivePolicy": redrive}
    )
    environment = {
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'shared.db'}",
        "BROKER_URL": f"sqs://{SQS_REGION}?endpoint_url={sqs_endpoint}",
        "BROKER_QUEUE": queue,
        "BROKER_DEAD_LETTER_QUEUE": dead_letters,
        "BROKER_REDELIVERY_SECONDS": "2",
        "SENTRY_DSN": sentry_ingest.dsn,
        "LOG_FORMAT": "json",
        "ENVIRONMENT": "development",
    }
    client = await client_factory(
        **sentry_on(sentry_ingest, **AS_DEVELOPMENT),
        database_url=environment["DATABASE_URL"],
        broker_url=environment["BROKER_URL"],
        broker_queue=queue,
        broker_dead_letter_queue=dead_letters,
    )
    # Every delivery kills the worker's child mid-job; taskiq's manager starts a new one.
    worker = launch_worker(tmp_path, environment, "dying-worker", "die", 0)
    try:
        response = await client.post(
            "/v1/ai/jobs", json={"kind": "extract-graph", "text": DOCUMENT}, headers=ALICE
        )
        job = await wait_for_job(client, response.headers["location"], ALICE, seconds=120)
    finally:
        worker.stop()
    sentry_sdk.flush()

    assert job["status"] == "failed"
    assert job["attempts"] == 2  # the redrive policy's two receives, each one died
    problem = job["problem"]
    assert problem["type"] == "/problems/internal-error"
    assert "dead-letter queue" in problem["detail"]
    (dead,) = [line for line in worker.lines() if line["event"] == "job.dead_lettered"]
    assert dead["queue"] == dead_letters
    assert dead["correlation_id"] == response.headers["x-request-id"]
    (event,) = sentry_ingest.events
    assert event["event_id"] == problem["event_id"]
    assert event["contexts"]["graphnode"]["attempts"] == 2
    mechanism = event["exception"]["values"][-1]["mechanism"]
    assert mechanism == {"type": "taskiq", "handled": False}


async def test_every_worker_line_is_json_and_job_lines_carry_the_jobs_ids(
    client_factory: ClientFactory,
    environment: dict[str, str],
    sentry_ingest: SentryIngest,
    start_worker: Callable[..., Worker],
) -> None:
    client = await api(client_factory, environment, sentry_ingest)
    worker = start_worker()

    response = await client.post(
        "/v1/ai/jobs",
        json={"kind": "extract-graph", "text": DOCUMENT},
        headers={**ALICE, "X-Request-ID": "json-lines-01"},
    )
    job = await wait_for_job(client, response.headers["location"], ALICE)
    worker.stop()

    lines = worker.lines()  # parses every line: a plain-text one fails here
    events = [line["event"] for line in lines]
    assert "Pid of a main process" in events[0]  # the supervising process's own lines
    assert any(event.startswith("Stopped process worker-0") for event in events)
    assert not [event for event in events if "setup plugin" in event]
    (executing,) = [line for line in lines if line["event"].startswith("Executing task")]
    assert (executing["correlation_id"], executing["user_id"], executing["job_id"]) == (
        "json-lines-01",
        "alice",
        job["id"],
    )
    # No span is left current outside the job: lines there carry no trace.
    outside = [line for line in lines if "job_id" not in line]
    assert len(outside) >= 6
    assert [line for line in outside if "trace_id" in line] == []
