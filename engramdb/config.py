"""The one configuration object: validated once, passed down; nothing below reads the env."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from engramdb.errors import ConfigError
from engramdb.retrieve.config import SearchConfig, resolve_search_config


class EmbedderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: Literal["minilm", "static", "openai"] = "minilm"
    # minilm: "fp32" computes in float32 (reference vectors); "int8" quantises the matrix
    # products (~1.8x faster, cosine to fp32 ≈ 0.99).
    precision: Literal["fp32", "int8"] = "int8"
    threads: int = Field(2, ge=1, le=64, description="ONNX Runtime intra-op threads")
    query_threads: int = Field(
        1, ge=0, le=64, description="minilm: threads of the questions' own session (0: shared)"
    )
    batch_size: int = Field(16, ge=1, le=1024)
    max_tokens: int = Field(128, ge=8, le=512, description="longer texts are truncated")
    # openai-compatible endpoint (only used when provider == "openai")
    base_url: str | None = None
    api_key: str | None = None
    model: str | None = None
    dimensions: int | None = Field(None, ge=1)
    timeout_s: float = Field(30.0, gt=0)


class StoreConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # "normal": a committed add survives a process crash; "full": also a power loss
    durability: Literal["normal", "full"] = "normal"
    ann_threshold: int = Field(
        20_000, ge=1, description="scopes with at least this many vectors use an HNSW index"
    )
    ann_connectivity: int = Field(16, ge=4, le=128)
    busy_timeout_ms: int = Field(10_000, ge=0)
    # PostgreSQL only: connections per process (each service worker thread holds one at most)
    pool_min_size: int = Field(1, ge=0, le=1000)
    pool_max_size: int = Field(8, ge=1, le=1000)
    # the history of a deleted memory keeps a tombstone (id, version, time, actor, reason);
    # an audit trail that must keep the deleted text says so here
    keep_deleted_text: bool = False
    # PostgreSQL only, after a user is deleted: "vacuum" lets the server reuse the space of the
    # dead rows; "full" rewrites the tables that held the user's text (VACUUM FULL, which locks
    # each table while it runs) and moves the server to a new WAL segment
    postgres_erase: Literal["vacuum", "full"] = "vacuum"


class LimitsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_message_chars: int = Field(32_000, ge=1)
    max_batch_messages: int = Field(10_000, ge=1)
    max_query_chars: int = Field(4_000, ge=1)
    max_search_limit: int = Field(1_000, ge=1)
    # metadata (the batch's, and each message's extra fields) is stored as JSON and returned
    # in every read: these bound what one memory may carry. Depth stays far below the 255
    # levels at which the JSON encoders used by the service and the stores give up.
    max_metadata_bytes: int = Field(64_000, ge=2, description="serialised JSON, UTF-8")
    max_metadata_depth: int = Field(
        32, ge=1, le=128, description="nesting of objects and lists; {} is 1"
    )
    max_metadata_keys: int = Field(1_000, ge=1, description="keys of all objects, nested too")
    max_metadata_key_chars: int = Field(256, ge=1)
    max_reason_chars: int = Field(1_000, ge=1, description="the reason given for an update")


class LLMConfig(BaseModel):
    """A chat model: any OpenAI-compatible endpoint, or a GGUF file run in-process."""

    model_config = ConfigDict(extra="forbid")

    provider: Literal["openai", "local"] = "local"
    # openai: the endpoint (Ollama http://localhost:11434/v1, vLLM, llama.cpp server, OpenAI)
    base_url: str | None = None
    api_key: str | None = None
    # openai: the model name the endpoint knows; local: a packaged model's name
    model: str | None = None
    # local: a GGUF file; unset = the packaged Qwen2.5-Coder-0.5B-Instruct Q4 (``model``)
    model_path: str | None = None
    model_cache_dir: str = Field(
        "~/.cache/engramdb/models", description="where packaged model files are assembled once"
    )
    timeout_s: float = Field(120.0, gt=0)
    retries: int = Field(3, ge=0, le=10)
    backoff_s: float = Field(0.5, ge=0)
    max_concurrency: int = Field(4, ge=1, le=256)
    # auto: try JSON-schema output, fall back to JSON mode, then to validate-and-repair
    structured_output: Literal["auto", "json_schema", "json_object", "none"] = "auto"
    temperature: float = Field(0.0, ge=0, le=2)
    max_tokens: int = Field(512, ge=16, le=32_768)
    threads: int = Field(2, ge=1, le=256, description="local: CPU threads")
    context_size: int = Field(4096, ge=512, le=131_072, description="local: context window")


class ExtractionConfig(BaseModel):
    """How ``add`` turns messages into facts. ``rules`` needs no model; ``llm`` uses ``llm``."""

    model_config = ConfigDict(extra="forbid")

    # parse: claims from a dependency parse (encode/claims, spaCy), no model; rules: the regex
    # extractor of earlier releases (attribute slots and notes), kept to compare against
    mode: Literal["off", "parse", "rules", "llm"] = "rules"
    batch_messages: int = Field(3, ge=1, le=64, description="messages per extraction call")
    extract_max_tokens: int = Field(
        256, ge=32, le=4096, description="reply budget of one extraction call"
    )
    min_confidence: float = Field(0.5, ge=0, le=1)
    link_entities: bool = Field(True, description="record the entities each memory mentions")
    # which reading wins where the model and the rules both read one message's subject and
    # attribute: the rules are exact patterns, and a small local model (0.5B) misreads more
    # often than they do ("Hana has a new boyfriend" as the speaker's partner); a large one
    # may be trusted over them
    model_first: bool = Field(
        False,
        description="in llm mode, a model claim replaces the rules' claim on the same message,"
        " subject and attribute (default: the model fills what the rules leave out)",
    )
    # None: on, except with the static embedder (fast mode), whose vectors cannot tell which
    # notes share a topic: there notes would cost ingest speed (about 3x) and help no search
    notes: bool | None = Field(
        None,
        description="also keep each statement a person makes as a fact in its own words"
        " (unset: on, except with the static embedder)",
    )
    # whose messages are first-hand facts about people: what the assistant or a tool says of
    # a person is stored as a message, and becomes a fact only where its role is named here
    fact_roles: list[str] = Field(
        default_factory=lambda: ["user"],
        description="message roles whose statements become facts (a message without a role"
        " counts as 'user')",
    )


class EnrichmentConfig(BaseModel):
    """When claims, consolidation and entity links are done. Deferred (the default): ``add``
    returns once its messages are stored, embedded and indexed; a worker does the rest from
    the store's work queue (``Memory.flush`` waits for it)."""

    model_config = ConfigDict(extra="forbid")
    defer: bool = Field(True, description="off: every add enriches its messages before it returns")
    worker: bool = Field(
        True, description="run a worker in this process (off: another process does the queue)"
    )
    batch_messages: int = Field(256, ge=1, le=10_000, description="messages per batch of work")
    lease_s: float = Field(60.0, gt=0, description="a claimed job is free again after this")
    poll_s: float = Field(2.0, gt=0, description="how often the worker looks for others' jobs")
    drain_on_close: bool = Field(True, description="close() does the work this store still owes")


