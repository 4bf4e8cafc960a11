#!/usr/bin/env bash
# Register this checkout's release and a deploy with Sentry; see README "Deploying".
# Needs SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT (and SENTRY_URL for self-hosted).
# Runs `python -m app release` with $PYTHON if set, else the first of .venv/bin/python,
# python3 and python that has the package installed (a CI job, an image, a virtualenv).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${PYTHON:-}" ]]; then
    exec "$PYTHON" -m app release "$@"
fi
for candidate in .venv/bin/python python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import app.__main__' 2>/dev/null; then
        exec "$candidate" -m app release "$@"
    fi
done
echo "release.sh: no Python here has graphnode-api installed; set PYTHON=/path/to/python" >&2
exit 2
