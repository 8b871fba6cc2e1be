"""Bad input is refused with a clear error, and a refused call writes nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import STATIC
from refusals import USER, assert_refused
from stores import store_exists

from engramdb import EngramConfig, Memory
from engramdb.errors import ConfigError, EngramError, InvalidInputError, NotFoundError


class Unserialisable:
    pass


BAD_BATCHES: dict[str, Any] = {
    "empty content": [{"content": ""}],
    "whitespace content": [{"content": "  \n\t  "}],
    "1 MB content": [{"content": "x" * 1_000_000}],
    "lone surrogate in content": [{"content": "bad \ud800 text"}],
    "content missing": [{"id": "x"}],
    "content is None": [{"content": None}],
    "content is a number": [{"content": 42}],
    "content is bytes": [{"content": b"bytes"}],
    "message is a number": [42],
    "message is None": [None],
    "message is a list": [["content", "hi"]],
    "batch is empty": [],
    "batch is bytes": b"raw bytes",
    "batch is a number": 7,
    "duplicate ids": [{"id": "d", "content": "first"}, {"id": "d", "content": "second"}],
    "duplicate int/str ids": [{"id": 5, "content": "first"}, {"id": "5", "content": "second"}],
    "empty id": [{"id": "", "content": "hello"}],
    "bool id": [{"id": True, "content": "hello"}],
    "list id": [{"id": ["a"], "content": "hello"}],
    "surrogate id": [{"id": "a\udfffb", "content": "hello"}],
    "control char id": [{"id": "a\nb", "content": "hello"}],
    "speaker not a string": [{"content": "hello", "speaker": 12}],
    "surrogate speaker": [{"content": "hello", "speaker": "An\ud800n"}],
    "empty role": [{"content": "hello", "role": "  "}],
    "bad message timestamp": [{"content": "hello", "timestamp": "the day after tomorrow"}],
    "timestamp is a list": [{"content": "hello", "timestamp": [2023, 5, 8]}],
    "unserialisable extra field": [{"content": "hello", "blob": Unserialisable()}],
    "surrogate in extra field": [{"content": "hello", "note": "\udc00"}],
}


@pytest.mark.parametrize("batch", list(BAD_BATCHES.values()), ids=list(BAD_BATCHES))
def test_bad_messages_are_refused(seeded, batch) -> None:
    m = seeded[0]
    assert_refused(seeded, lambda: m.add(batch, user_id=USER), InvalidInputError)


def test_error_names_the_offending_message(seeded) -> None:
    m = seeded[0]
    batch = [{"content": "fine"}, {"content": "also fine"}, {"content": ""}]
    error = assert_refused(seeded, lambda: m.add(batch, user_id=USER), InvalidInputError)
    assert "messages[2]" in str(error)


def test_batch_with_only_the_last_message_bad_writes_nothing(seeded) -> None:
    m = seeded[0]
    batch = [
        {"id": f"good{i}", "content": f"perfectly good message {i} about kayaks"} for i in range(9)
    ]
    batch.append({"id": "bad", "content": "\ud800"})
    assert_refused(seeded, lambda: m.add(batch, user_id=USER), InvalidInputError)
    assert m.search("kayaks", user_id=USER, preset="lexical") == []


@pytest.mark.parametrize(
    "user_id",
    [None, "", "   ", 123, b"bytes", "a\x00b", "tab\tuser", "x" * 300, "\ud800"],
    ids=["None", "empty", "blank", "int", "bytes", "nul", "tab", "too long", "surrogate"],
)
def test_bad_user_id_is_refused_everywhere(seeded, user_id) -> None:
    m = seeded[0]
    for call in (
        lambda: m.add([{"content": "hello"}], user_id=user_id),
        lambda: m.search("passport", user_id=user_id),
        lambda: m.list(user_id=user_id),
        lambda: m.list_page(user_id=user_id),
        lambda: m.delete_all(user_id=user_id),
    ):
        assert_refused(seeded, call, InvalidInputError)


def test_user_id_is_required() -> None:
    # a keyword-only argument without a default: Python itself refuses the call
    with pytest.raises(TypeError):
        Memory.add(object(), [{"content": "hi"}])  # type: ignore[call-arg]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"session_id": ""},
        {"session_id": 5},
        {"session_id": "s\x01"},
        {"agent_id": ""},
        {"timestamp": "not a time"},
        {"timestamp": True},
        {"timestamp": [1, 2]},
        {"metadata": ["not", "a", "dict"]},
        {"metadata": "a string"},
        {"metadata": {"a": {1, 2}}},
        {"metadata": {"a": Unserialisable()}},
        {"metadata": {(1, 2): "tuple key"}},
        {"metadata": {"a": "\ud800"}},
        {"metadata": {"big": "x" * 70_000}},
    ],
    ids=lambda kw: repr(kw)[:40],
)
def test_bad_add_arguments_are_refused(seeded, kwargs) -> None:
    m = seeded[0]
    assert_refused(
        seeded, lambda: m.add([{"content": "a valid message"}], user_id=USER, **kwargs),
        InvalidInputError,
    )  # fmt: skip


@pytest.mark.parametrize(
    "metadata",
    [{"score": float("nan")}, {"score": float("inf")}, {"nested": [float("-inf")]}],
    ids=["nan", "inf", "-inf"],
)
def test_metadata_that_is_not_json_is_refused(seeded, metadata) -> None:
    """NaN and Infinity are not JSON (RFC 8259): storing them makes metadata that strict JSON
    readers (other languages, the REST layer) cannot parse."""
    m = seeded[0]
    assert_refused(
        seeded, lambda: m.add([{"content": "a valid message"}], user_id=USER, metadata=metadata),
        InvalidInputError,
    )  # fmt: skip


@pytest.mark.parametrize(
    "stamp",
    ["1:56 pm on 31 February, 2023", "1:75 pm on 8 May, 2023", float("nan"), 1e20, -1e15],
    ids=["31 February", "minute 75", "nan", "far future epoch", "far past epoch"],
)
def test_out_of_range_timestamps_are_invalid_input(seeded, stamp) -> None:
    """Well-formed but impossible timestamps must be InvalidInputError, not a raw
    ValueError/OverflowError from datetime."""
    m = seeded[0]
    assert_refused(
        seeded, lambda: m.add([{"content": "a valid message"}], user_id=USER, timestamp=stamp),
        InvalidInputError,
    )  # fmt: skip
    assert_refused(
        seeded,
        lambda: m.add([{"content": "a valid message", "timestamp": stamp}], user_id=USER),
        InvalidInputError,
    )


# --- reads and edits -------------------------------------------------------------------------
@pytest.mark.parametrize("operation", ["get", "update", "delete", "history"])
def test_unknown_memory_id_is_not_found(seeded, operation) -> None:
    m = seeded[0]
    call = {
        "get": lambda: m.get("no-such-memory"),
        "update": lambda: m.update("no-such-memory", "new text", user_id=USER),
        "delete": lambda: m.delete("no-such-memory", user_id=USER),
        "history": lambda: m.history("no-such-memory"),
    }[operation]
    error = assert_refused(seeded, call, NotFoundError)
    assert "no-such-memory" in str(error)
    assert isinstance(error, KeyError)  # NotFoundError is also a KeyError


@pytest.mark.parametrize("memory_id", ["", "   ", None, 17, "\ud800"])
@pytest.mark.parametrize("operation", ["get", "update", "delete", "history"])
def test_malformed_memory_id_is_invalid(seeded, operation, memory_id) -> None:
    m = seeded[0]
    call = {
        "get": lambda: m.get(memory_id),
        "update": lambda: m.update(memory_id, "new text"),
        "delete": lambda: m.delete(memory_id),
        "history": lambda: m.history(memory_id),
    }[operation]
    assert_refused(seeded, call, InvalidInputError)


@pytest.mark.parametrize("text", ["", "   ", None, 5, "\ud800", "y" * 40_000])
def test_bad_update_text_is_refused(seeded, text) -> None:
    m, _, items = seeded
    assert_refused(seeded, lambda: m.update(items[0].id, text, user_id=USER), InvalidInputError)
    assert [h.event for h in m.history(items[0].id)] == ["ADD"]


@pytest.mark.parametrize("query", ["", "   \n", None, 42, "\ud800 query", "q" * 5000])
def test_bad_query_is_refused(seeded, query) -> None:
    m = seeded[0]
    assert_refused(seeded, lambda: m.search(query, user_id=USER), InvalidInputError)


@pytest.mark.parametrize("limit", [0, -1, True, "5", 2.5, None])
def test_bad_search_limit_is_refused(seeded, limit) -> None:
    m = seeded[0]
    assert_refused(
        seeded, lambda: m.search("passport", user_id=USER, limit=limit), InvalidInputError
    )


def test_bad_search_now_is_refused(seeded) -> None:
    m = seeded[0]
    assert_refused(
        seeded, lambda: m.search("passport", user_id=USER, now="someday"), InvalidInputError
    )


def test_query_without_content_words_is_not_an_error(seeded) -> None:
    m = seeded[0]
    # only stopwords/punctuation: no lexical terms, dense search still answers
    assert len(m.search("what is it?", user_id=USER, limit=2)) == 2
    assert m.search("?!", user_id=USER, preset="lexical") == []


@pytest.mark.parametrize(
    "kwargs",
    [
        {"limit": 0},
        {"limit": 10_001},
        {"limit": "10"},
        {"kind": "bogus"},
        {"order": "sideways"},
        {"cursor": "not-a-cursor"},
    ],
    ids=lambda kw: repr(kw),
)
def test_bad_list_arguments_are_refused(seeded, kwargs) -> None:
    m = seeded[0]
    assert_refused(seeded, lambda: m.list(user_id=USER, **kwargs), InvalidInputError)
    assert_refused(seeded, lambda: m.list_page(user_id=USER, **kwargs), InvalidInputError)


# --- configuration ---------------------------------------------------------------------------
@pytest.mark.parametrize("preset", ["nope", "HYBRID", "lexical "])
def test_unknown_search_preset_is_a_config_error(seeded, preset) -> None:
    m = seeded[0]
    error = assert_refused(
        seeded, lambda: m.search("passport", user_id=USER, preset=preset), ConfigError
    )
    assert "preset" in str(error)


@pytest.mark.parametrize(
    "options",
    [
        {"bogus": 1},
        {"candidates": 0},
        {"fusion": "max"},
        {"weights": {"nope": 1.0}},
        {"weights": {"dense": -1.0}},
        {"weights": "heavy"},
    ],
    ids=lambda o: repr(o),
)
def test_bad_search_options_are_a_config_error(seeded, options) -> None:
    m = seeded[0]
    assert_refused(seeded, lambda: m.search("passport", user_id=USER, options=options), ConfigError)


def test_search_options_override_the_preset(seeded) -> None:
    m = seeded[0]
    hits = m.search("passport drawer", user_id=USER, preset="lexical", options={"candidates": 5})
    assert [h.sources for h in hits] == [["s1"]]


@pytest.mark.parametrize(
    "options",
    [
        {"bogus_field": 1},
        {"embedder": {"provider": "word2vec"}},
        {"embedder": {"threads": 0}},
        {"embedder": {"precision": "int4"}},
        {"embedder": {"unknown": True}},
        {"store_options": {"ann_threshold": 0}},
        {"store_options": {"durability": "maybe"}},
        {"store_options": {"busy_timeout_ms": -5}},
        {"limits": {"max_message_chars": 0}},
        {"search_preset": "does-not-exist"},
        {"search": {"candidates": -1}},
        {"search": {"weights": {"nope": 1}}},
    ],
    ids=lambda o: repr(o)[:50],
)
def test_bad_configuration_is_a_config_error(store_target: str, options) -> None:
    with pytest.raises(ConfigError) as info:
        Memory(store_target, **options)
    assert str(info.value).strip()
    assert not store_exists(store_target), "an invalid configuration must not create a store"


def test_openai_embedder_without_endpoint_is_a_config_error(store_path: Path) -> None:
    with pytest.raises(ConfigError, match="base_url"):
        Memory(store_path, embedder={"provider": "openai"})


def test_config_file_errors_are_config_errors(tmp_path: Path) -> None:
    missing = tmp_path / "missing.yaml"
    with pytest.raises(ConfigError):
        EngramConfig.from_file(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError):
        EngramConfig.from_file(broken)
    listing = tmp_path / "list.yaml"
    listing.write_text("- a\n- b\n")
    with pytest.raises(ConfigError):
        EngramConfig.from_file(listing)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("embedder:\n  provider: static\nfrobnicate: 3\n")
    with pytest.raises(ConfigError, match="frobnicate"):
        EngramConfig.from_file(unknown)
    good = tmp_path / "good.yaml"
    good.write_text(f"store: {tmp_path / 'from-file.db'}\nembedder:\n  provider: static\n")
    with Memory(config=EngramConfig.from_file(good)) as m:
        assert m.add("configured from a file", user_id="u")[0].text == "configured from a file"


def test_configured_limits_are_enforced(store_target: str) -> None:
    with Memory(
        store_target,
        embedder=STATIC,
        limits={"max_message_chars": 20, "max_batch_messages": 3, "max_query_chars": 10},
    ) as m:
        m.add([{"content": "x" * 20}], user_id="u")  # exactly at the limit is fine
        with pytest.raises(InvalidInputError):
            m.add([{"content": "x" * 21}], user_id="u")
        with pytest.raises(InvalidInputError):
            m.add([{"content": f"m{i}"} for i in range(4)], user_id="u")
        with pytest.raises(InvalidInputError):
            m.search("q" * 11, user_id="u")
        assert m.count(user_id="u") == 1


def test_errors_are_engram_errors_with_codes() -> None:
    assert issubclass(InvalidInputError, ValueError) and InvalidInputError.code == "invalid_input"
    assert issubclass(NotFoundError, KeyError) and NotFoundError.code == "not_found"
    assert issubclass(ConfigError, ValueError) and ConfigError.code == "invalid_config"
    assert str(NotFoundError("no memory with id 'x'")) == "no memory with id 'x'"
    for cls in (InvalidInputError, NotFoundError, ConfigError):
        assert issubclass(cls, EngramError)
