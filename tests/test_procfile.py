from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis
from pydantic import SecretStr

from app.core.config import Settings
from app.core.security import create_access_token
from tests.conftest import service_url
from tests.local_http import SentryIngest, wait_for_http
from tests.routers.test_ai import LITHUANIAN

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def procfile() -> dict[str, str]:
    entries = {}
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, command = line.partition(":")
            entries[name.strip()] = command.strip()
    return entries


def test_honcho_accepts_the_procfile() -> None:
    result = subprocess.run(
        [str(BIN / "honcho"), "check"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    assert set(procfile()) == {"web", "worker"}


def test_web_entry_serves_healthz(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    command = procfile()["web"]
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "WEB_HOST": "127.0.0.1",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
    }
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        response = wait_for_http(process, f"http://127.0.0.1:{port}/healthz")
        assert response.status_code == 200
        assert response.json()["version"].startswith("graphnode-api@")
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    # uvicorn shuts down gracefully, then re-raises the signal as its exit status.
    assert process.returncode in (0, -signal.SIGTERM)
    assert '"event":"app.stopped"' in output


def make_dry_run(target: str) -> str:
    result = subprocess.run(
        ["make", "-n", target], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return result.stdout


def test_make_start_serves_the_api_on_the_port_of_make_run() -> None:
    assert "--port 8000" in make_dry_run("run")
    assert "--port 8000" in make_dry_run("start")


@pytest.fixture
def fresh_checkout(tmp_path: Path) -> Path:
    """This working tree as a clone would have it (no .env, no database), sharing .venv.

    The virtualenv is the one running these tests, linked rather than rebuilt; the copy's
    pyproject.toml is dated before its install stamp so make sees it up to date.
    """
    venv = Path(sys.prefix)
    stamp = venv / ".installed-stamp"
    if not stamp.exists():
        pytest.skip("the suite does not run from the Makefile's virtualenv")
    checkout = tmp_path / "checkout"
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = checkout / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (checkout / ".venv").symlink_to(venv, target_is_directory=True)
    # A second older than the stamp (float times can round past it).
    installed = stamp.stat().st_mtime_ns - 1_000_000_000
    os.utime(checkout / "pyproject.toml", ns=(installed, installed))
    return checkout


def test_make_start_runs_the_api_and_the_worker_and_stops_on_ctrl_c(
    fresh_checkout: Path,
) -> None:
    broker_url = service_url("TEST_REDIS_URL")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith(_APP_SETTINGS)}
    env.update(
        # Nothing of the virtualenv on PATH: `make start` must put it there.
        PATH="/usr/local/bin:/usr/bin:/bin",
        BROKER_URL=broker_url,
        BROKER_QUEUE=f"graphnode-test-{uuid.uuid4().hex[:12]}",
        LOG_FORMAT="json",
    )
    log = fresh_checkout / "start.log"
    process = subprocess.Popen(
        ["make", "start", f"PORT={port}"],
        cwd=fresh_checkout,
        env=env,
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its own process group, as a terminal's foreground job
    )
    try:
        response = wait_for_http(
            process, f"http://127.0.0.1:{port}/healthz", timeout=60, request_timeout=2, log=log
        )
        wait_for_text(log, "Listening started.", process)
    finally:
        with contextlib.suppress(ProcessLookupError):  # already gone: the output says why
            os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        process.wait(timeout=60)
    output = log.read_text()

    assert response.status_code == 200
    assert response.json()["version"].startswith("graphnode-api@")
    assert "not found" not in output
    worker_lines = [line for line in output.splitlines() if "worker.1" in line]
    assert any("Listening started." in line for line in worker_lines)
    # Both stopped cleanly: the API ran its shutdown, the worker closed its broker.
    assert '"event":"app.stopped"' in output
    assert any("Shutting down the broker." in line for line in worker_lines)
    assert "Traceback" not in output
    assert_group_gone(process.pid)


_APP_SETTINGS = ("SENTRY_", "BROKER_", "DATABASE_", "ENVIRONMENT", "JWT_", "PORT", "WEB_")


def wait_for_text(log: Path, text: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while text not in log.read_text():
        assert process.poll() is None, log.read_text()[-3000:]
        assert time.monotonic() < deadline, f"no {text!r}: {log.read_text()[-3000:]}"
        time.sleep(0.2)


def assert_group_gone(pgid: int) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        assert time.monotonic() < deadline, "processes of `make start` outlived it"
        time.sleep(0.1)


def test_web_process_writes_only_json_lines(tmp_path: Path, sentry_ingest: SentryIngest) -> None:
    redis_url = service_url("TEST_REDIS_URL")
    queue = f"graphnode-test-{uuid.uuid4().hex[:12]}"
    # The consumer group exists already, as on every start but the first: the broker's
    # XGROUP CREATE fails (a span the Redis integration leaves open).
    with redis.Redis.from_url(redis_url) as client:
        client.xgroup_create(queue, "graphnode-workers", mkstream=True)
    secret = "p" * 40
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'web.db'}",
        "PYTHONPATH": str(ROOT),
        "LOG_FORMAT": "json",
        "JWT_SECRET": secret,
        "BROKER_URL": redis_url,
        "BROKER_QUEUE": queue,
        "SENTRY_SPOTLIGHT": f"http://127.0.0.1:{sentry_ingest.port}/stream",
        "SENTRY_TRACES_SAMPLE_RATE": "1.0",
    }
    command = procfile()["web"].replace("0.0.0.0", "127.0.0.1")
    process = subprocess.Popen(
        ["bash", "-c", f"exec {command}"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    token = create_access_token("alice", Settings(_env_file=None, jwt_secret=SecretStr(secret)))
    try:
        wait_for_http(process, f"http://127.0.0.1:{port}/healthz")
        analysed = httpx.post(
            f"http://127.0.0.1:{port}/v1/ai/lightweight-analyze",
            json={"text": LITHUANIAN},  # YAKE printed a warning for this language's list
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        assert analysed.status_code == 200
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()

    lines = [json.loads(line) for line in output.splitlines() if line.strip()]  # all JSON
    events = [line["event"] for line in lines]
    assert "sentry.spotlight_enabled" in events
    assert any(event.startswith("setup plugin") for event in events)  # alembic's, as JSON
    assert "app.started" in events
    assert "app.stopped" in events
    # Outside a request no span is current: those lines carry no trace.
    outside = [line for line in lines if line.get("correlation_id") is None]
    assert {"app.started", "app.stopped"} <= {line["event"] for line in outside}
    assert [line for line in outside if "trace_id" in line] == []
