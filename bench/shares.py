"""Where a server's busy samples are: shares of a py-spy profile by component.

    .venv/bin/py-spy record -p <server pid> -d 8 -r 200 -f raw -o profile.txt   # under wrk
    .venv/bin/python -m bench.shares profile.txt

Each busy sample counts for the component of its innermost frame that belongs to one (a
log call made by the audit proxy counts for structlog/logging, SQLAlchemy's work for a
query for SQLAlchemy), "other" when none does; the shares add up to 100 %. Idle samples
(the event loop waiting, thread-pool workers waiting) are left out.
"""

from __future__ import annotations

import sys
from collections import Counter

COMPONENTS = {
    "language model loading (start-up)": ("py3langid/", "lzma.py", "_compression.py"),
    "sentry-sdk": ("sentry_sdk/",),
    "our logging (access line, processors)": ("app/core/logging.py",),
    "our audit proxy": ("app/core/audit.py",),
    "our spans helper": ("app/core/spans.py",),
    "our middleware (context, rate limit, body limit, head)": (
        "app/core/middleware.py",
        "app/core/rate_limit.py",
        "app/core/body_limit.py",
        "app/core/head.py",
    ),
    "bearer token (ours or PyJWT)": ("app/core/security.py", "jwt/"),
    "SQLAlchemy": ("sqlalchemy/",),
    "asyncpg": ("asyncpg/",),
    "structlog and logging": ("structlog/", "logging/__init__"),
    "FastAPI and Starlette": ("fastapi/", "starlette/"),
    "pydantic / FastAPI serialisation": ("pydantic", "fastapi/_compat", "serialize_response"),
    "uvicorn (HTTP)": ("uvicorn/protocols",),
}
# Waiting: the loop's select, idle pool threads, sentry-sdk's monitor thread sleeping.
IDLE = (
    "Condition.wait",
    "Runner.run",
    "_worker (concurrent",
    "select (selectors",
    "Monitor._ensure_running",
)


def _innermost(frames: list[str]) -> str:
    for frame in reversed(frames):
        for name, needles in COMPONENTS.items():
            if any(needle in frame for needle in needles):
                return name
    return "other"


def shares(path: str) -> tuple[int, Counter[str]]:
    counts: Counter[str] = Counter()
    busy = 0
    with open(path) as lines:
        for line in lines:
            stack, _, number = line.rstrip().rpartition(" ")
            frames = stack.split(";")
            if not frames or frames[-1].startswith(IDLE):
                continue
            busy += int(number)
            counts[_innermost(frames)] += int(number)
    return busy, counts


def main() -> None:
    for path in sys.argv[1:]:
        busy, counts = shares(path)
        print(f"{path}: {busy} busy samples")
        for name, count in counts.most_common():
            print(f"  {count / max(busy, 1):6.1%}  {name}")


if __name__ == "__main__":
    main()
