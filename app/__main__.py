"""Command line.

`python -m app token <user>`: print a bearer token (stdout only).
`python -m app release [--environment ENV]`: register the release and its deploy in Sentry
(needs SENTRY_AUTH_TOKEN, SENTRY_ORG, SENTRY_PROJECT, and reads ENVIRONMENT, APP_VERSION and
GIT_SHA; no other setting).
"""

from __future__ import annotations

import argparse
import sys

from app.core.config import SettingsError, load_release_settings, load_settings
from app.core.security import create_access_token
from app.releases import publish_release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m app", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    token = commands.add_parser("token", help="print a bearer token for a user (stdout only)")
    token.add_argument("user", help="the user id (the token's subject)")
    token.add_argument("--ttl", type=int, default=None, help="lifetime in seconds")
    release = commands.add_parser(
        "release", help="sentry-cli: new release, set commits, finalize, new deploy"
    )
    release.add_argument(
        "--environment", default=None, help="deploy environment (default: ENVIRONMENT)"
    )
    args = parser.parse_args(argv)

    try:
        if args.command == "release":
            # Only the release name's inputs: a release job has no runtime secrets.
            inputs = load_release_settings()
            environment = args.environment or inputs.environment.value
            return publish_release(inputs.release, environment)
        settings = load_settings()
        print(create_access_token(args.user, settings, ttl_seconds=args.ttl))
    except (SettingsError, ValueError) as exc:
        print(f"graphnode-api: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
