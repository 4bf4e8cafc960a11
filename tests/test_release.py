from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

import pytest
import sentry_sdk

from app.core.release import git_sha, package_version
from app.core.sentry import init_sentry
from tests.conftest import SettingsFactory
from tests.local_http import FakeSentryAPI, SentryIngest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def sentry_api() -> Iterator[FakeSentryAPI]:
    server = FakeSentryAPI()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def checkout(tmp_path: Path, sentry_api: FakeSentryAPI) -> Path:
    """A git checkout whose remote is the repository the fake Sentry knows."""
    repo = tmp_path / "checkout"
    repo.mkdir()
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    for command in (
        ["init", "-q"],
        ["remote", "add", "origin", sentry_api.repository_url + ".git"],
        ["commit", "-q", "--allow-empty", "-m", "first"],
    ):
        subprocess.run([*git, *command], cwd=repo, check=True)
    return repo


def run_release(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SENTRY_", "APP_"))}
    return subprocess.run(
        [sys.executable, "-m", "app", "release", *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def credentials(sentry_api: FakeSentryAPI) -> dict[str, str]:
    return {
        "SENTRY_URL": sentry_api.url,
        "SENTRY_AUTH_TOKEN": "sntrys_release_token",
        "SENTRY_ORG": "acme",
        "SENTRY_PROJECT": "graphnode-api",
    }


def test_release_name_is_package_version_and_commit() -> None:
    sha = git_sha()
    assert sha, "the test suite runs from a git checkout"
    assert len(sha) == 12

    from app.core.release import release_name

    assert release_name() == f"graphnode-api@{package_version()}+{sha}"
    assert release_name("2.0.0") == "graphnode-api@2.0.0"
    assert release_name("other@1") == "other@1"


def test_release_registers_release_commits_and_deploy_in_order(
    checkout: Path,
    sentry_api: FakeSentryAPI,
    settings_factory: SettingsFactory,
    sentry_ingest: SentryIngest,
) -> None:
    result = run_release(checkout, credentials(sentry_api), "--environment", "production")

    assert result.returncode == 0, result.stderr
    release = result.stdout.strip()
    calls = [(r.method, unquote(r.path)) for r in sentry_api.requests]
    assert calls == [
        ("POST", "/api/0/organizations/acme/releases/"),
        ("GET", "/api/0/organizations/acme/repos/?cursor="),
        ("POST", "/api/0/organizations/acme/releases/"),
        ("PUT", f"/api/0/organizations/acme/releases/{release}/"),
        ("PUT", f"/api/0/organizations/acme/releases/{release}/"),
        ("POST", f"/api/0/organizations/acme/releases/{release}/deploys/"),
    ]
    assert {r.headers["authorization"] for r in sentry_api.requests} == {
        "Bearer sntrys_release_token"
    }
    bodies = [r.body.decode() for r in sentry_api.requests]
    assert f'"version":"{release}"' in bodies[0]
    assert '"refs"' in bodies[3]  # the commits
    assert '"dateReleased"' in bodies[4]  # finalize
    assert '"environment":"production"' in bodies[5]

    # The SDK reports the very same release name.
    init_sentry(settings_factory(sentry_dsn=sentry_ingest.dsn, app_version=None), component="api")
    sentry_sdk.capture_message("which release?")
    sentry_sdk.flush()
    (event,) = sentry_ingest.events
    assert event["release"] == release


@pytest.mark.parametrize("missing", ["SENTRY_AUTH_TOKEN", "SENTRY_ORG", "SENTRY_PROJECT"])
def test_missing_credentials_exit_before_anything_is_sent(
    checkout: Path, sentry_api: FakeSentryAPI, missing: str
) -> None:
    env = credentials(sentry_api)
    del env[missing]

    result = run_release(checkout, env)

    assert result.returncode == 2
    assert missing in result.stderr
    assert "nothing was sent" in result.stderr
    assert sentry_api.requests == []


def test_a_failing_sentry_api_stops_the_release_with_an_error(
    checkout: Path, sentry_api: FakeSentryAPI
) -> None:
    sentry_api.fail_path = "/deploys/"

    result = run_release(checkout, credentials(sentry_api))

    assert result.returncode == 1
    assert "deploys new" in result.stderr
    assert "sntrys_release_token" not in result.stderr + result.stdout


FAKE_SENTRY_CLI = """#!/bin/sh
# Records each call's arguments (one line per call) and the organisation it was given.
echo "$SENTRY_ORG $*" >> "$FAKE_SENTRY_CLI_LOG"
"""


@pytest.fixture
def checkout_without_venv(tmp_path: Path) -> Path:
    """The package's code and the script, as a CI job or an image has them: no .venv, no .git."""
    checkout = tmp_path / "image"
    shutil.copytree(ROOT / "app", checkout / "app", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "scripts", checkout / "scripts")
    return checkout


@pytest.mark.parametrize("python", ["python3 on PATH", "PYTHON"])
def test_release_script_runs_with_any_python_and_no_runtime_settings(
    tmp_path: Path, checkout_without_venv: Path, python: str
) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "sentry-cli").write_text(FAKE_SENTRY_CLI)
    (fake_bin / "sentry-cli").chmod(0o755)
    calls = tmp_path / "calls.log"
    base = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SENTRY_", "APP_", "JWT_", "DATABASE_", "BROKER_", "PYTHON"))
    }
    env = {
        **base,
        "SENTRY_AUTH_TOKEN": "sntrys_release_token",
        "SENTRY_ORG": "acme",
        "SENTRY_PROJECT": "graphnode-api",
        "FAKE_SENTRY_CLI_LOG": str(calls),
        # A production job without JWT_SECRET: building the app's settings would refuse.
        "ENVIRONMENT": "production",
        "GIT_SHA": "0123456789abcdef",
    }
    if python == "PYTHON":
        env["PYTHON"] = sys.executable
        env["PATH"] = f"{fake_bin}{os.pathsep}/usr/bin{os.pathsep}/bin"
    else:
        env["PATH"] = os.pathsep.join([str(fake_bin), str(Path(sys.executable).parent), "/bin"])

    result = subprocess.run(
        ["bash", str(checkout_without_venv / "scripts" / "release.sh")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    release = f"graphnode-api@{package_version()}+0123456789ab"
    assert result.stdout.strip() == release
    assert calls.read_text().splitlines() == [
        f"acme releases new {release}",
        f"acme releases set-commits {release} --auto --ignore-missing",
        f"acme releases finalize {release}",
        f"acme deploys new --release {release} -e production",
    ]
