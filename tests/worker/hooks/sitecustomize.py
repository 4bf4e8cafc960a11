"""Loaded by processes started with this folder on PYTHONPATH (tests only).

GRAPHNODE_TEST_WORKER_HOOK=fail makes every extraction fail; =slow makes it sleep first
(GRAPHNODE_TEST_WORKER_DELAY seconds), so a test can kill the worker mid-job; =die makes
the worker process SIGKILL itself as the extraction starts (every delivery dies).
GRAPHNODE_TEST_API_HOOK=die-before-send makes an API process SIGKILL itself when it is
about to send a committed job to the broker: a crash between the commit and the send.
"""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

_hook = os.environ.get("GRAPHNODE_TEST_WORKER_HOOK")

if _hook in ("fail", "slow", "die"):
    from app.services.extraction import GraphExtractionService

    _original = GraphExtractionService.extract

    async def _patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _hook == "fail":
            raise RuntimeError("the extractor always fails in this worker")
        if _hook == "die":
            os.kill(os.getpid(), signal.SIGKILL)
        await asyncio.sleep(float(os.environ.get("GRAPHNODE_TEST_WORKER_DELAY", "30")))
        return await _original(self, *args, **kwargs)

    GraphExtractionService.extract = _patched  # type: ignore[method-assign]

if os.environ.get("GRAPHNODE_TEST_API_HOOK") == "die-before-send":
    from app.worker.queue import TaskiqJobQueue

    async def _die(self: Any, *args: Any, **kwargs: Any) -> None:
        os.kill(os.getpid(), signal.SIGKILL)

    TaskiqJobQueue.send = _die  # type: ignore[method-assign]