class ForgettingConfig(BaseModel):
    """Decay: never-used, low-importance, unpinned memories older than ``decay_after_days``
    are removed by ``Memory.forget`` (expired ones always are)."""

    model_config = ConfigDict(extra="forbid")

    decay: bool = False
    decay_after_days: float = Field(90.0, gt=0)
    decay_below_importance: float = Field(0.3, ge=0, le=1)


class GuardConfig(BaseModel):
    """The memory guard (engramdb/manage/guard, docs/guard.md): trust from provenance, screening
    at write, consensus at consolidation, lessons from feedback. Every stage switches alone."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    screening: bool = Field(True, description="flag content that addresses the agent")
    consensus: bool = Field(True, description="low-trust claims do not close first-hand facts")
    lessons: bool = Field(True, description="feedback 'wrong' flags later repeats of a claim")
    ranking: bool = Field(True, description="search ranks reported, low-trust memories lower")
    # keep: store secrets as said; redact: replace them before anything is stored; refuse: an
    # add holding one raises InvalidInputError and writes nothing
    secrets: Literal["keep", "redact", "refuse"] = "keep"
    # roles whose messages are the person's own words (a message without a role counts as user)
    person_roles: list[str] = Field(default_factory=lambda: ["user"])


def default_model_cache() -> str:
    """Where derived model files are kept once per machine: ``$XDG_CACHE_HOME/engramdb/models``
    (an absolute XDG_CACHE_HOME only, as the XDG spec says), else ``~/.cache/engramdb/models``.
    Read here, when a config is built; nothing below reads the environment."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and Path(base).is_absolute() else Path("~/.cache").expanduser()
    return str(root / "engramdb" / "models")


