"""Task functions registered on the broker; the work itself lives in services."""

from __future__ import annotations

from taskiq import AsyncBroker, Context, TaskiqDepends

from app.worker.execution import run_job

EXTRACT_GRAPH_TASK = "graphnode.extract_graph"


async def extract_graph(job_id: str, context: Context = TaskiqDepends()) -> str:
    return await run_job(context, job_id)


def register_tasks(broker: AsyncBroker) -> None:
    broker.register_task(extract_graph, task_name=EXTRACT_GRAPH_TASK)
