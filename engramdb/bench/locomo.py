"""LoCoMo retrieval benchmark through the public API (protocol: ../shared/data/README.md).

Every conversation goes into one store, one user_id each. Each question of categories 1-4 is
asked through ``Memory.search``; turn recall counts the first k distinct source ids.
The baselines run on the same vectors in the same process.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from engramdb.api.memory import Memory
from engramdb.bench.baselines import BM25, rank, rrf
from engramdb.bench.metrics import RecallTable, distinct_sources
from engramdb.errors import InvalidInputError

CATEGORIES = {1: "multi-hop", 2: "temporal", 3: "open-domain", 4: "single-hop"}
# Conversations the search weights were tuned on; the rest are the validation split.
TUNE_SPLIT = ("conv-26", "conv-30", "conv-41", "conv-42", "conv-43")


@dataclass
class LocomoData:
    turns: dict[str, list[dict[str, Any]]]
    questions: list[dict[str, Any]]


def load(data_dir: Path, conversations: list[str] | None = None) -> LocomoData:
    turns_file, qa_file = data_dir / "locomo_turns.jsonl", data_dir / "locomo_qa.jsonl"
    if not turns_file.exists() or not qa_file.exists():
        raise InvalidInputError(f"{data_dir} does not hold locomo_turns.jsonl and locomo_qa.jsonl")
    turns: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for line in turns_file.read_text().splitlines():
        row = json.loads(line)
        if conversations is None or row["conv_id"] in conversations:
            turns[row["conv_id"]].append(row)
    questions = [
        q
        for q in map(json.loads, qa_file.read_text().splitlines())
        if q["category"] in CATEGORIES and q["evidence"] and q["conv_id"] in turns
    ]
    return LocomoData(dict(turns), questions)


def sessions_of(rows: list[dict[str, Any]]) -> list[tuple[str, str, list[dict[str, Any]]]]:
    grouped: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row["session"]].append(row)
    return [
        (f"S{number}", grouped[number][0]["session_date_time"], grouped[number])
        for number in sorted(grouped)
    ]


@dataclass
class LocomoResult:
    systems: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    ingest_turns_per_s: float = 0.0  # add: stored, embedded and indexed
    # the embedder alone on the same texts, same process: ingest's ceiling on this machine now
    embed_only_turns_per_s: float = 0.0
    enrich_turns_per_s: float = 0.0  # the work queue: claims, consolidation, links
    search_ms: dict[str, float] = field(default_factory=dict)
    query_embed_ms: dict[str, float] = field(default_factory=dict)  # the embedder alone
    stage_ms: dict[str, dict[str, float]] = field(default_factory=dict)  # per search stage
    config: dict[str, Any] = field(default_factory=dict)


def run(
    data_dir: Path,
    *,
    memory_options: dict[str, Any] | None = None,
    conversations: list[str] | None = None,
    baselines: bool = True,
    progress: Callable[[str, int, int], None] | None = None,
    store: str | None = None,
) -> LocomoResult:
    """``store``: where the conversations go (default: a temporary SQLite file); give an empty
    store, e.g. a fresh PostgreSQL database, to compare backends."""
    data = load(data_dir, conversations)
    result = LocomoResult(
        config={"memory_options": memory_options or {}, "tune_split": TUNE_SPLIT, "store": store}
    )
    # the queue's worker waits, so that add and enrichment are timed each on its own
    options = {**(memory_options or {})}
    options["enrichment"] = {"worker": False, **options.get("enrichment", {})}
    with (
        tempfile.TemporaryDirectory() as tmp,
        Memory(store or Path(tmp) / "locomo.db", **options) as mem,
    ):
        texts = [f"{r['speaker']}: {r['text']}" for rows in data.turns.values() for r in rows]
        mem.embedder.embed(texts[:64])  # warm
        # the embedder alone on the same texts in the same batches as the adds (one session
        # each): what an add could cost at least
        batches = [
            [f"{r['speaker']}: {r['text']}" for r in session]
            for rows in data.turns.values()
            for _, _, session in sessions_of(rows)
        ]
        start = time.perf_counter()
        for batch in batches:
            mem.embedder.embed(batch)
        result.embed_only_turns_per_s = len(texts) / (time.perf_counter() - start)
        result.ingest_turns_per_s = _ingest(mem, data, progress)
        start = time.perf_counter()
        mem.flush()
        result.enrich_turns_per_s = len(texts) / (time.perf_counter() - start)
        questions = [q["question"] for q in data.questions]
        alone = []
        query_embedder = mem._queries.embedder  # the one the search embeds questions with
        query_embedder.embed(questions[:8])  # warm
        for question in questions:
            start = time.perf_counter()
            query_embedder.embed([question])
            alone.append((time.perf_counter() - start) * 1000)
        tables: dict[str, RecallTable] = defaultdict(RecallTable)
        latencies: list[float] = []
        mem._searcher.laps.times = {}
        for i, question in enumerate(data.questions):
            start = time.perf_counter()
            hits = mem.search(question["question"], user_id=question["conv_id"], limit=20)
            latencies.append((time.perf_counter() - start) * 1000)
            ranked = distinct_sources((h.sources for h in hits), 20)
            _record(tables, "engramdb", question, ranked)
            if progress:
                progress("search", i + 1, len(data.questions))
        result.stage_ms = {
            stage: _percentiles(times) for stage, times in mem._searcher.laps.times.items()
        }
        mem._searcher.laps.times = None
        if baselines:
            _baselines(mem, data, tables)
    result.search_ms = _percentiles(latencies)
    result.query_embed_ms = _percentiles(alone)
    result.systems = {name: _splits(table) for name, table in tables.items()}
    return result


def _percentiles(values: list[float]) -> dict[str, float]:
    return {
        "p50": statistics.median(values),
        "p95": float(np.percentile(values, 95)),
        "mean": statistics.fmean(values),
    }


def _record(
    tables: dict[str, RecallTable], system: str, q: dict[str, Any], ranked: list[str]
) -> None:
    category = CATEGORIES[q["category"]]
    split = "tune" if q["conv_id"] in TUNE_SPLIT else "validation"
    for name in ("all", split):
        tables[f"{system}|{name}"].record(category, ranked, q["evidence"])


def _splits(table: RecallTable) -> dict[str, dict[str, float]]:
    return table.summary()


def _ingest(
    mem: Memory, data: LocomoData, progress: Callable[[str, int, int], None] | None
) -> float:
    total = sum(len(rows) for rows in data.turns.values())
    done = 0
    start = time.perf_counter()
    for conv_id, rows in data.turns.items():
        for session_id, when, session_rows in sessions_of(rows):
            messages = [
                {"id": r["dia_id"], "speaker": r["speaker"], "content": r["text"]}
                for r in session_rows
            ]
            mem.add(messages, user_id=conv_id, session_id=session_id, timestamp=when)
            done += len(messages)
            if progress:
                progress("ingest", done, total)
    return total / (time.perf_counter() - start)


def _baselines(mem: Memory, data: LocomoData, tables: dict[str, RecallTable]) -> None:
    by_conv: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for q in data.questions:
        by_conv[q["conv_id"]].append(q)
    for conv_id, questions in by_conv.items():
        rows = mem.store.scope_rows(conv_id, 0)
        turns = np.array([kind == "episode" for kind in rows.kind], np.bool_)  # turns only
        pks, vectors = rows.pk[turns], rows.vectors[turns]
        items = mem.store.get_many(pks.tolist())
        ids = [items[int(pk)].sources[0] for pk in pks]
        texts = [f"{items[int(pk)].speaker}: {items[int(pk)].text}" for pk in pks]
        bm25 = BM25(texts)
        query_vectors = mem.embedder.embed([q["question"] for q in questions])
        for q, qv in zip(questions, query_vectors, strict=True):
            lexical = rank(bm25.scores(q["question"]))
            dense = rank((vectors @ qv).astype(np.float64))
            for name, order in (
                ("bm25", lexical),
                ("dense", dense),
                ("rrf", rrf([lexical, dense])),
            ):
                _record(tables, name, q, [ids[i] for i in order[:20]])
