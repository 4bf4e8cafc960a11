"""`python -m app.worker [taskiq worker options]`: taskiq's worker for our broker, with
our logging in its supervising process too.

`taskiq worker app.worker.main:broker` runs the same workers, but its supervising process
(which never imports our code) writes its own lines in taskiq's plain-text format. Here
logging is configured before taskiq starts, so with LOG_FORMAT=json every line of every
process is a JSON object; the worker processes inherit it and configure it again when they
import `app.worker.main`.
"""

from __future__ import annotations

import sys

from taskiq.cli.worker.args import WorkerArgs
from taskiq.cli.worker.run import run_worker

from app.core.config import SettingsError, load_settings
from app.core.logging import configure_logging

BROKER = "app.worker.main:broker"


def main(argv: list[str] | None = None) -> int:
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"graphnode-worker: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings)
    args = WorkerArgs.from_cli([BROKER, *(sys.argv[1:] if argv is None else argv)])
    args.configure_logging = False  # ours, configured above
    return run_worker(args) or 0


if __name__ == "__main__":
    sys.exit(main())