class EngramConfig(BaseModel):
    """Everything engramdb can be told. Load with ``from_file`` or keyword arguments."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field("~/.engramdb/memory.db", description="SQLite path, or a postgresql:// DSN")
    cache_dir: str | None = Field(
        None, description="derived files of the store (ANN indexes); default: next to the store"
    )
    model_cache_dir: str = Field(
        default_factory=default_model_cache,
        description="derived model files (MiniLM's int8 copy), one per machine for every store;"
        " default: $XDG_CACHE_HOME/engramdb/models or ~/.cache/engramdb/models",
    )
    embedder: EmbedderConfig = Field(default_factory=lambda: EmbedderConfig())
    search_preset: str = "hybrid"
    search: dict[str, Any] = Field(default_factory=dict, description="overrides of the preset")
    store_options: StoreConfig = Field(default_factory=lambda: StoreConfig())
    limits: LimitsConfig = Field(default_factory=lambda: LimitsConfig())
    llm: LLMConfig | None = Field(None, description="a chat model; none: everything still works")
    extraction: ExtractionConfig = Field(default_factory=lambda: ExtractionConfig())
    forgetting: ForgettingConfig = Field(default_factory=lambda: ForgettingConfig())
    enrichment: EnrichmentConfig = Field(default_factory=lambda: EnrichmentConfig())
    guard: GuardConfig = Field(default_factory=lambda: GuardConfig())
    server: dict[str, Any] = Field(
        default_factory=dict, description="settings of `engram serve` (engramdb.server.settings)"
    )

    @model_validator(mode="after")
    def _cache_beside_a_dsn(self) -> EngramConfig:
        """A DSN is no folder to keep derived files next to: they go under ~/.engramdb/cache,
        one folder per database (the DSN without its password)."""
        if self.cache_dir is None and self.store.startswith(("postgresql://", "postgres://")):
            import hashlib
            import re

            bare = re.sub(r"://([^:@/]*):[^@/]*@", r"://\1@", self.store)
            digest = hashlib.sha1(bare.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            self.cache_dir = f"~/.engramdb/cache/pg-{digest}"
        return self

    @model_validator(mode="after")
    def _llm_for_llm_extraction(self) -> EngramConfig:
        if self.extraction.mode == "llm" and self.llm is None:
            raise ValueError("extraction.mode 'llm' needs an llm section")
        return self

    def notes_enabled(self) -> bool:
        """``extraction.notes``, where unset: on, except with the static embedder."""
        if self.extraction.notes is not None:
            return self.extraction.notes
        return self.embedder.provider != "static"

    def search_config(self) -> SearchConfig:
        return resolve_search_config(self.search_preset, self.search)

    @classmethod
    def build(cls, **fields: Any) -> EngramConfig:
        try:
            config = cls.model_validate(fields)
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from exc
        config.search_config()  # validate the preset and overrides now, not at first search
        return config

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> EngramConfig:
        """Read a YAML or JSON file; keyword overrides win over the file."""
        file = Path(path).expanduser()
        try:
            raw = file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
        try:
            if file.suffix == ".json":
                data = json.loads(raw)
            else:
                import yaml

                data = yaml.safe_load(raw) or {}
        except ValueError as exc:
            raise ConfigError(f"config file {file} is not valid: {exc}") from exc
        if not isinstance(data, dict):
            raise ConfigError(f"config file {file} must hold a mapping at the top level")
        return cls.build(**{**data, **overrides})


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "config"
        parts.append(f"{where}: {err['msg']}")
    return "invalid configuration: " + "; ".join(parts)
