"""Chat providers behind one interface: `local` (extractive, no network) and `openai`."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import httpx
import structlog
from pydantic import BaseModel, ValidationError
from segtok.segmenter import split_multi

from app.core.config import Settings
from app.errors.exceptions import ServiceUnavailable, UpstreamError, UpstreamTimeout
from app.providers.retry import (
    RetryableFailure,
    retry_after_header,
    retry_after_seconds,
    upstream_retrying,
)
from app.search.folding import index_tokens

log = structlog.get_logger(__name__)

_TIMEOUT_KINDS: dict[type[httpx.TimeoutException], str] = {
    httpx.ConnectTimeout: "connect",
    httpx.ReadTimeout: "read",
    httpx.WriteTimeout: "write",
    httpx.PoolTimeout: "pool",
}


@dataclass(frozen=True, slots=True)
class ContextNode:
    id: str
    title: str
    body: str


class ChatProvider(Protocol):
    name: str

    async def answer(self, message: str, context: Sequence[ContextNode]) -> str: ...


class LocalChatProvider:
    """Answers with the sentences of the caller's most relevant nodes, cited by number."""

    name = "local"

    async def answer(self, message: str, context: Sequence[ContextNode]) -> str:
        if not context:
            return "I found nothing in your graph about that yet."
        # Folded tokens (CJK bigrams included) so overlap works in every script.
        wanted = set(index_tokens(message))
        lines = []
        for number, node in enumerate(context, start=1):
            sentences = [s for s in split_multi(node.body) if s.strip()] or [node.title]
            best = max(sentences, key=lambda sentence: len(set(index_tokens(sentence)) & wanted))
            lines.append(f"- {node.title}: {best.strip()} [{number}]")
        return "From your graph:\n" + "\n".join(lines)


class _Message(BaseModel):
    content: str


class _Choice(BaseModel):
    message: _Message


class _Completion(BaseModel):
    choices: list[_Choice]


def _diagnostics(reason: str, attempts: int, **facts: object) -> dict[str, object]:
    """The `cause` context of an upstream failure's Sentry event: what failed and how,
    never the prompt, the answer or the key."""
    return {"dependency": "llm", "reason": reason, "attempts": attempts, **facts}


