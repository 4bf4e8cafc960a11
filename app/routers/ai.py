"""/v1/ai: text analysis and chat grounded in the caller's graph."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from app.http.openapi import problem_responses
from app.routers.deps import ChatProviderDep, CurrentUser, SessionDep, SettingsDep
from app.routers.text_limits import NonBlank, check_text_size, refuse_oversized_bodies
from app.services.analysis import text_analysis_service
from app.services.chat import chat_service

router = APIRouter(prefix="/v1/ai", tags=["ai"])


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


@router.get("", response_model=AiInfo, summary="What the AI surface offers")
async def ai_info(settings: SettingsDep) -> AiInfo:
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
    data: AnalyzeRequest, settings: SettingsDep, user_id: CurrentUser
) -> AnalysisOut:
    check_text_size(data.text, settings)
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
    data: ChatRequest,
    settings: SettingsDep,
    provider: ChatProviderDep,
    session: SessionDep,
    user_id: CurrentUser,
) -> ChatReplyOut:
    check_text_size(data.message, settings)
    reply = await chat_service.reply(
        session, owner_id=user_id, message=data.message, provider=provider
    )
    return ChatReplyOut(answer=reply.answer, node_ids=reply.node_ids, provider=reply.provider)
