from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import redis

from app.core.config import Settings
from app.core.security import create_access_token
from tests.conftest import service_url
from tests.local_http import SentryIngest
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
    command = procfile()["web"].replace("0.0.0.0", "127.0.0.1")
    env = {
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
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
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "web did not start"
                time.sleep(0.2)
        assert response.status_code == 200
        assert response.json()["version"].startswith("graphnode-api@")
    finally:
        process.send_signal(signal.SIGTERM)
        output = process.communicate(timeout=30)[0].decode()
    # uvicorn shuts down gracefully, then re-raises the signal as its exit status.
    assert process.returncode in (0, -signal.SIGTERM)
    assert '"event":"app.stopped"' in output


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
    token = create_access_token("alice", Settings(_env_file=None, jwt_secret=secret))  # type: ignore[call-arg]
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "web did not start"
                time.sleep(0.2)
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