class OpenAICompatibleProvider:
    """POST {LLM_BASE_URL}/chat/completions on the shared client, with bounded retries.

    Upstream failures become problems: timeout (read timeout, or the whole answer past
    LLM_DEADLINE_SECONDS) 504, unreachable or 5xx or malformed 502, 429 503 with
    `Retry-After`. The upstream's body never reaches the client or the logs. Each problem
    chains the exception that caused it (when there is one) and says why in its
    `diagnostics`: the upstream's status, the kind of timeout or of connection error.
    """

    name = "openai"
    _SYSTEM = (
        "You answer questions using only the user's notes below. Cite a note by its number "
        "in brackets, like [1]. If the notes do not contain the answer, say so."
    )

    def __init__(self, client: httpx.AsyncClient, settings: Settings) -> None:
        assert settings.llm_base_url is not None
        self._client = client
        self._url = f"{settings.llm_base_url}/chat/completions"
        self._model = settings.llm_model
        self._timeout = httpx.Timeout(
            settings.llm_timeout_seconds, connect=settings.llm_connect_timeout_seconds
        )
        self._deadline = settings.llm_deadline_seconds
        self._max_retries = settings.llm_max_retries
        self._max_wait = settings.llm_max_retry_wait_seconds
        self._headers = {}
        if settings.llm_api_key is not None:
            self._headers["Authorization"] = f"Bearer {settings.llm_api_key.get_secret_value()}"

    async def answer(self, message: str, context: Sequence[ContextNode]) -> str:
        notes = "\n\n".join(
            f"[{number}] {node.title}\n{node.body}" for number, node in enumerate(context, 1)
        )
        payload = {
            "model": self._model,
            "messages": [
                {"role": "system", "content": f"{self._SYSTEM}\n\nNotes:\n{notes or '(none)'}"},
                {"role": "user", "content": message},
            ],
        }
        try:
            async with asyncio.timeout(self._deadline):
                response = await self._post(payload)
        except TimeoutError as error:
            log.warning("llm.upstream_failed", reason="deadline", deadline_s=self._deadline)
            raise UpstreamTimeout(
                "The language model did not answer in time.",
                diagnostics={
                    "dependency": "llm",
                    "reason": "timeout",
                    "timeout_kind": "deadline",
                    "deadline_seconds": self._deadline,
                },
            ) from error
        try:
            completion = _Completion.model_validate_json(response.content)
            content = completion.choices[0].message.content.strip()
        except (ValidationError, IndexError):
            content = ""
        if not content:
            log.warning("llm.malformed_response", status=response.status_code)
            # Not chained: a validation error's text quotes the upstream's body.
            raise UpstreamError(
                "The language model answered with something unusable.",
                diagnostics=_diagnostics(
                    "malformed_response", 1, upstream_status=response.status_code
                ),
            )
        return content

    async def _post(self, payload: Mapping[str, object]) -> httpx.Response:
        """The upstream's answer; an unreachable upstream, a 5xx or a 429 is tried again
        (after its `Retry-After`, else a jittered backoff) up to LLM_MAX_RETRIES times,
        unless that means waiting more than LLM_MAX_RETRY_WAIT_SECONDS."""
        try:
            async for attempt in upstream_retrying(
                max_retries=self._max_retries, max_wait=self._max_wait
            ):
                with attempt:
                    return await self._try(payload, attempt.retry_state.attempt_number)
        except RetryableFailure as failure:
            raise failure.problem from failure.__cause__
        raise AssertionError("tenacity ends with the answer or an error")

    async def _try(self, payload: Mapping[str, object], attempts: int) -> httpx.Response:
        attempt = attempts - 1
        try:
            response = await self._client.post(
                self._url, json=payload, headers=self._headers, timeout=self._timeout
            )
        except httpx.TimeoutException as error:
            # Waiting again would double the client's wait for a slow upstream.
            log.warning("llm.upstream_failed", reason="timeout", attempt=attempt)
            raise UpstreamTimeout(
                "The language model did not answer in time.",
                diagnostics=_diagnostics(
                    "timeout", attempts, timeout_kind=_TIMEOUT_KINDS.get(type(error), "other")
                ),
            ) from error
        except httpx.TransportError as error:
            log.warning("llm.upstream_failed", reason=type(error).__name__, attempt=attempt)
            raise RetryableFailure(
                UpstreamError(
                    "The language model could not be reached.",
                    diagnostics=_diagnostics(
                        "unreachable", attempts, connection_error=type(error).__name__
                    ),
                )
            ) from error
        except httpx.RequestError as error:
            # A body that does not decode (bad gzip), a redirect loop: retrying cannot help.
            log.warning("llm.upstream_failed", reason=type(error).__name__, attempt=attempt)
            raise UpstreamError(
                "The language model answered with something unusable.",
                diagnostics=_diagnostics(
                    "unusable_response", attempts, error_type=type(error).__name__
                ),
            ) from error
        status = response.status_code
        if status < 400:
            return response
        log.warning("llm.upstream_failed", status=status, attempt=attempt)
        retry_after = retry_after_seconds(response.headers.get("Retry-After"))
        if status == 429:
            raise RetryableFailure(
                ServiceUnavailable(
                    "The language model is rate limited. Retry later.",
                    retry_after=retry_after_header(retry_after),
                    diagnostics=_diagnostics(
                        "rate_limited", attempts, upstream_status=status, retry_after=retry_after
                    ),
                ),
                retry_after=retry_after,
            )
        if status >= 500:
            raise RetryableFailure(
                UpstreamError(
                    f"The language model failed (HTTP {status}).",
                    diagnostics=_diagnostics("upstream_error", attempts, upstream_status=status),
                ),
                retry_after=retry_after,
            )
        # 4xx other than 429: our request or credentials are wrong; retrying cannot help.
        # Reported as a 502 because the client did nothing wrong.
        raise UpstreamError(
            f"The language model refused the request (HTTP {status}).",
            diagnostics=_diagnostics("refused", attempts, upstream_status=status),
        )


def build_chat_provider(settings: Settings, client: httpx.AsyncClient) -> ChatProvider:
    if settings.llm_provider == "openai":
        return OpenAICompatibleProvider(client, settings)
    return LocalChatProvider()
