"""Request and response bodies of the graph API, with their input bounds."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, Generic, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

TITLE_MAX = 200
BODY_MAX = 20_000
TAGS_MAX = 20
TAG_MAX = 50
RELATION_MAX = 64
PAGE_MAX = 100
PAGE_DEFAULT = 20


def _unique(tags: list[str]) -> list[str]:
    return list(dict.fromkeys(tags))


# No control characters (PostgreSQL refuses NUL in text; none has a place in a title). A
# body may hold tabs and line breaks.
SINGLE_LINE = r"^[^\x00-\x1f\x7f]*$"
MULTI_LINE = r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]*$"
# The same, with at least one character that is not white space (no look-ahead: the
# pattern must also be valid for pydantic's Rust engine and JSON Schema).
_TEXT_CHAR = r"[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]"
NON_BLANK_MULTI_LINE = rf"^{_TEXT_CHAR}*[^\s\x00-\x1f\x7f]{_TEXT_CHAR}*$"

Title = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=TITLE_MAX, pattern=SINGLE_LINE
    ),
]
Body = Annotated[str, StringConstraints(max_length=BODY_MAX, pattern=MULTI_LINE)]

# Tags and relations start with a letter, digit or `_` (of any script: any non-ASCII
# character) and go on with those and a little punctuation, spaces inside only. Spelled
# without `\w`, which JSON Schema's (ECMA-262) engine reads as ASCII-only and the
# server's as Unicode, and not stripped: the published pattern and length are the rule.
_WORD = r"[^\x00-\x2f\x3a-\x40\x5b-\x5e\x60\x7b-\x7f]"


def _label(punctuation: str) -> str:
    return rf"^{_WORD}(?:(?:{_WORD}|[ {punctuation}])*(?:{_WORD}|[{punctuation}]))?$"


TAG_PATTERN = _label(".:/+#-")
RELATION_PATTERN = _label(".:-")


def _label_rule(pattern: str, rule: str) -> Callable[[str], str]:
    """Check `pattern` with a message a person can act on (pydantic's names the regex)."""
    compiled = re.compile(pattern)

    def check(value: str) -> str:
        if not compiled.fullmatch(value):
            raise PydanticCustomError("label_pattern", rule)
        return value

    return check


Tag = Annotated[
    str,
    StringConstraints(min_length=1, max_length=TAG_MAX),
    AfterValidator(
        _label_rule(
            TAG_PATTERN,
            "A tag starts with a letter, a digit or _ and holds only those, inner spaces "
            "and . : / + # -",
        )
    ),
    Field(json_schema_extra={"pattern": TAG_PATTERN}),
]
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX), AfterValidator(_unique)]
Relation = Annotated[
    str,
    StringConstraints(min_length=1, max_length=RELATION_MAX),
    AfterValidator(
        _label_rule(
            RELATION_PATTERN,
            "A relation starts with a letter, a digit or _ and holds only those, inner "
            "spaces and . : -",
        )
    ),
    Field(json_schema_extra={"pattern": RELATION_PATTERN}),
]
Weight = Annotated[float, Field(ge=0.0, le=1_000_000.0, allow_inf_nan=False)]


class NodeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"title": "Graph theory", "body": "Vertices and edges.", "tags": ["math", "cs"]}
            ]
        },
    )

    title: Title
    body: Body = ""
    tags: Tags = []


def _members_are_not_nullable(schema: dict[str, Any]) -> None:
    # The fields are optional (absent = unchanged) but never null: say so in the schema.
    for member in schema.get("properties", {}).values():
        variants = member.pop("anyOf", None)
        if variants is not None:
            member.update(next(v for v in variants if v.get("type") != "null"))
        member.pop("default", None)


def _examples(
    *examples: dict[str, Any], not_nullable: bool = False
) -> Callable[[dict[str, Any]], None]:
    """`json_schema_extra`: the OpenAPI examples of a model (and the no-null rule)."""

    def extra(schema: dict[str, Any]) -> None:
        if not_nullable:
            _members_are_not_nullable(schema)
        schema["examples"] = list(examples)

    return extra


_NODE_ID = "0b7e5f0a-6d2c-4c1e-9a57-3f1d2e4c5b6a"
_OTHER_NODE_ID = "7c9d2e1f-3b4a-4f6e-8d1c-2a3b4c5d6e7f"
_EDGE_ID = "4e5f6a7b-8c9d-4e1f-a2b3-c4d5e6f7a8b9"
_NODE_EXAMPLE: dict[str, Any] = {
    "id": _NODE_ID,
    "title": "Graph theory",
    "body": "Vertices and edges.",
    "tags": ["math", "cs"],
    "created_at": "2026-12-01T17:00:00Z",
    "updated_at": "2026-12-01T17:00:00Z",
}
_EDGE_EXAMPLE: dict[str, Any] = {
    "id": _EDGE_ID,
    "source_id": _NODE_ID,
    "target_id": _OTHER_NODE_ID,
    "relation": "cites",
    "weight": 1.0,
}


class PartialUpdate(BaseModel):
    """A PATCH body: only the members present change; `null` is not a value for any.

    Refused member by member (a field validator, which runs only for members that are
    present), so each error is located at its member: `#/title`, not the body as a whole,
    as a model validator's error would be.
    """

    model_config = ConfigDict(extra="forbid", json_schema_extra=_members_are_not_nullable)

    @field_validator("*", mode="before")
    @classmethod
    def _not_null(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("null_not_allowed", "Null is not a value for this member")
        return value


class NodeUpdate(PartialUpdate):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"title": "Graph theory (notes)"}, not_nullable=True),
    )

    title: Title | None = None
    body: Body | None = None
    tags: Tags | None = None


class NodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_NODE_EXAMPLE]})

    id: uuid.UUID
    title: str
    body: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class EdgeCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "source_id": _NODE_ID,
                    "target_id": _OTHER_NODE_ID,
                    "relation": "cites",
                    "weight": 1.0,
                }
            ]
        },
    )

    source_id: uuid.UUID
    target_id: uuid.UUID
    relation: Relation
    weight: Weight = 1.0


class EdgeUpdate(PartialUpdate):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra=_examples({"relation": "cites", "weight": 2.5}, not_nullable=True),
    )

    relation: Relation | None = None
    weight: Weight | None = None


class EdgeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True, json_schema_extra={"examples": [_EDGE_EXAMPLE]})

    id: uuid.UUID
    source_id: uuid.UUID
    target_id: uuid.UUID
    relation: str
    weight: float


class NeighbourOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"direction": "out", "edge": _EDGE_EXAMPLE, "node": _NODE_EXAMPLE}]
        }
    )

    direction: Literal["out", "in"]
    edge: EdgeOut
    node: NodeOut


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )


class TagCount(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"tag": "math", "nodes": 3}]})

    tag: str
    nodes: int = Field(description="How many of your nodes carry the tag.")
