"""The Python API. ``Memory`` holds the logic (sync); ``AsyncMemory`` runs the same methods in
worker threads, so there is one implementation of every operation."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

from engramdb.api.cursors import Cursors
from engramdb.api.guarded import Guarded
from engramdb.api.knowledge import Knowledge
from engramdb.api.lifecycle import Lifecycle, UseCounter, expiry
from engramdb.api.listing import Listing, user_of
from engramdb.api.queries import QueryEmbedder
from engramdb.config import EngramConfig
from engramdb.encode.embedders import QueryCache, create_embedder
from engramdb.encode.episodes import edited_memory, episode_memory
from engramdb.encode.facts.extractor import FactExtractor
from engramdb.encode.messages import (
    check_metadata,
    check_reason,
    check_scope_id,
    check_text,
    prepare_messages,
)
from engramdb.encode.text import speaker_prefixed
from engramdb.encode.timeparse import parse_timestamp
from engramdb.errors import ConfigError, InvalidInputError
from engramdb.llm.base import ChatModel, LLMStats
from engramdb.manage.consolidate import Consolidation
from engramdb.manage.guard import Guard
from engramdb.manage.work import Enrichment
from engramdb.models import KINDS, AddResult, Hit, Kind, MemoryItem
from engramdb.retrieve.config import SearchConfig, resolve_search_config
from engramdb.retrieve.scope_index import AnnSettings
from engramdb.retrieve.scopes import ScopeCache
from engramdb.retrieve.search import Searcher
from engramdb.store import open_store

GUARD_SLACK = 3  # hits searched beyond the limit for the guard's reordering by trust


class Memory(Listing, Knowledge, Lifecycle, Guarded):
    """Long-term memory on an embedded store: ``Memory("~/.engramdb/demo.db")``.

    ``options`` are fields of :class:`EngramConfig` (e.g. ``embedder={"provider": "static"}``).
    """

    def __init__(
        self, path: str | Path | None = None, *, config: EngramConfig | None = None, **options: Any
    ) -> None:
        if config is None:
            fields = {"store": str(path), **options} if path is not None else options
            config = EngramConfig.build(**fields)
        elif path is not None or options:
            merged = {**config.model_dump(), **options}
            if path is not None:
                merged["store"] = str(path)
            config = EngramConfig.build(**merged)
        self.config = config
        self.store = open_store(config.store, config.store_options)
        try:
            cache = Path(
                config.cache_dir or f"{Path(config.store).expanduser()}.cache"
            ).expanduser()
            self.embedder = create_embedder(
                config.embedder, Path(config.model_cache_dir).expanduser()
            )
            self.store.check_embedder(self.embedder.name, self.embedder.dim)
        except BaseException:
            self.store.close()
            raise
        self.llm_stats = LLMStats()
        self._llm: ChatModel | None = None
        self._llm_lock = threading.Lock()
        self._extractor = FactExtractor(
            config.extraction,
            self.embedder.embed,
            None,
            self.llm_stats,
            config.extraction.extract_max_tokens,
            notes=config.notes_enabled(),
        )
        self._uses = UseCounter(self.store)
        self._guard = Guard(config.guard, self.store)
        models = Path(config.model_cache_dir).expanduser()
        self._queries = QueryCache(QueryEmbedder(self.embedder, config.embedder, models))
        ann = AnnSettings(
            config.store_options.ann_threshold, config.store_options.ann_connectivity, cache / "ann"
        )
        self._scopes = ScopeCache(self.store, self.embedder.dim, ann)
        self._searcher = Searcher(self.store, self._scopes, self._queries.embed_query)
        self._search_config = config.search_config()
        self._cursors: Cursors | None = None  # made on the first page asked for
        self._closed = False
        owed = config.enrichment
        self._work = Enrichment(
            self.store,
            self._ready_extractor,
            self._guard.policy,
            self._guard.deepen,
            batch_messages=owed.batch_messages,
            lease=timedelta(seconds=owed.lease_s),
            poll_s=owed.poll_s,
        )
        if owed.worker:  # also does what a previous process left owed (a crash, a kill)
            self._work.start()

    # --- writing -------------------------------------------------------------------------
    def add(
        self,
        messages: Sequence[dict[str, Any]] | dict[str, Any] | str,
        *,
        user_id: str,
        session_id: str | None = None,
        timestamp: str | datetime | float | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
        wait: bool = False,
    ) -> list[MemoryItem]:
        """Remember messages. The whole batch is validated first and written in one
        transaction: it is stored entirely or not at all. Re-adding a message is a no-op.
        Returns the stored messages, searchable at once; their claims follow from the work
        queue (at once with ``wait``; see ``ingest``, which also returns them)."""
        return self.ingest(
            messages,
            user_id=user_id,
            session_id=session_id,
            timestamp=timestamp,
            metadata=metadata,
            agent_id=agent_id,
            wait=wait,
        ).episodes

    def ingest(
        self,
        messages: Sequence[dict[str, Any]] | dict[str, Any] | str,
        *,
        user_id: str,
        session_id: str | None = None,
        timestamp: str | datetime | float | None = None,
        metadata: dict[str, Any] | None = None,
        agent_id: str | None = None,
        ttl: float | timedelta | None = None,
        wait: bool = False,
    ) -> AddResult:
        """``add`` with the full outcome. The messages are stored, embedded and indexed when it
        returns; their claims, consolidation and links follow from the work queue (``pending``
        says how many messages wait for it), unless ``wait``: then they are done first, and
        the result holds the facts and what consolidation decided for each (ADD, NOOP,
        UPDATE, INVALIDATE), with why. ``ttl`` (seconds): the messages and their facts expire
        after it."""
        user = user_of(user_id)
        session = check_scope_id(session_id, "session_id", required=False)
        agent = check_scope_id(agent_id, "agent_id", required=False)
        limits = self.config.limits
        drafts = prepare_messages(messages, timestamp=timestamp, limits=limits)
        deferred = self._enriches() and self.config.enrichment.defer and not wait
        # manage/guard: trust, flags, secrets; its parse waits for the queue when the claims do
        drafts = self._guard.screen(drafts, user, deep=not deferred)
        extra = check_metadata(metadata, limits)
        expires = expiry(ttl)
        vectors = self.embedder.embed([d.embed_text for d in drafts])
        items = [
            episode_memory(d, v, user_id=user, session_id=session, metadata=extra)
            for d, v in zip(drafts, vectors, strict=True)
        ]
        for item in items:
            item.expires_at = expires
        if not self._enriches():
            return AddResult(episodes=self.store.add(user, agent, items), facts=[], decisions=[])
        if deferred:
            stored = self.store.add(user, agent, items, enqueue=True)
            self._work.notify()
            return AddResult(episodes=stored, facts=[], decisions=[], pending=len(stored))
        consolidation = Consolidation.of(self._ready_extractor().prepare(drafts, user, session))
        consolidation.guard = self._guard.policy(user)
        for claim in consolidation.claims:
            claim.memory.expires_at = expires
        stored = self.store.add(user, agent, items, consolidation)
        facts = self.store.get_many(list(dict.fromkeys(consolidation.fact_pks)))
        return AddResult(
            episodes=stored, facts=list(facts.values()), decisions=consolidation.decisions
        )

    def flush(self, *, timeout: float | None = None) -> int:
        """Do the enrichment the store still owes (this process's and any other's whose
        worker is gone), and wait for what other live workers hold, up to ``timeout``
        seconds. Returns how many messages this call enriched."""
        done = self._work.drain()
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.store.work_depth()["jobs"]:
            if deadline is not None and time.monotonic() >= deadline:
                break
            time.sleep(0.05)  # another worker holds them; its lease frees them if it died
            done += self._work.drain()
        return done

    def pending(self) -> dict[str, int]:
        """The work queue: jobs and messages still owed enrichment, jobs that failed."""
        return self.store.work_depth()

    def stats(self) -> dict[str, Any]:
        """Counts: memories, users, the work queue (``pending``), what this process's worker
        has done, and the guard's counts of this process (messages screened and flagged,
        secrets found, redacted and refused, lessons, quarantined memories)."""
        return {
            "memories": self.store.count(None),
            "users": len(self.store.users()),
            "queue": self.pending(),
            "worker": dataclasses.asdict(self._work.stats),
            "guard": self._guard.stats(),
        }

    def _enriches(self) -> bool:
        extraction = self.config.extraction
        return extraction.mode != "off" or extraction.link_entities

    def _ready_extractor(self) -> FactExtractor:
        if self.config.extraction.mode == "llm":
            self._extractor.model = self.llm()
        return self._extractor

    def update(
        self, memory_id: str, text: str, *, user_id: str | None = None, reason: str | None = None
    ) -> MemoryItem:
        """Change a memory's text: a new version; the old text stays in ``history``."""
        if not isinstance(text, str) or not text.strip():
            raise InvalidInputError("text must be a non-empty string")
        check_text(text, "text")
        if len(text) > self.config.limits.max_message_chars:
            raise InvalidInputError(f"text is longer than {self.config.limits.max_message_chars}")
        reason = check_reason(reason, self.config.limits)
        current = self.get(memory_id, user_id=user_id)
        vector = self.embedder.embed([speaker_prefixed(current.speaker, text)])[0]
        edited = edited_memory(
            text=text,
            speaker=current.speaker,
            event_time=current.event_time,
            vector=vector,
            metadata=current.metadata,
        )
        return self.store.update(
            current.id, edited, actor="user", reason=reason, user_id=current.user_id
        )

    def delete(self, memory_id: str, *, user_id: str | None = None) -> None:
        """Delete one memory (its history records the deletion)."""
        current = self.get(memory_id, user_id=user_id)
        pk = self.store.delete(current.id, actor="user", user_id=current.user_id)
        self._scopes.forget(current.user_id, pk)

    def delete_all(self, *, user_id: str) -> dict[str, int]:
        """Delete everything derived from a user: memories, vectors, lexical documents,
        history and cache files. Returns how many of each were removed."""
        user = user_of(user_id)
        counts = self.store.delete_all(user)
        self._guard.forget_user(user)
        counts["ann_files"] = self._scopes.drop(user)
        return counts

    # --- reading -------------------------------------------------------------------------
    def search(
        self,
        query: str,
        *,
        user_id: str,
        limit: int = 10,
        preset: str | SearchConfig | None = None,
        options: dict[str, Any] | None = None,
        now: str | datetime | None = None,
        as_of: str | datetime | None = None,
        kinds: Sequence[Kind] | None = None,
        include_flagged: bool = False,
    ) -> list[Hit]:
        """The memories of ``user_id`` most relevant to ``query``, best first.

        Facts rank only while valid: at ``as_of`` when given (what was true then), else now.
        Messages (episodes) always remain searchable. ``kinds`` keeps only those kinds.
        Memories the guard flagged (docs/guard.md) are left out unless ``include_flagged``;
        every hit carries its ``trust``, ``provenance`` and ``flags``."""
        user = user_of(user_id)
        if not isinstance(query, str) or not query.strip():
            raise InvalidInputError("query must be a non-empty string")
        check_text(query, "query")
        if len(query) > self.config.limits.max_query_chars:
            raise InvalidInputError(f"query is longer than {self.config.limits.max_query_chars}")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
            raise InvalidInputError("limit must be a positive integer")
        limit = min(limit, self.config.limits.max_search_limit)
        config = (
            self._search_config
            if preset is None and not options
            else resolve_search_config(preset or self.config.search_preset, options)
        )
        if kinds is not None:
            if isinstance(kinds, str) or any(k not in KINDS for k in kinds):
                raise InvalidInputError(f"kinds must be a list of {', '.join(KINDS)}")
            config = config.model_copy(update={"kinds": list(kinds)})
        at = parse_timestamp(now, field="now") if now is not None else datetime.now(UTC)
        when = parse_timestamp(as_of, field="as_of") if as_of is not None else None
        top = self.config.limits.max_search_limit
        # a few more than asked for, for the guard's reordering; many more only when it held
        # some back (flagged memories are few, and reading hits is a search's costliest part)
        wanted = min(limit + GUARD_SLACK, top) if self._guard.on else limit
        hits, pks = self._searcher.search_keyed(query, user, wanted, config, at, when)
        kept = self._guard.review(hits, include_flagged=include_flagged, now=at)
        if len(kept) < min(limit, len(hits)) and wanted < top:
            wanted = min(limit * 2 + 10, top)
            hits, pks = self._searcher.search_keyed(query, user, wanted, config, at, when)
            kept = self._guard.review(hits, include_flagged=include_flagged, now=at)
        kept = kept[:limit]
        shown = {h.id for h in kept}
        self._uses.saw([pk for hit, pk in zip(hits, pks, strict=True) if hit.id in shown])
        return kept

    def llm(self) -> ChatModel:
        """The configured chat model, created on first use (a local model loads once)."""
        if self.config.llm is None:
            raise ConfigError("no llm is configured: set the llm section of the config")
        with self._llm_lock:
            if self._llm is None:
                from engramdb.llm.registry import create_chat_model

                self._llm = create_chat_model(self.config.llm, stats=self.llm_stats)
            return self._llm

    # --- lifecycle -----------------------------------------------------------------------
    def close(self) -> None:
        """Save the ANN caches and close the store. Safe to call twice."""
        if self._closed:
            return
        self._closed = True
        try:
            self._work.stop()
            if self.config.enrichment.drain_on_close:
                self._work.drain()
            self._uses.join()
            self._uses.flush()
            self._scopes.save_all()
            if self._llm is not None:
                self._llm.close()
        finally:
            self.store.close()

    def __enter__(self) -> Memory:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
