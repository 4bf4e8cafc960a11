"""Request and response bodies of the graph API, with their input bounds."""

from __future__ import annotations

import uuid
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
Tag = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=TAG_MAX, pattern=r"^[\w][\w .:/+#-]*$"
    ),
]
Tags = Annotated[list[Tag], Field(max_length=TAGS_MAX), AfterValidator(_unique)]
Relation = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=RELATION_MAX, pattern=r"^[\w][\w .:-]*$"
    ),
]
Weight = Annotated[float, Field(ge=0.0, le=1_000_000.0, allow_inf_nan=False)]


class NodeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

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
    title: Title | None = None
    body: Body | None = None
    tags: Tags | None = None


class NodeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    title: str
    body: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime


class EdgeCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source_id: uuid.UUID
    target_id: uuid.UUID
    relation: Relation
    weight: Weight = 1.0


class EdgeOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    source_id: uuid.UUID
    target_id: uuid.UUID
    relation: str
    weight: float


class NeighbourOut(BaseModel):
    direction: Literal["out", "in"]
    edge: EdgeOut
    node: NodeOut


ItemT = TypeVar("ItemT")


class Page(BaseModel, Generic[ItemT]):
    items: list[ItemT]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page."
    )
