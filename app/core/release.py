"""The one release name: `graphnode-api@<package version>+<short git sha>`.

Used by the Sentry SDK (`release`), the release command (`python -m app release`) and
`/healthz`, so "first seen in release X" and suspect commits line up with deploys.
`APP_VERSION` overrides it (a value without `@` gets the `graphnode-api@` prefix); in an
image without `.git`, `GIT_SHA` supplies the commit.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from importlib import metadata
from pathlib import Path

PACKAGE_NAME = "graphnode-api"
PROJECT_ROOT = Path(__file__).resolve().parents[2]


def package_version() -> str:
    try:
        return metadata.version(PACKAGE_NAME)
    except metadata.PackageNotFoundError:
        return "0.0.0"


@cache
def git_sha() -> str | None:
    """The project checkout's short commit, `GIT_SHA` when there is no checkout."""
    try:
        completed = subprocess.run(
            ["git", "rev-parse", "--short=12", "HEAD"],
            cwd=PROJECT_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        completed = None
    if completed is not None and completed.returncode == 0 and completed.stdout.strip():
        return completed.stdout.strip()
    return os.environ.get("GIT_SHA", "").strip()[:12] or None


def release_name(app_version: str | None = None) -> str:
    if app_version:
        return app_version if "@" in app_version else f"{PACKAGE_NAME}@{app_version}"
    sha = git_sha()
    version = package_version()
    return f"{PACKAGE_NAME}@{version}+{sha}" if sha else f"{PACKAGE_NAME}@{version}"
