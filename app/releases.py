"""`python -m app release`: register this release and its deploy with Sentry (sentry-cli)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TextIO

REQUIRED = ("SENTRY_AUTH_TOKEN", "SENTRY_ORG", "SENTRY_PROJECT")


def sentry_cli() -> str | None:
    """sentry-cli from PATH, else the one installed with the `release` extra next to this
    Python (a virtualenv used without activating it)."""
    found = shutil.which("sentry-cli")
    if found is not None:
        return found
    beside = Path(sys.executable).with_name("sentry-cli")
    return str(beside) if beside.exists() else None


def release_steps(release: str, environment: str) -> list[list[str]]:
    return [
        ["releases", "new", release],
        # Commits since the previous release, from the repository Sentry knows this
        # checkout's remote as; --ignore-missing lets the first release go through.
        ["releases", "set-commits", release, "--auto", "--ignore-missing"],
        ["releases", "finalize", release],
        ["deploys", "new", "--release", release, "-e", environment],
    ]


def publish_release(
    release: str,
    environment: str,
    *,
    env: Mapping[str, str] = os.environ,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Run the sentry-cli steps in order; stop at the first failure. Returns an exit code."""
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        err.write(
            f"graphnode-api release: {', '.join(missing)} not set; nothing was sent. "
            "Set them (and SENTRY_URL for self-hosted Sentry) in the environment.\n"
        )
        return 2
    cli = sentry_cli()
    if cli is None:
        err.write(
            "graphnode-api release: sentry-cli is not installed; "
            "pip install 'graphnode-api[release]'\n"
        )
        return 2
    child_env = {**env, "SENTRY_DISABLE_UPDATE_CHECK": "true"}
    for step in release_steps(release, environment):
        completed = _run([cli, *step], child_env)
        if completed.returncode != 0:
            err.write(
                f"graphnode-api release: `sentry-cli {' '.join(step)}` failed "
                f"(exit {completed.returncode}):\n{completed.stderr.strip()}\n"
            )
            return 1
    out.write(f"{release}\n")
    return 0


def _run(command: Sequence[str], env: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command), env=dict(env), capture_output=True, text=True, timeout=300, check=False
    )
