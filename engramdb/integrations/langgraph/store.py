"""``EngramStore``: LangGraph's long-term memory store (``BaseStore``) kept in engramdb."""

from __future__ import annotations

import asyncio
import copy
import json
import os
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)

from engramdb.api.memory import Memory
from engramdb.errors import ConfigError
from engramdb.integrations.common import memory_of
from engramdb.integrations.langgraph.matching import matches_condition, matches_filter, rank
from engramdb.integrations.langgraph.records import (
    Namespace,
    Record,
    Vector,
    namespace_of,
    record_metadata,
    scope_id,
)
from engramdb.integrations.langgraph.scopes import Scope, Scopes, Write

# a store of documents, not of conversations: no facts are extracted from its values unless
# the caller passes a Memory configured to do so
_DOCUMENT_EXTRACTION = {"mode": "off", "link_entities": False}
Paths = list[tuple[str, str | list[str]]]


class _EngramEmbeddings(Embeddings):
    """engramdb's own embedder (MiniLM by default, or the Memory's configured one) behind
    LangChain's interface, for stores given no ``embed`` function."""

    def __init__(self, memory: Memory) -> None:
        self.memory = memory

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        if not texts:
            return []
        vectors: list[list[float]] = self.memory.embedder.embed(texts).tolist()
        return vectors

    def embed_query(self, text: str) -> list[float]:
        return self.embed_documents([text])[0]

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        return await asyncio.to_thread(self.embed_query, text)


@dataclass(slots=True)
class _Plan:
    """A batch split the way InMemoryStore splits it: reads first, then the puts (the last
    put of a key wins, at the place of its first), with every text to embed collected."""

    puts: dict[tuple[Namespace, str], PutOp] = field(default_factory=dict)
    values: dict[tuple[Namespace, str], dict[str, Any]] = field(default_factory=dict)
    fields: dict[tuple[Namespace, str], list[tuple[str, str]]] = field(default_factory=dict)
    queries: list[str] = field(default_factory=list)

    def texts(self) -> list[str]:
        return list(dict.fromkeys(t for entries in self.fields.values() for _, t in entries))


