from __future__ import annotations

import asyncio

import pytest

from app.core.context import (
    bind_request_context,
    current,
    set_user_id,
    valid_correlation_id,
)

HOSTILE_IDS = [
    "abc\r\nInjected: yes",
    "abcdefgh\n",
    "abcdefgh\x85",  # NEL
    "abcdefgh\u2028",  # line separator
    "abcd efgh",
    "abcdefgh\x00",
    "\uff41\uff42\uff43\uff44\uff45\uff46\uff47\uff48",  # full-width letters: not ASCII
    "a" * 7,
    "a" * 65,
    "a" * 5000,
    "",
]


@pytest.mark.parametrize("value", ["abcdefgh", "req-1234.5678:9_ABC", "a" * 64])
def test_allow_listed_ids_are_kept(value: str) -> None:
    assert valid_correlation_id(value) == value


@pytest.mark.parametrize("value", HOSTILE_IDS)
def test_hostile_ids_are_rejected(value: str) -> None:
    assert valid_correlation_id(value) is None


def test_bind_request_context_binds_and_restores() -> None:
    assert current() is None
    with bind_request_context(correlation_id="job-12345678", user_id="u1", job_id="j1") as ctx:
        assert current() is ctx
        assert (ctx.correlation_id, ctx.user_id, ctx.job_id, ctx.source) == (
            "job-12345678",
            "u1",
            "j1",
            "cli",
        )
        with bind_request_context(source="worker") as inner:
            assert current() is inner
        assert current() is ctx
    assert current() is None


def test_bind_request_context_replaces_an_invalid_id() -> None:
    with bind_request_context(correlation_id="bad\nid-123456") as ctx:
        assert valid_correlation_id(ctx.correlation_id) == ctx.correlation_id
        assert "\n" not in ctx.correlation_id


def test_bind_request_context_restores_after_an_exception() -> None:
    with pytest.raises(ValueError, match="x"), bind_request_context():
        raise ValueError("x")
    assert current() is None


async def test_set_user_id_from_a_thread_is_seen_by_the_caller() -> None:
    with bind_request_context() as ctx:
        await asyncio.to_thread(set_user_id, "user-42")
        assert ctx.user_id == "user-42"


async def test_concurrent_tasks_have_separate_contexts() -> None:
    async def run(n: int) -> tuple[str, str | None]:
        with bind_request_context(correlation_id=f"task-{n:08d}") as ctx:
            await asyncio.sleep(0)
            set_user_id(f"user-{n}")
            await asyncio.sleep(0)
            seen = current()
            assert seen is ctx
            return seen.correlation_id, seen.user_id

    results = await asyncio.gather(*(run(n) for n in range(50)))

    assert results == [(f"task-{n:08d}", f"user-{n}") for n in range(50)]
