#!/usr/bin/env bash
# Register this checkout's release and a deploy with Sentry; see README "Deploying".
# Needs SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT (and SENTRY_URL for self-hosted).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m app release "$@"
