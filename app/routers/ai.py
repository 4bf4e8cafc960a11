"""/v1/ai: text analysis and chat grounded in the caller's graph."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.core.config import Settings
from app.errors.exceptions import PayloadTooLarge
from app.errors.openapi import problem_responses
from app.routers.deps import CurrentUser, SessionDep
from app.schemas.graph import NON_BLANK_MULTI_LINE
from app.services.analysis import text_analysis_service
from app.services.chat import chat_service

router = APIRouter(prefix="/v1/ai", tags=["ai"])

# Bytes per character in the worst case (UTF-8) plus JSON overhead: a body larger than this
# cannot hold an acceptable text, so it is refused before it is read and parsed.
_MAX_BYTES_PER_CHAR = 4
_JSON_OVERHEAD_BYTES = 1024

# Not blank, and no control characters but tab and line breaks (PostgreSQL refuses NUL).
NonBlank = Annotated[str, StringConstraints(min_length=1, pattern=NON_BLANK_MULTI_LINE)]


class AnalyzeRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"text": "Graph databases store nodes and edges between them."}]
        }
    )

    text: NonBlank = Field(description="The text; at most `limits.max_text_chars` characters.")


class TermOut(BaseModel):
    text: str
    relevance: float = Field(description="In (0, 1]; higher is more relevant.")


class Counts(BaseModel):
    characters: int
    words: int
    sentences: int


class AnalysisOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "language": "en",
                    "language_confidence": 0.98,
                    "counts": {"characters": 52, "words": 8, "sentences": 1},
                    "reading_time_seconds": 3,
                    "keywords": [{"text": "graph databases", "relevance": 0.91}],
                    "key_phrases": [{"text": "Graph databases store nodes", "relevance": 0.8}],
                }
            ]
        }
    )

    language: str = Field(description="ISO 639-1 code of the most likely language.")
    language_confidence: float
    counts: Counts
    reading_time_seconds: int
    keywords: list[TermOut]
    key_phrases: list[TermOut]


class ChatRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message": "What do my notes say about graphs?"}]}
    )

    message: NonBlank


class ChatReplyOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "answer": "Graphs connect vertices with edges [1].",
                    "node_ids": ["0b7e5f0a-6d2c-4c1e-9a57-3f1d2e4c5b6a"],
                    "provider": "local",
                }
            ]
        }
    )

    answer: str
    node_ids: list[str] = Field(description="The caller's nodes the answer is grounded in.")
    provider: str


class Limits(BaseModel):
    max_text_chars: int


class AiInfo(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "operations": ["lightweight-analyze", "chat"],
                    "chat_provider": "local",
                    "chat_model": None,
                    "limits": {"max_text_chars": 50000},
                }
            ]
        }
    )

    operations: list[str]
    chat_provider: Literal["local", "openai"]
    chat_model: str | None
    limits: Limits


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def check_text_size(text: str, settings: Settings) -> None:
    if len(text) > settings.ai_max_text_chars:
        raise PayloadTooLarge(
            f"The text has {len(text)} characters; the limit is {settings.ai_max_text_chars}.",
            max_text_chars=settings.ai_max_text_chars,
        )


def refuse_oversized_bodies(request: Request) -> None:
    settings = _settings(request)
    declared = request.headers.get("content-length", "")
    limit = settings.ai_max_text_chars * _MAX_BYTES_PER_CHAR + _JSON_OVERHEAD_BYTES
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(
            f"The request body exceeds {limit} bytes.",
            max_text_chars=settings.ai_max_text_chars,
        )


@router.get("", response_model=AiInfo, summary="What the AI surface offers")
async def ai_info(request: Request) -> AiInfo:
    settings = _settings(request)
    return AiInfo(
        operations=["lightweight-analyze", "chat"],
        chat_provider=settings.llm_provider,
        chat_model=settings.llm_model if settings.llm_provider == "openai" else None,
        limits=Limits(max_text_chars=settings.ai_max_text_chars),
    )


@router.post(
    "/lightweight-analyze",
    response_model=AnalysisOut,
    summary="Language, counts, reading time, keywords and key phrases of a text",
    responses=problem_responses(401, 413),
    dependencies=[Depends(refuse_oversized_bodies)],
)
async def lightweight_analyze(
    data: AnalyzeRequest, request: Request, user_id: CurrentUser
) -> AnalysisOut:
    check_text_size(data.text, _settings(request))
    analysis = await text_analysis_service.analyze(data.text)
    return AnalysisOut(
        language=analysis.language,
        language_confidence=analysis.language_confidence,
        counts=Counts(
            characters=analysis.characters, words=analysis.words, sentences=analysis.sentences
        ),
        reading_time_seconds=analysis.reading_time_seconds,
        keywords=[TermOut(text=t.text, relevance=t.relevance) for t in analysis.keywords],
        key_phrases=[TermOut(text=t.text, relevance=t.relevance) for t in analysis.key_phrases],
    )


@router.post(
    "/chat",
    response_model=ChatReplyOut,
    summary="Answer a message from your own nodes",
    responses=problem_responses(401, 413, 502, 503, 504),
    dependencies=[Depends(refuse_oversized_bodies)],
)
async def chat(
    data: ChatRequest, request: Request, session: SessionDep, user_id: CurrentUser
) -> ChatReplyOut:
    check_text_size(data.message, _settings(request))
    reply = await chat_service.reply(
        session, owner_id=user_id, message=data.message, provider=request.app.state.chat_provider
    )
    return ChatReplyOut(answer=reply.answer, node_ids=reply.node_ids, provider=reply.provider)
