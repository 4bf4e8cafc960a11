"""Fail fast in one line: the API and the worker, as real processes, on bad start-up."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from app.core.startup import DependencyUnreachable, reach, redact_url
from tests.local_http import wait_for_http
from tests.test_procfile import BIN, ROOT, procfile

SECRET = "pw-never-shown"


def unused_port() -> int:
    """A loopback port nothing listens on (connecting is refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def process_env(tmp_path: Path, **settings: str) -> dict[str, str]:
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENTRY_", "BROKER_", "DATABASE_", "ENVIRONMENT", "JWT_"))
    }
    return {
        **base,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'app.db'}",
        **settings,
    }


def run_api(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(unused_port())],
        cwd=tmp_path,
        env=process_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def run_worker(tmp_path: Path, **settings: str) -> subprocess.CompletedProcess[str]:
    """The Procfile's worker entry, as a platform runs it."""
    return subprocess.run(
        ["bash", "-c", f"exec {procfile()['worker']}"],
        cwd=tmp_path,
        env=process_env(tmp_path, **settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_redacted_urls_keep_host_and_port_but_never_the_password() -> None:
    assert (
        redact_url(f"amqp://guest:{SECRET}@127.0.0.1:5673/") == "amqp://guest:***@127.0.0.1:5673/"
    )
    assert redact_url(f"redis://:{SECRET}@cache:6380/0") == "redis://cache:6380/0"
    assert redact_url(f"redis://cache/0?password={SECRET}") == "redis://cache/0"
    assert (
        redact_url("sqs://eu-west-1?endpoint_url=http://127.0.0.1:5000")
        == "sqs://eu-west-1?endpoint_url=http://127.0.0.1:5000"
    )


async def test_a_service_that_never_answers_is_unreachable_after_the_timeout() -> None:
    with pytest.raises(DependencyUnreachable) as failure:
        await reach(
            "BROKER_URL", "redis://10.0.0.1:6379/0", asyncio.sleep(60), timeout_seconds=0.05
        )

    assert str(failure.value) == (
        "cannot reach BROKER_URL redis://10.0.0.1:6379/0: no answer within 0.05 s"
    )


async def test_an_error_that_is_not_about_reaching_the_service_propagates() -> None:
    async def broken() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await reach("BROKER_URL", "redis://127.0.0.1:6379/0", broken(), timeout_seconds=5)


def test_api_with_an_unreachable_broker_exits_with_one_line(tmp_path: Path) -> None:
    port = unused_port()

    result = run_api(tmp_path, BROKER_URL=f"redis://:{SECRET}@127.0.0.1:{port}/0")

    assert result.returncode == 3  # uvicorn's start-up failure: its supervisor stops too
    assert (
        f"graphnode-api: cannot reach BROKER_URL redis://127.0.0.1:{port}/0: connection refused"
        in result.stderr.splitlines()
    )
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_api_with_an_unreachable_database_to_migrate_exits_with_one_line(
    tmp_path: Path,
) -> None:
    port = unused_port()

    result = run_api(
        tmp_path, DATABASE_URL=f"postgresql+asyncpg://graph:{SECRET}@127.0.0.1:{port}/graph"
    )

    assert result.returncode == 3
    assert (
        f"graphnode-api: cannot reach DATABASE_URL "
        f"postgresql+asyncpg://graph:***@127.0.0.1:{port}/graph: connection refused"
        in result.stderr.splitlines()
    )
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout


def test_api_with_a_bad_setting_prints_only_that_line(tmp_path: Path) -> None:
    result = run_api(tmp_path, SENTRY_TRACES_SAMPLE_RATE="2")

    assert result.returncode == 3
    assert result.stderr.strip() == (
        "graphnode-api: invalid setting SENTRY_TRACES_SAMPLE_RATE: "
        "Input should be less than or equal to 1"
    )


def test_api_without_auto_migrate_starts_without_its_database_and_is_not_ready(
    tmp_path: Path,
) -> None:
    port = unused_port()
    env = process_env(
        tmp_path,
        ENVIRONMENT="production",
        JWT_SECRET="a-real-secret-of-at-least-32-characters",
        DATABASE_URL=f"postgresql+asyncpg://graph:{SECRET}@127.0.0.1:{unused_port()}/graph",
        DATABASE_AUTO_MIGRATE="false",
    )
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.main:app", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        response = wait_for_http(process, f"http://127.0.0.1:{port}/readyz", request_timeout=5)
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()

    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "unavailable", "broker": "ok"}
    assert "cannot reach" not in output
    assert SECRET not in output


def test_worker_with_an_unreachable_broker_exits_with_one_line_and_no_respawn(
    tmp_path: Path,
) -> None:
    port = unused_port()

    result = run_worker(tmp_path, BROKER_URL=f"redis://127.0.0.1:{port}/0")

    assert result.returncode != 0
    line = (
        f"graphnode-worker: cannot reach BROKER_URL redis://127.0.0.1:{port}/0: connection refused"
    )
    assert line in result.stderr.splitlines()
    assert result.stderr.count("graphnode-worker:") == 1  # the child was not started again
    assert "Traceback" not in result.stderr


def test_worker_with_an_unreachable_rabbitmq_never_shows_its_password(tmp_path: Path) -> None:
    port = unused_port()

    result = run_worker(tmp_path, BROKER_URL=f"amqp://graph:{SECRET}@127.0.0.1:{port}/")

    assert result.returncode != 0
    line = (
        f"graphnode-worker: cannot reach BROKER_URL amqp://graph:***@127.0.0.1:{port}/: "
        "connection refused"
    )
    assert line in result.stderr.splitlines()
    assert result.stderr.count("graphnode-worker:") == 1
    assert SECRET not in result.stderr + result.stdout


def test_worker_with_a_bad_setting_exits_with_one_line_and_no_respawn(tmp_path: Path) -> None:
    result = run_worker(
        tmp_path, BROKER_URL="redis://127.0.0.1:6379/0", SENTRY_TRACES_SAMPLE_RATE="2"
    )

    assert result.returncode != 0
    line = (
        "graphnode-worker: invalid setting SENTRY_TRACES_SAMPLE_RATE: "
        "Input should be less than or equal to 1"
    )
    assert line in result.stderr.splitlines()
    assert result.stderr.count("graphnode-worker:") == 1
    assert "Traceback" not in result.stderr


def test_worker_on_the_in_process_broker_says_it_needs_a_real_one(tmp_path: Path) -> None:
    result = run_worker(tmp_path, BROKER_URL="memory://")

    assert result.returncode != 0
    line = (
        "graphnode-worker: invalid setting BROKER_URL: memory:// runs jobs inside the API "
        "process; a worker needs redis://, amqp:// or sqs://"
    )
    assert line in result.stderr.splitlines()
    assert result.stderr.count("graphnode-worker:") == 1


def test_worker_with_an_unreachable_sqs_endpoint_exits_with_one_line(tmp_path: Path) -> None:
    port = unused_port()

    result = run_worker(
        tmp_path,
        BROKER_URL=f"sqs://us-east-1?endpoint_url=http://127.0.0.1:{port}",
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )

    assert result.returncode != 0
    line = (
        f"graphnode-worker: cannot reach BROKER_URL "
        f"sqs://us-east-1?endpoint_url=http://127.0.0.1:{port}: connection refused"
    )
    assert line in result.stderr.splitlines()
    assert result.stderr.count("graphnode-worker:") == 1
    assert "Traceback" not in result.stderr
    assert SECRET not in result.stderr + result.stdout
