"""Request and response bodies of the REST API (mem0-server shaped), with size limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from engramdb.config import LimitsConfig
from engramdb.encode.messages import check_metadata
from engramdb.server.tenancy import MAX_USER_CHARS, TENANT_PATTERN

# the engine's own rule and default limits, so a request is refused here exactly where the
# Python API would refuse it (the engine checks again with the limits it was configured with)
REQUEST_LIMITS = LimitsConfig()

UserId = Annotated[str, Field(min_length=1, max_length=MAX_USER_CHARS)]
ShortText = Annotated[str, Field(min_length=1, max_length=256)]
# when something was said: ISO 8601 (or LoCoMo's "1:56 pm on 8 May, 2023"), or epoch seconds
Timestamp = (
    Annotated[str, Field(min_length=1, max_length=64)]
    | Annotated[float, Field(strict=True, ge=0, le=253_402_300_799, allow_inf_nan=False)]
)
MAX_MESSAGES = 1_000
MAX_CONTENT = 32_000
Metadata = Annotated[
    dict[str, Any], AfterValidator(lambda value: check_metadata(value, REQUEST_LIMITS))
]


class Message(BaseModel):
    """One message. Fields other than these are kept as the memory's metadata."""

    model_config = ConfigDict(extra="allow")

    content: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)]
    role: ShortText | None = None
    speaker: ShortText | None = None
    id: ShortText | Annotated[int, Field(strict=True)] | None = Field(
        None, description="the message's own id (its source id)"
    )
    timestamp: Timestamp | None = None

    @model_validator(mode="after")
    def _extra_fields_are_metadata(self) -> Message:
        if self.model_extra:
            check_metadata(self.model_extra, REQUEST_LIMITS, "extra fields")
        return self


class AddRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    messages: (
        Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)]
        | Annotated[list[Message], Field(min_length=1, max_length=MAX_MESSAGES)]
    )
    user_id: UserId | None = Field(None, description="required unless the key is bound to a user")
    session_id: ShortText | None = None
    agent_id: ShortText | None = None
    timestamp: Timestamp | None = Field(None, description="when the messages were said")
    metadata: Metadata | None = None
    wait: bool = Field(
        False, description="answer after the claims are drawn (facts and decisions in the reply)"
    )


class SearchRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    query: Annotated[str, Field(min_length=1, max_length=4_000)]
    user_id: UserId | None = None
    limit: Annotated[int, Field(ge=1, le=100)] = 10
    as_of: Timestamp | None = Field(None, description="rank facts valid at this time")
    kinds: list[Literal["episode", "fact", "summary"]] | None = Field(None, min_length=1)
    include_flagged: bool = Field(False, description="also memories the guard flagged")


class FeedbackRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verdict: Literal["wrong"] = Field("wrong", description="the memory is wrong")
    reason: Annotated[str, Field(max_length=REQUEST_LIMITS.max_reason_chars)] | None = None


class UpdateRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: Annotated[str, Field(min_length=1, max_length=MAX_CONTENT)]
    reason: Annotated[str, Field(max_length=REQUEST_LIMITS.max_reason_chars)] | None = None


class KeyRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tenant: Annotated[str, Field(pattern=TENANT_PATTERN)]
    user_id: UserId | None = Field(None, description="bind the key to this one user")
    rights: Literal["read", "write"] = "read"


# --- responses ----------------------------------------------------------------------------
class MemoryOut(BaseModel):
    id: str
    text: str
    kind: str
    user_id: str
    agent_id: str | None = None
    session_id: str | None = None
    role: str | None = None
    speaker: str | None = None
    created_at: datetime
    updated_at: datetime | None = None
    event_time: datetime | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None
    sources: list[str]
    version: int
    metadata: dict[str, Any]
    subject: str | None = None
    attribute: str | None = None
    value: str | None = None
    confidence: float | None = None
    importance: float = 0.5
    pinned: bool = False
    expires_at: datetime | None = None
    uses: int = 0
    last_used_at: datetime | None = None
    score: float | None = Field(None, description="fused relevance (search results only)")
    signals: dict[str, float] | None = None
    status: Literal["current", "superseded", "past"] | None = Field(
        None,
        description="search results only: current; superseded (a fact closed, or a message"
        " whose every claim was); past (a claim about an earlier state); null: no claim",
    )
    superseded_by: list[str] | None = Field(
        None, description="search results only: ids of the facts that replaced it"
    )
    # the guard (search results only): trust 0-1, provenance, and why it was flagged
    trust: float | None = None
    provenance: dict[str, Any] | None = None
    flags: list[str] | None = None
    flagged: bool | None = None


class MemoryList(BaseModel):
    results: list[MemoryOut]
    next: str | None = Field(None, description="cursor of the next page; null on the last")


class SearchResults(BaseModel):
    results: list[MemoryOut]


class HistoryOut(BaseModel):
    memory_id: str
    version: int
    event: str
    text: str | None
    previous_text: str | None = None
    actor: str
    reason: str | None = None
    at: datetime


class HistoryList(BaseModel):
    results: list[HistoryOut]


class Deleted(BaseModel):
    id: str
    deleted: bool = True


class DeletedAll(BaseModel):
    user_id: str
    deleted: dict[str, int]


class UserList(BaseModel):
    results: list[str]


class KeyOut(BaseModel):
    key_id: str
    tenant: str
    user_id: str | None
    rights: str
    created_at: datetime
    revoked_at: datetime | None = None


class IssuedKeyOut(KeyOut):
    key: str = Field(description="the secret: shown this once, store it now")


class KeyList(BaseModel):
    results: list[KeyOut]


class ErrorDetail(BaseModel):
    code: str
    message: str
    details: list[dict[str, Any]] | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class Health(BaseModel):
    status: str


class Ready(Health):
    queue: dict[str, int] | None = Field(
        None, description="the work queue: jobs and messages still owed enrichment, failed jobs"
    )


class DecisionOut(BaseModel):
    event: str
    fact_id: str | None
    text: str
    reason: str
    actor: str
    closed: list[str]


class AddResults(BaseModel):
    results: list[MemoryOut] = Field(description="the messages stored")
    facts: list[MemoryOut] = Field(default_factory=list, description="facts added or touched")
    decisions: list[DecisionOut] = Field(default_factory=list)
    pending: int = Field(0, description="messages whose claims are still being drawn")


class ProfileOut(BaseModel):
    user_id: str
    facts: list[MemoryOut]
    text: str = Field(description="the facts as lines for a prompt")


class EntityList(BaseModel):
    results: list[dict[str, Any]]


class AnswerRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    question: Annotated[str, Field(min_length=1, max_length=4_000)]
    user_id: UserId | None = None
    limit: Annotated[int, Field(ge=1, le=50)] = 10
    as_of: Timestamp | None = None


class AnswerOut(BaseModel):
    answer: str
    model: str
    memories: list[MemoryOut]


class LifecycleRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    pinned: bool | None = None
    importance: Annotated[float, Field(ge=0, le=1)] | None = None
    expires_at: Timestamp | None = Field(None, description="when it expires")
    clear_expiry: bool = False


class ForgetRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    user_id: UserId | None = None


class ForgetOut(BaseModel):
    user_id: str
    deleted: dict[str, int]
