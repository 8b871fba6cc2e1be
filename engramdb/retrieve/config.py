"""Declarative search configuration and its named presets.

A search fuses several signals; each has a weight here. Presets are plain data so that a
benchmark, a config file or a REST caller can name one and override single fields.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class SignalWeights(BaseModel):
    """Weight of each retrieval signal in the fused score (0 switches a signal off).

    Defaults were fitted on five LoCoMo conversations (bench/locomo.py TUNE_SPLIT) and checked
    on the other five; changes that helped only the fitting half were not kept.
    """

    model_config = ConfigDict(extra="forbid")

    turn_bm25: float = Field(0.5, ge=0, description="FTS5 BM25 over the single message")
    window_bm25: float = Field(1.5, ge=0, description="BM25 over the message with its neighbours")
    session_bm25: float = Field(1.0, ge=0, description="BM25 of the whole session segment")
    dense: float = Field(0.0, ge=0, description="cosine of the message embedding")
    dense_context: float = Field(1.5, ge=0, description="cosine smoothed over neighbours")
    dense_window: float = Field(1.5, ge=0, description="cosine of the ±1 window mean")
    session_dense: float = Field(0.25, ge=0, description="cosine of the session mean embedding")
    speaker: float = Field(1.0, ge=0, description="question names the message's speaker")
    time: float = Field(1.0, ge=0, description="time expression / time range match")
    # 0 in "hybrid": on LoCoMo's fitting half any weight cost recall (0.25: -0.009, 0.5:
    # -0.027), since its entities are the two speakers' friends named everywhere; the "graph"
    # preset turns it on for corpora where names are rarer and more telling
    graph: float = Field(0.0, ge=0, description="memory mentions an entity the query names")
    attribute: float = Field(1.0, ge=0, description="a fact of the kind the question asks")


class SearchConfig(BaseModel):
    """How a search gathers candidates and fuses their signals."""

    model_config = ConfigDict(extra="forbid")

    fusion: Literal["linear", "rrf"] = "linear"
    weights: SignalWeights = Field(default_factory=SignalWeights)
    candidates: int = Field(100, ge=1, le=2000, description="top-k taken from each signal")
    session_candidates: int = Field(3, ge=0, le=50, description="best sessions whose turns join")
    context_alpha: float = Field(0.3, ge=0, le=2, description="neighbour weight in dense_context")
    rrf_k: int = Field(60, ge=1)
    # BM25 from the scope's documents held in process (retrieve/postings.py): the store's
    # scores without its postings reads; larger scopes use the store's index alone
    memory_lexical: bool = Field(True, description="small scopes score BM25 in process")
    memory_lexical_rows: int = Field(
        20_000, ge=0, description="the largest scope (rows) that scores BM25 in process"
    )
    ann_expansion: int = Field(128, ge=8, le=4096, description="HNSW ef at search time")
    # a fact borrows part of its source turn's context: at 1.0 facts crowded turns out of the
    # top 10 (LoCoMo fitting half -0.009); with notes (a fact for most turns) 0.3 beats 0.5
    # (fitting half 0.7869 vs 0.7795, validation 0.7933 vs 0.7913)
    fact_context: float = Field(
        0.3, ge=0, le=1, description="share of its source turn's context signals a fact takes"
    )
    # facts only (retrieve/succession.py): the newest fact on a topic first, facts about the
    # person the question names before facts about others
    succession: bool = Field(True, description="a newer fact on the same topic ranks first")
    other_subject: float = Field(
        0.5, ge=0, le=1, description="score factor of facts about someone the question skips"
    )
    # 0.5 left "Lily has a pet: dog" above the note naming the dog; 0.3 fixed one more
    # question of the fresh dev half and none of the packaged one; 0.2 made one stale
    unanswered: float = Field(
        0.3,
        ge=0,
        le=1,
        description="score factor of facts that only repeat the question or lack the name or "
        "number it asks for (retrieve/answers.py)",
    )
    # retrieve/present.py: of the best ``present_head`` candidates, those within
    # ``present_slack`` of the closest one's cosine to the question and about the person asked
    # for take their places newest first
    # off by default for now: +0.13 first hit right on the changing-fact sets, but -0.008
    # LoCoMo R@10 on three conversations (docs/facts.md)
    present_first: bool = Field(
        False, description="the newest statement on the question's topic first"
    )
    # retrieve/redundancy.py: compatible statements from separate sessions, all in the top 10:
    # 0.86 → 1.00 (bench preferences, rules); a message and its claim say the same thing
    one_per_message: bool = Field(
        True, description="a message and a claim drawn from it take one hit, not two"
    )
    superseded_last: bool = Field(
        True, description="superseded memories below current ones (present questions)"
    )
    present_head: int = Field(10, ge=2, le=100, description="candidates present_first reorders")
    present_slack: float = Field(
        0.1, ge=0, le=2, description="how much less close to the question a newer memory may be"
    )
    kinds: list[Literal["episode", "fact", "summary"]] | None = Field(
        None, description="only these kinds of memory (None: all)"
    )


def _preset(fusion: Literal["linear", "rrf"] = "linear", **weights: float) -> SearchConfig:
    zero = dict.fromkeys(SignalWeights.model_fields, 0.0)
    return SearchConfig.model_validate(
        {"fusion": fusion, "weights": SignalWeights(**{**zero, **weights})}
    )


PRESETS: dict[str, SearchConfig] = {
    # every signal: the default, best recall without an LLM
    "hybrid": SearchConfig(),
    # hybrid plus the entity graph signal (memories that mention entities the query names)
    "graph": SearchConfig(weights=SignalWeights(graph=0.25)),
    # one lexical and one dense signal, linear fusion: fewer queries, for very large stores
    "fast": _preset(turn_bm25=1.0, window_bm25=1.0, dense_context=1.5),
    # single-signal presets, also used as baselines
    "lexical": _preset(turn_bm25=1.0),
    "dense": _preset(dense=1.0),
    "rrf": _preset("rrf", turn_bm25=1.0, dense=1.0),
}


def resolve_search_config(
    preset: str | SearchConfig | None, overrides: dict[str, object] | None = None
) -> SearchConfig:
    """A preset name (or a config) plus field overrides, validated once."""
    from engramdb.errors import ConfigError

    if isinstance(preset, SearchConfig):
        base = preset
    else:
        name = preset or "hybrid"
        if name not in PRESETS:
            raise ConfigError(f"unknown search preset {name!r}; known: {', '.join(PRESETS)}")
        base = PRESETS[name]
    if not overrides:
        return base
    merged = base.model_dump()
    for key, value in overrides.items():
        if key == "weights" and isinstance(value, dict):
            merged["weights"].update(value)
        else:
            merged[key] = value
    try:
        return SearchConfig.model_validate(merged)
    except ValueError as exc:
        raise ConfigError(f"invalid search config: {exc}") from exc
