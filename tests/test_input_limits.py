"""Input the probe found crashing the Python API with exceptions outside EngramError: deep
metadata (RecursionError, or a stored memory no read could return), lone surrogates in the
reason of an update (UnicodeEncodeError), a ttl past year 9999 (OverflowError), and dates at the
calendar's end in messages, edits and queries (OverflowError). Each is refused with an
InvalidInputError that writes nothing, or, for the dates, simply works."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from refusals import USER, assert_refused

from engramdb import Memory
from engramdb.config import LimitsConfig
from engramdb.errors import InvalidInputError

LIMITS = LimitsConfig()


def nested(depth: int, leaf: Any = "leaf") -> Any:
    """A JSON value of ``depth`` levels: {"a": {"a": ... leaf}} (objects and lists mixed)."""
    value = leaf
    for level in range(depth):
        value = {"a": value} if level % 2 else [value]
    return value


def deepest_allowed() -> dict[str, Any]:
    return {"k": nested(LIMITS.max_metadata_depth - 1)}


def test_metadata_at_the_depth_limit_is_stored_and_read_back(seeded) -> None:
    m = seeded[0]
    item = m.add([{"content": "deep but fine"}], user_id="deep-ok", metadata=deepest_allowed())[0]
    assert m.get(item.id).metadata == deepest_allowed()
    assert m.list(user_id="deep-ok")[0].metadata == deepest_allowed()


@pytest.mark.parametrize("depth", [LIMITS.max_metadata_depth + 1, 255, 300, 999, 1000, 50_000])
def test_metadata_nested_too_deep_is_refused(seeded, depth: int) -> None:
    m = seeded[0]
    metadata = {"k": nested(depth - 1)}
    error = assert_refused(
        seeded, lambda: m.add("hello", user_id=USER, metadata=metadata), InvalidInputError
    )
    assert f"deeper than {LIMITS.max_metadata_depth}" in str(error)
    extra = [{"content": "hello", "blob": nested(depth - 1)}]
    error = assert_refused(seeded, lambda: m.add(extra, user_id=USER), InvalidInputError)
    assert "messages[0] extra fields" in str(error)


def test_self_containing_metadata_is_refused(seeded) -> None:
    m = seeded[0]
    loop: dict[str, Any] = {}
    loop["again"] = loop
    assert_refused(seeded, lambda: m.add("hi", user_id=USER, metadata=loop), InvalidInputError)


@pytest.mark.parametrize(
    ("metadata", "words"),
    [
        ({f"k{i}": i for i in range(LIMITS.max_metadata_keys + 1)}, "keys"),
        ({"a": [{f"k{i}": i} for i in range(LIMITS.max_metadata_keys + 1)]}, "keys"),
        ({"k" * (LIMITS.max_metadata_key_chars + 1): 1}, "key longer"),
        ({"wide": list(range(40_000))}, "larger than"),
        ({"wide": [[]] * 100_000}, "larger than"),
        ({"big": 10**5000}, "JSON"),
    ],
    ids=["keys", "nested keys", "long key", "wide list", "many lists", "huge int"],
)
def test_metadata_over_the_limits_is_refused(seeded, metadata, words: str) -> None:
    m = seeded[0]
    error = assert_refused(
        seeded, lambda: m.add("hi", user_id=USER, metadata=metadata), InvalidInputError
    )
    assert words in str(error)


def test_configured_metadata_limits_apply(store_target: str) -> None:
    limits = {"max_metadata_depth": 2, "max_metadata_keys": 3, "max_metadata_key_chars": 4}
    with Memory(store_target, embedder={"provider": "static"}, limits=limits) as m:
        m.add("fine", user_id="u", metadata={"abcd": {"b": 1}, "c": [1]})
        for metadata in ({"a": {"b": [1]}}, {"a": 1, "b": 2, "c": 3, "d": 4}, {"abcde": 1}):
            with pytest.raises(InvalidInputError):
                m.add("refused", user_id="u", metadata=metadata)
        assert m.count(user_id="u") == 1


# --- update's reason ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "reason",
    [5, b"bytes", ["why"], "\ud800", "r" * (LIMITS.max_reason_chars + 1), "x" * 1_000_000],
    ids=["int", "bytes", "list", "surrogate", "over the limit", "1 MB"],
)
def test_bad_update_reason_is_refused(seeded, reason: object) -> None:
    m, _, items = seeded
    assert_refused(
        seeded, lambda: m.update(items[0].id, "new text", user_id=USER, reason=reason),
        InvalidInputError,
    )  # fmt: skip
    assert [h.event for h in m.history(items[0].id)] == ["ADD"]


def test_a_good_reason_is_kept_in_history(static_memory: Memory, uid: str) -> None:
    item = static_memory.add("the cat is grey", user_id=uid)[0]
    static_memory.update(item.id, "the cat is black", user_id=uid, reason="r" * 1_000)
    assert static_memory.history(item.id)[-1].reason == "r" * 1_000


# --- ttl ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "ttl",
    [1e300, float("inf"), 10**400, timedelta.max, 400_000_000_000.0, float("nan"), -1, 0],
    ids=["1e300", "inf", "10**400", "timedelta.max", "13000 years", "nan", "negative", "zero"],
)
def test_ttl_past_the_calendar_is_refused(seeded, ttl: object) -> None:
    m = seeded[0]
    error = assert_refused(
        seeded, lambda: m.ingest("expiring", user_id=USER, ttl=ttl), InvalidInputError
    )
    assert "ttl" in str(error)


# --- dates at the end of the calendar -------------------------------------------------------
END_OF_TIME = ["31 December 9999", "9999-12-31", "in 9000 years", "December 31, 9999"]


@pytest.mark.parametrize("words", END_OF_TIME)
def test_dates_at_the_calendars_end_are_stored_edited_and_searched(
    static_memory: Memory, uid: str, words: str
) -> None:
    item = static_memory.add(f"the party is on {words}", user_id=uid)[0]
    edited = static_memory.update(item.id, f"moved to {words}, tomorrow", user_id=uid)
    assert edited.text.startswith("moved")
    hits = static_memory.search(f"what happens {words}?", user_id=uid, preset="lexical")
    assert [h.id for h in hits] == [item.id]


def test_a_message_said_at_the_calendars_end_resolves_what_it_mentions(
    static_memory: Memory, uid: str
) -> None:
    last = datetime(9999, 12, 31, 23, 59, 59, tzinfo=UTC)
    item = static_memory.add(
        [{"content": "see you tomorrow, next week, next year", "timestamp": last.isoformat()}],
        user_id=uid,
    )[0]
    assert item.event_time == last
    hits = static_memory.search("see you when?", user_id=uid, now=last, as_of=last)
    assert [h.id for h in hits] == [item.id]
