"""Loaded by worker processes started with this folder on PYTHONPATH (tests only).

GRAPHNODE_TEST_WORKER_HOOK=fail makes every extraction fail; =slow makes it sleep first
(GRAPHNODE_TEST_WORKER_DELAY seconds), so a test can kill the worker mid-job.
"""

from __future__ import annotations

import asyncio
import os
from typing import Any

_hook = os.environ.get("GRAPHNODE_TEST_WORKER_HOOK")

if _hook in ("fail", "slow"):
    from app.services.extraction import GraphExtractionService

    _original = GraphExtractionService.extract

    async def _patched(self: Any, *args: Any, **kwargs: Any) -> Any:
        if _hook == "fail":
            raise RuntimeError("the extractor always fails in this worker")
        await asyncio.sleep(float(os.environ.get("GRAPHNODE_TEST_WORKER_DELAY", "30")))
        return await _original(self, *args, **kwargs)

    GraphExtractionService.extract = _patched  # type: ignore[method-assign]