class EngramStore(BaseStore):
    """A LangGraph store whose items are engramdb memories.

    ``EngramStore("mem.db")`` opens (or creates) an engramdb store with messages-only
    ingest; ``EngramStore(memory)`` uses an existing :class:`engramdb.Memory`; extra keyword
    arguments are :class:`engramdb.EngramConfig` fields. ``index`` is LangGraph's
    ``IndexConfig``: ``embed`` embeds the indexed ``fields`` (default ``["$"]``, the whole
    value); without ``embed`` engramdb's own embedder does, so ``query`` always ranks.
    ``ttl`` is LangGraph's ``TTLConfig`` (minutes).
    """

    supports_ttl: bool = True

    def __init__(
        self,
        memory: Memory | str | os.PathLike[str],
        *,
        index: IndexConfig | None = None,
        ttl: TTLConfig | None = None,
        **options: Any,
    ) -> None:
        if not isinstance(memory, Memory):
            options.setdefault("extraction", _DOCUMENT_EXTRACTION)
        self.memory, self._owns_memory = memory_of(memory, **options)
        self.index_config: IndexConfig | None = index
        self.ttl_config: TTLConfig | None = ttl
        embed = index.get("embed") if index else None
        self.embeddings: Embeddings = (
            ensure_embeddings(embed) if embed is not None else _EngramEmbeddings(self.memory)
        )
        dims = index.get("dims") if index else None
        if embed is None and dims is not None and dims != self.memory.embedder.dim:
            raise ConfigError(
                f"index dims {dims} differ from engramdb's embedder ({self.memory.embedder.dim});"
                " pass an 'embed' function for other dimensions"
            )
        paths = (index.get("fields") if index else None) or ["$"]
        self._fields: Paths = [(p, tokenize_path(p)) if p != "$" else (p, p) for p in paths]
        self._scopes = Scopes(self.memory)
        self._lock = threading.RLock()
        self._clock = 0

    # --- BaseStore ---------------------------------------------------------------------------
    def batch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        plan = self._plan(ops)
        texts = plan.texts()
        documents = self.embeddings.embed_documents(texts) if texts else []
        queries = [self.embeddings.embed_query(q) for q in plan.queries]
        return self._run(ops, plan, texts, documents, queries)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        ops = list(ops)
        plan = self._plan(ops)
        texts = plan.texts()
        # an async-only embed function works only here, so embedding stays on the loop and
        # only the engramdb calls (blocking I/O) go to a worker thread
        documents = await self.embeddings.aembed_documents(texts) if texts else []
        queries = list(
            await asyncio.gather(*(self.embeddings.aembed_query(q) for q in plan.queries))
        )
        return await asyncio.to_thread(self._run, ops, plan, texts, documents, queries)

    def sweep_ttl(self) -> int:
        """Delete the expired items now (they are never returned even before). Returns how
        many were deleted."""
        with self._lock:
            return self._scopes.sweep(datetime.now(UTC))

    def close(self) -> None:
        """Close the engramdb store if this store opened it."""
        if self._owns_memory:
            self.memory.close()

    def __enter__(self) -> EngramStore:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # --- planning ----------------------------------------------------------------------------
    def _plan(self, ops: Sequence[Op]) -> _Plan:
        plan = _Plan()
        for op in ops:
            validate_op_namespace(op)
            if isinstance(op, PutOp):
                if not op.namespace:
                    raise InvalidNamespaceError("Namespace cannot be empty.")
                plan.puts[(op.namespace, op.key)] = op
            elif isinstance(op, SearchOp) and op.query and op.query not in plan.queries:
                plan.queries.append(op.query)
            elif not isinstance(op, GetOp | SearchOp | ListNamespacesOp):
                raise ValueError(f"Unknown operation type: {type(op)}")
        for ident, op in plan.puts.items():
            if op.value is None:
                continue
            try:
                # kept as JSON, so a get returns after a restart what it returns now
                value = json.loads(json.dumps(dict(op.value), allow_nan=False))
            except (TypeError, ValueError) as exc:
                raise ValueError(f"EngramStore values must be JSON-serialisable: {exc}") from exc
            plan.values[ident] = value
            if op.index is not False:
                plan.fields[ident] = self._indexed_texts(op, value)
        return plan

    def _indexed_texts(self, op: PutOp, value: dict[str, Any]) -> list[tuple[str, str]]:
        paths: Paths = [(p, tokenize_path(p)) for p in op.index] if op.index else self._fields
        entries: list[tuple[str, str]] = []
        for path, tokens in paths:
            texts = get_text_at_path(value, tokens)
            if len(texts) > 1:
                entries += [(f"{path}.{i}", text) for i, text in enumerate(texts)]
            elif texts:
                entries.append((path, texts[0]))
        return entries

    # --- running -----------------------------------------------------------------------------
    def _run(
        self,
        ops: list[Op],
        plan: _Plan,
        texts: list[str],
        documents: list[list[float]],
        queries: list[list[float]],
    ) -> list[Result]:
        vectors = {t: np.asarray(v, np.float32) for t, v in zip(texts, documents, strict=True)}
        query_vectors = {
            q: np.asarray(v, np.float32) for q, v in zip(plan.queries, queries, strict=True)
        }
        with self._lock:
            now = datetime.now(UTC)
            results: list[Result] = []
            for op in ops:
                if isinstance(op, GetOp):
                    results.append(self._get(op, now))
                elif isinstance(op, SearchOp):
                    results.append(self._search(op, query_vectors, now))
                elif isinstance(op, ListNamespacesOp):
                    results.append(self._list_namespaces(op, now))
                else:
                    results.append(None)
            self._apply_puts(plan, vectors, now)
            return results

    def _get(self, op: GetOp, now: datetime) -> Item | None:
        scope = self._scopes.load(scope_id(op.namespace))
        record = self._scopes.live(scope, op.key, now)
        if record is None:
            return None
        if op.refresh_ttl:
            self._scopes.refresh(scope, record, now)
        return Item(
            value=copy.deepcopy(record.value),
            key=record.key,
            namespace=record.namespace,
            created_at=record.created_at,
            updated_at=record.updated_at,
        )

    def _live_scopes(
        self, now: datetime, prefix: Namespace = ()
    ) -> list[tuple[Scope, list[Record]]]:
        """Namespaces under ``prefix`` with their live records, in the order InMemoryStore
        lists them: namespaces by their first item, items by when their key was first put."""
        found = []
        for user_id in self._scopes.user_ids():
            readable = namespace_of(user_id)
            if readable is not None and readable[: len(prefix)] != prefix:
                continue
            scope = self._scopes.load(user_id)
            namespace = scope.namespace()
            if namespace is None or namespace[: len(prefix)] != prefix:
                continue
            live = [r for k in list(scope.records) if (r := self._scopes.live(scope, k, now))]
            if live:
                found.append((scope, sorted(live, key=lambda r: r.order)))
        found.sort(key=lambda pair: pair[1][0].order)
        return found

    def _search(
        self, op: SearchOp, query_vectors: dict[str, Vector], now: datetime
    ) -> list[SearchItem]:
        scopes = self._live_scopes(now, op.namespace_prefix)
        owner = {id(r): scope for scope, records in scopes for r in records}
        candidates = [
            r for _, records in scopes for r in records if matches_filter(r.value, op.filter)
        ]
        if op.query:
            ranked = rank(query_vectors[op.query], candidates, op.offset, op.limit)
        else:
            ranked = [(None, r) for r in candidates[op.offset : op.offset + op.limit]]
        if op.refresh_ttl:
            for _, record in ranked:
                self._scopes.refresh(owner[id(record)], record, now)
        return [
            SearchItem(
                namespace=record.namespace,
                key=record.key,
                value=copy.deepcopy(record.value),
                created_at=record.created_at,
                updated_at=record.updated_at,
                score=score,
            )
            for score, record in ranked
        ]

    def _list_namespaces(self, op: ListNamespacesOp, now: datetime) -> list[tuple[str, ...]]:
        namespaces = [records[0].namespace for _, records in self._live_scopes(now)]
        if op.match_conditions:
            namespaces = [
                ns
                for ns in namespaces
                if all(matches_condition(c, ns) for c in op.match_conditions)
            ]
        if op.max_depth is not None:
            namespaces = sorted({ns[: op.max_depth] for ns in namespaces})
        else:
            namespaces = sorted(namespaces)
        return namespaces[op.offset : op.offset + op.limit]

    def _apply_puts(self, plan: _Plan, vectors: dict[str, Vector], now: datetime) -> None:
        grouped: dict[str, list[PutOp]] = {}
        for (namespace, _), op in plan.puts.items():
            grouped.setdefault(scope_id(namespace), []).append(op)
        for user_id, puts in grouped.items():
            scope = self._scopes.load(user_id)
            writes: list[Write] = []
            removed: list[str] = []
            for op in puts:
                old = self._scopes.live(scope, op.key, now)
                if op.value is None:
                    if op.key in scope.records:
                        removed.append(op.key)
                    continue
                ident = (op.namespace, op.key)
                entries = plan.fields.get(ident, [])
                writes.append(self._write(op, plan.values[ident], old, entries, vectors, now))
            if writes or removed or scope.stale:
                self._scopes.write(scope, writes, removed)

    def _write(
        self,
        op: PutOp,
        value: dict[str, Any],
        old: Record | None,
        entries: list[tuple[str, str]],
        vectors: dict[str, Vector],
        now: datetime,
    ) -> Write:
        self._clock = max(self._clock + 1, time.time_ns())
        record = Record(
            memory_id="",
            namespace=tuple(op.namespace),
            key=op.key,
            value=value,
            created_at=old.created_at if old else now,
            updated_at=now,
            order=old.order if old else self._clock,
            rev=self._clock,
            ttl=op.ttl,
            expires_at=None,
            vectors={path: vectors[text] for path, text in entries},
        )
        metadata = record_metadata(
            namespace=record.namespace,
            key=record.key,
            value=value,
            created_at=record.created_at,
            updated_at=now,
            order=record.order,
            rev=record.rev,
            ttl=op.ttl,
            vectors=record.vectors,
        )
        return Write(record, self._text(entries, value), metadata)

    def _text(self, entries: list[tuple[str, str]], value: dict[str, Any]) -> str:
        """The memory's text: the indexed texts (what engramdb's own search then finds), or
        the value as JSON when nothing is indexed."""
        text = "\n".join(t for _, t in entries)
        if not text.strip():
            text = json.dumps(value, sort_keys=True, ensure_ascii=False)
        return text[: self.memory.config.limits.max_message_chars]
