"""Memory with the packaged model doing the extraction and the answering, in-process and over
the OpenAI-compatible HTTP protocol (the client users point at Ollama or OpenAI). Few calls:
each takes about a second on two cores."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import STATIC
from test_llm_http import served  # noqa: F401 (a fixture: `engram llm serve` on loopback)

from engramdb import Memory
from engramdb.config import LLMConfig
from engramdb.llm import model_files

MESSAGE = {
    "content": "Big news: I just started a new job as a nurse at St. Mary's Hospital!",
    "speaker": "Maya",
    "id": "m1",
}

# the rules read this message too; by default their claims win, so the model's are asked first
MODEL_FIRST = {"mode": "llm", "model_first": True}


@pytest.fixture(scope="module")
def model_path() -> Path:
    return model_files.packaged_model_path(LLMConfig().model_cache_dir)


def _check_extraction(mem: Memory, actor: str) -> None:
    result = mem.ingest([MESSAGE], user_id="maya", timestamp="2024-03-01T09:00:00Z", wait=True)
    by_model = [d for d in result.decisions if d.actor == actor]
    assert by_model, f"no decision by {actor}: {result.decisions}"
    facts = {(f.subject, f.attribute): f for f in result.facts}
    assert any(f.subject == "Maya" and "nurse" in (f.value or "").lower() for f in facts.values())
    for fact in result.facts:  # every fact leads back to the message
        assert fact.sources == ["m1"]
        assert [e.sources for e in mem.sources(fact.id)] == [["m1"]]
        assert mem.history(fact.id)[0].actor in (actor, "rules")
    assert mem.llm_stats.invalid == 0 and mem.llm_stats.calls >= 1


@pytest.fixture(scope="module")
def local_memory(tmp_path_factory: pytest.TempPathFactory, model_path: Path) -> Iterator[Memory]:
    llm = {"provider": "local", "model_path": str(model_path), "context_size": 2048}
    folder = tmp_path_factory.mktemp("llm-local")
    mem = Memory(folder / "m.db", embedder=STATIC, llm=llm, extraction=MODEL_FIRST)
    yield mem
    mem.close()


def test_in_process_model_extracts_facts(local_memory: Memory) -> None:
    _check_extraction(local_memory, "local:qwen2.5-coder-0.5b-instruct-q4")


def test_answer_uses_the_memories_and_the_model(local_memory: Memory) -> None:
    result = local_memory.answer("What is Maya's job?", user_id="maya", limit=3)
    assert result.model == "local:qwen2.5-coder-0.5b-instruct-q4"
    assert result.memories and all(m.user_id == "maya" for m in result.memories)
    assert "nurse" in result.answer.lower()


def test_http_model_extracts_facts(
    tmp_path: Path,
    served: tuple[str, str],  # noqa: F811
) -> None:
    url, key = served
    llm = {"provider": "openai", "base_url": url, "model": "local", "api_key": key}
    with Memory(tmp_path / "m.db", embedder=STATIC, llm=llm, extraction=MODEL_FIRST) as mem:
        _check_extraction(mem, "openai:local")
