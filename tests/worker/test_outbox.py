"""The outbox across a crash (an API process killed between the commit and the send) and
across the migration that introduced it."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from alembic import command
from sqlalchemy import Connection, text

from app.core.db import alembic_config, create_engine, create_session_factory
from app.repositories.jobs import JobRepository
from tests.core.test_startup import unused_port
from tests.local_http import wait_for_http
from tests.worker.test_jobs_in_process import ALICE, DOCUMENT

ROOT = Path(__file__).resolve().parents[2]
HOOKS = Path(__file__).resolve().parent / "hooks"


def start_api(
    tmp_path: Path, port: int, log: Path, *, hook: str | None = None
) -> subprocess.Popen[bytes]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENTRY_", "BROKER_", "DATABASE_", "ENVIRONMENT", "JWT_"))
    }
    env.update(
        DATABASE_URL=f"sqlite+aiosqlite:///{tmp_path / 'api.db'}",
        LOG_FORMAT="json",
        PYTHONPATH=os.pathsep.join([str(HOOKS), str(ROOT)]),
    )
    if hook:
        env["GRAPHNODE_TEST_API_HOOK"] = hook
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def log_events(log: Path, event: str) -> list[dict[str, object]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("event") == event]


def stored_jobs(tmp_path: Path) -> list[tuple[str, str, str | None, str | None]]:
    with sqlite3.connect(tmp_path / "api.db") as database:
        return database.execute("SELECT id, status, sent_at, labels FROM jobs").fetchall()


def test_a_job_committed_by_an_api_that_died_before_sending_it_runs_after_a_restart(
    tmp_path: Path,
) -> None:
    port = unused_port()
    base = f"http://127.0.0.1:{port}"
    first_log, second_log = tmp_path / "first.log", tmp_path / "second.log"
    doomed = start_api(tmp_path, port, first_log, hook="die-before-send")
    try:
        wait_for_http(doomed, f"{base}/healthz", log=first_log)
        # The row commits, then the process dies as it is about to send: no answer.
        with pytest.raises(httpx.TransportError):
            httpx.post(
                f"{base}/v1/ai/jobs",
                json={"kind": "extract-graph", "text": DOCUMENT},
                headers={**ALICE, "X-Request-ID": "crash-before-send-01"},
                timeout=30,
            )
        assert doomed.wait(timeout=30) == -signal.SIGKILL
    finally:
        if doomed.poll() is None:
            doomed.kill()
            doomed.wait()
    ((stored_id, status, sent_at, labels),) = stored_jobs(tmp_path)
    job_id = str(uuid.UUID(stored_id))
    assert (status, sent_at) == ("queued", None)  # committed, never sent
    assert labels is not None
    assert json.loads(labels)["correlation_id"] == "crash-before-send-01"

    restarted = start_api(tmp_path, port, second_log)
    try:
        wait_for_http(restarted, f"{base}/healthz", log=second_log)
        job = wait_until_finished(f"{base}/v1/ai/jobs/{job_id}", restarted, second_log)
        ready = httpx.get(f"{base}/readyz", timeout=5).json()
    finally:
        restarted.send_signal(signal.SIGTERM)
        restarted.wait(timeout=30)

    assert job["status"] == "succeeded"
    assert job["attempts"] == 1
    assert ready["jobs_waiting"] == 0
    (relayed,) = log_events(second_log, "outbox.relayed")
    assert relayed["count"] == 1
    # The restarted process ran it in the context of the request the dead one answered never.
    audit = [
        line
        for line in log_events(second_log, "audit.success")
        if line.get("job_id") == job_id and line.get("service") == "GraphExtractionService"
    ]
    assert [line["correlation_id"] for line in audit] == ["crash-before-send-01"]


def wait_until_finished(url: str, process: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    # The interval grows to a second: job reads count against the AI rate limit.
    deadline, interval = time.monotonic() + 60, 0.05
    while time.monotonic() < deadline:
        job: dict[str, object] = httpx.get(url, headers=ALICE, timeout=5).json()
        if job["status"] in ("succeeded", "failed"):
            return job
        assert process.poll() is None, log.read_text()[-3000:]
        time.sleep(interval)
        interval = min(1.0, interval * 1.5)
    raise AssertionError(f"the job never finished: {log.read_text()[-3000:]}")


async def test_jobs_from_before_the_outbox_are_not_sent_again(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'old.db'}")

    def upgrade(connection: Connection, revision: str) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    try:
        async with engine.begin() as connection:
            await connection.run_sync(upgrade, "0002")
            await connection.execute(
                text(
                    "INSERT INTO jobs (id, owner_id, kind, status, input_text, attempts, "
                    "created_at) VALUES (:id, 'alice', 'extract-graph', 'queued', 'x', 0, "
                    "'2026-11-30 10:00:00')"
                ),
                {"id": uuid.uuid4().hex},
            )
            await connection.run_sync(upgrade, "head")
        async with create_session_factory(engine)() as session:
            assert await JobRepository.from_session(session).count_unsent() == 0
    finally:
        await engine.dispose()
