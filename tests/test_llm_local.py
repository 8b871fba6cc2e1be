"""The packaged model (Qwen2.5-Coder-0.5B-Instruct Q4, six PyPI parts) run in-process by
llama.cpp: assembled and verified once into ~/.cache/engramdb/models, then real, short,
JSON-schema constrained calls. Also the assembly logic itself, on small stand-in parts."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from engramdb.config import LLMConfig
from engramdb.errors import ConfigError, LLMError
from engramdb.llm import LLMStats, ask_json, create_chat_model, model_files
from engramdb.llm.local import LocalChatModel

FACT_PROMPT = [
    {
        "role": "system",
        "content": "Extract the fact in the message as JSON: subject (the person), attribute "
        "(what the fact is about, e.g. job, pet, home city), value (e.g. nurse).",
    },
    {"role": "user", "content": "Maya: I started a new job as a nurse"},
]


class Fact(BaseModel):
    subject: str
    attribute: str
    value: str


@pytest.fixture(scope="session")
def packaged_model() -> Path:
    """Assembled on the first run (about 2 s), reused from the cache afterwards."""
    return model_files.packaged_model_path(LLMConfig().model_cache_dir)


@pytest.fixture(scope="module")
def local_model(packaged_model: Path) -> Iterator[LocalChatModel]:
    config = LLMConfig(provider="local", model_path=str(packaged_model), context_size=2048)
    model = create_chat_model(config)
    assert isinstance(model, LocalChatModel)
    yield model
    model.close()


def test_packaged_model_is_verified(packaged_model: Path) -> None:
    assert packaged_model.name == "qwen2.5-coder-0.5b-instruct-q4.gguf"
    assert packaged_model.stat().st_size == model_files.SIZE
    assert model_files._stamped(packaged_model)


def test_extracts_a_fact_with_a_json_schema(local_model: LocalChatModel) -> None:
    stats = LLMStats()
    fact = ask_json(local_model, FACT_PROMPT, Fact, stats=stats, max_tokens=96)
    assert "maya" in fact.subject.lower()
    assert "nurse" in f"{fact.attribute} {fact.value}".lower()
    assert (stats.calls, stats.invalid, stats.failures) == (1, 0, 0)
    assert local_model.name == "local:qwen2.5-coder-0.5b-instruct-q4"


def test_plain_chat_from_two_threads(local_model: LocalChatModel) -> None:
    """Calls from several threads queue on the model's lock; each gets its own reply."""
    replies: list[str] = []

    def ask() -> None:
        messages = [{"role": "user", "content": "Reply with the single word: yes"}]
        replies.append(local_model.chat(messages, max_tokens=8))

    threads = [threading.Thread(target=ask) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(replies) == 2 and all("yes" in r.lower() for r in replies)


def test_loads_silently_and_refuses_calls_once_closed(
    packaged_model: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    config = LLMConfig(provider="local", model_path=str(packaged_model), context_size=512)
    model = LocalChatModel(config)
    with pytest.raises(LLMError, match="context"):  # llama.cpp's refusal becomes an LLMError
        model.chat([{"role": "user", "content": "word " * 700}], max_tokens=8)
    model.close()
    with pytest.raises(LLMError, match="closed"):
        model.chat([{"role": "user", "content": "hi"}])
    captured = capfd.readouterr()
    assert captured.out == "" and captured.err == ""


def test_a_missing_model_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a file"):
        LocalChatModel(LLMConfig(model_path=str(tmp_path / "none.gguf")))
    with pytest.raises(ConfigError, match="unknown packaged model"):
        LocalChatModel(LLMConfig(model="llama-70b"))


# --- assembly, on small stand-in parts -------------------------------------------------------
@pytest.fixture
def small_parts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    parts = []
    for n in range(1, 7):
        part = tmp_path / "parts" / f"part{n:02d}.bin"
        part.parent.mkdir(exist_ok=True)
        part.write_bytes(bytes([n]) * (1000 + n))
        parts.append(part)
    whole = b"".join(p.read_bytes() for p in parts)
    monkeypatch.setattr(model_files, "_part_files", lambda: parts)
    monkeypatch.setattr(model_files, "SIZE", len(whole))
    monkeypatch.setattr(model_files, "SHA256", hashlib.sha256(whole).hexdigest())
    return parts


def test_assembles_once_then_trusts_the_stamp(
    small_parts: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = tmp_path / "cache"
    path = model_files.packaged_model_path(cache)
    assert path.read_bytes() == b"".join(p.read_bytes() for p in small_parts)
    assert sorted(p.name for p in cache.iterdir() if not p.name.endswith(".lock")) == [
        model_files.FILE_NAME,
        model_files.FILE_NAME + ".verified",
    ]
    hashed: list[Path] = []
    monkeypatch.setattr(model_files, "_sha256", lambda p: hashed.append(p) or "")
    assert model_files.packaged_model_path(cache) == path
    assert hashed == []  # reused on the stamp: no re-hash


def test_a_changed_file_is_rehashed_and_rebuilt(small_parts: list[Path], tmp_path: Path) -> None:
    path = model_files.packaged_model_path(tmp_path / "cache")
    data = bytearray(path.read_bytes())
    data[10] ^= 0xFF  # same size, different bytes, new mtime
    path.write_bytes(bytes(data))
    os.utime(path, ns=(1, 1))
    assert not model_files._stamped(path)
    model_files.packaged_model_path(tmp_path / "cache")
    assert path.read_bytes() == b"".join(p.read_bytes() for p in small_parts)


def test_bad_parts_never_become_the_model(small_parts: list[Path], tmp_path: Path) -> None:
    small_parts[2].write_bytes(b"corrupt")
    with pytest.raises(ConfigError, match="do not add up"):
        model_files.packaged_model_path(tmp_path / "cache")
    assert list((tmp_path / "cache").glob("*.gguf*")) == [
        tmp_path / "cache" / (model_files.FILE_NAME + ".lock")
    ]


def test_missing_packages_say_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(model_files, "PARTS", [("engramdb_no_such_part", "data/part01.bin")])
    with pytest.raises(ConfigError, match=r"pip install 'engramdb\[llm\]'"):
        model_files._part_files()
