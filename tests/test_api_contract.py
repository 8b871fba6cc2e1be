"""The public API contract, end to end, on the real SQLite store and real embedders."""

from __future__ import annotations

import asyncio
import inspect
import socket
from datetime import UTC, datetime, timedelta, timezone

import pytest
from conftest import NO_NOTES, STATIC, NetworkAccessBlocked

from engramdb import AsyncMemory, HistoryEntry, Hit, Memory, MemoryItem
from engramdb.errors import NotFoundError, StoreError

FACTS = [
    "I started a new job as a nurse at the city hospital",
    "We adopted a golden retriever puppy called Biscuit",
    "My brother and I went hiking in Patagonia in March",
    "I am learning to play the violin with a patient teacher",
    "Our team won the regional chess tournament on Saturday",
    "I baked a lemon cake for my grandmother's birthday",
    "The car needs new tyres before the winter",
    "I finally finished reading War and Peace",
    "We are planning a trip to Kyoto to see the cherry blossoms",
    "My laptop battery died during the presentation",
    "I signed up for a pottery class on Thursday evenings",
    "The neighbours' cat keeps sleeping on our porch",
]


# --- the network guard itself -----------------------------------------------------------------
def test_network_guard_blocks_outbound_connections() -> None:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        with pytest.raises(NetworkAccessBlocked):
            sock.connect(("203.0.113.7", 443))  # TEST-NET-3: never routable
        with pytest.raises(NetworkAccessBlocked):
            sock.connect_ex(("198.51.100.1", 80))
    finally:
        sock.close()


def test_network_guard_allows_loopback() -> None:
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    client = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        client.connect(server.getsockname())  # must not raise
    finally:
        client.close()
        server.close()


# --- add ---------------------------------------------------------------------------------------
def test_add_returns_one_episode_per_message(static_memory: Memory, uid: str) -> None:
    messages = [
        {"id": "m1", "content": "I moved to Lisbon in 2021", "role": "user", "speaker": "Ann"},
        {"id": 2, "content": "Lisbon is lovely in spring", "role": "assistant", "name": "Bot"},
        {"id": "m3", "content": "I work as a translator", "mood": "happy"},
    ]
    items = static_memory.add(messages, user_id=uid, session_id="s1", metadata={"source": "chat"})
    assert len(items) == 3
    assert all(isinstance(item, MemoryItem) for item in items)
    assert [item.kind for item in items] == ["episode"] * 3
    assert [item.sources for item in items] == [["m1"], ["2"], ["m3"]]
    assert [item.text for item in items] == [m["content"] for m in messages]
    assert [item.speaker for item in items] == ["Ann", "Bot", None]
    assert [item.role for item in items] == ["user", "assistant", None]
    assert {item.user_id for item in items} == {uid}
    assert {item.session_id for item in items} == {"s1"}
    assert {item.version for item in items} == {1}
    assert len({item.id for item in items}) == 3 and all(item.id for item in items)
    assert all(item.created_at.tzinfo is not None for item in items)
    # batch metadata applies to every message; unknown message fields land in metadata too
    assert items[0].metadata == {"source": "chat"}
    assert items[2].metadata == {"source": "chat", "mood": "happy"}
    assert static_memory.count(user_id=uid) == 3


def test_add_accepts_a_single_string_and_a_single_dict(static_memory: Memory, uid: str) -> None:
    one = static_memory.add("just a plain string", user_id=uid)
    two = static_memory.add({"id": "d1", "content": "a single dict"}, user_id=uid)
    assert len(one) == 1 and one[0].text == "just a plain string" and len(one[0].sources) == 1
    assert len(two) == 1 and two[0].sources == ["d1"]
    assert static_memory.count(user_id=uid) == 2


@pytest.mark.parametrize(
    ("stamp", "expected"),
    [
        ("2023-05-08T13:56:00Z", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T13:56:00+02:00", datetime(2023, 5, 8, 11, 56, tzinfo=UTC)),
        ("2023-05-08 13:56", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),  # naive = UTC
        ("2023-05-08", datetime(2023, 5, 8, tzinfo=UTC)),
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),  # LoCoMo
        ("12:05 am on 1 January, 2024", datetime(2024, 1, 1, 0, 5, tzinfo=UTC)),
        ("12:30 pm on 15 Aug, 2022", datetime(2022, 8, 15, 12, 30, tzinfo=UTC)),
        (1683554160, datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),  # epoch seconds
        (
            datetime(2023, 5, 8, 15, 56, tzinfo=timezone(timedelta(hours=2))),
            datetime(2023, 5, 8, 13, 56, tzinfo=UTC),
        ),
    ],
)
def test_event_time_comes_from_the_timestamp(
    static_memory: Memory, uid: str, stamp: object, expected: datetime
) -> None:
    # as a per-message field ...
    (item,) = static_memory.add(
        [{"id": "t1", "content": "a dated message", "timestamp": stamp}], user_id=uid
    )
    assert item.event_time == expected
    assert item.event_time.utcoffset() == timedelta(0)
    # ... and as the batch timestamp
    (batch,) = static_memory.add(
        [{"id": "t2", "content": "another dated message"}], user_id=uid, timestamp=stamp
    )
    assert batch.event_time == expected
    # and it survives the round trip through the store
    assert static_memory.get(item.id, user_id=uid).event_time == expected


def test_message_timestamp_wins_over_batch_timestamp(static_memory: Memory, uid: str) -> None:
    items = static_memory.add(
        [
            {"id": "a", "content": "said with its own time", "timestamp": "2022-01-02T03:04:05Z"},
            {"id": "b", "content": "said at the batch time"},
        ],
        user_id=uid,
        timestamp="1:56 pm on 8 May, 2023",
    )
    assert items[0].event_time == datetime(2022, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert items[1].event_time == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)


def test_add_without_timestamp_uses_the_current_time(static_memory: Memory, uid: str) -> None:
    before = datetime.now(UTC)
    (item,) = static_memory.add([{"id": "now", "content": "no timestamp given"}], user_id=uid)
    after = datetime.now(UTC)
    assert item.event_time is not None
    assert before - timedelta(seconds=1) <= item.event_time <= after + timedelta(seconds=1)
    assert before - timedelta(seconds=1) <= item.created_at <= after + timedelta(seconds=1)


def test_re_adding_the_same_batch_is_a_no_op(
    static_memory: Memory, uid: str, make_messages
) -> None:
    batch = make_messages(FACTS[:5], prefix="r", speaker=("Ann", "Bob"))
    first = static_memory.add(batch, user_id=uid, session_id="s1")
    second = static_memory.add(batch, user_id=uid, session_id="s1")
    assert [i.id for i in second] == [i.id for i in first]
    assert static_memory.count(user_id=uid) == 5
    # a batch mixing known and new messages only adds the new ones
    mixed = static_memory.add(
        [*batch[:2], {"id": "r-new", "content": "a genuinely new message"}],
        user_id=uid,
        session_id="s1",
    )
    assert [i.id for i in mixed[:2]] == [i.id for i in first[:2]]
    assert mixed[2].id not in {i.id for i in first}
    assert static_memory.count(user_id=uid) == 6
    # re-adding wrote no history either
    for item in first:
        assert [h.event for h in static_memory.history(item.id, user_id=uid)] == ["ADD"]


def test_re_adding_an_updated_message_keeps_the_update(static_memory: Memory, uid: str) -> None:
    message = {"id": "u1", "content": "my favourite colour is blue"}
    (item,) = static_memory.add([message], user_id=uid)
    static_memory.update(item.id, "my favourite colour is green", user_id=uid)
    (again,) = static_memory.add([message], user_id=uid)
    assert again.id == item.id
    assert again.text == "my favourite colour is green"
    assert again.version == 2
    assert static_memory.count(user_id=uid) == 1


# --- search -----------------------------------------------------------------------------------
def test_search_orders_hits_best_first_and_respects_limit(
    memory: Memory, uid: str, make_messages
) -> None:
    memory.add(make_messages(FACTS, prefix="f", speaker="Ann"), user_id=uid, session_id="s1")
    hits = memory.search("What pet did Ann adopt?", user_id=uid, limit=5)
    assert len(hits) == 5
    assert all(isinstance(h, Hit) for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)
    assert hits[0].sources == ["f1"]  # the golden retriever puppy
    # the messages and the facts extracted from them, all of this user and this conversation
    said = {f"f{i}" for i in range(len(FACTS))}
    assert all(h.user_id == uid and h.kind in ("episode", "fact") for h in hits)
    assert all(h.sources and set(h.sources) <= said for h in hits)
    assert len({h.id for h in hits}) == len(hits)
    for limit in (1, 3):
        limited = memory.search("What pet did Ann adopt?", user_id=uid, limit=limit)
        assert len(limited) == limit
        assert [h.id for h in limited] == [h.id for h in hits[:limit]]
    # a limit above the number of memories returns each memory at most once
    stored = {i.id for i in memory.list(user_id=uid, limit=1000)}
    assert len(stored) == memory.count(user_id=uid) >= len(FACTS)
    everything = memory.search("hospital job", user_id=uid, limit=100)
    assert 1 <= len(everything) <= len(stored)
    assert len({h.id for h in everything}) == len(everything)
    assert {h.id for h in everything} <= stored
    assert [h.score for h in everything] == sorted((h.score for h in everything), reverse=True)


def test_search_hits_carry_text_score_kind_time_and_sources(memory: Memory, uid: str) -> None:
    memory.add(
        [{"id": "trip-1", "content": "We booked flights to Kyoto for the cherry blossoms"}],
        user_id=uid,
        timestamp="2023-03-01T09:00:00Z",
    )
    (hit,) = memory.search("Kyoto cherry blossoms", user_id=uid, limit=1)
    assert hit.text == "We booked flights to Kyoto for the cherry blossoms"
    assert hit.kind == "episode"
    assert hit.sources == ["trip-1"]
    assert hit.event_time == datetime(2023, 3, 1, 9, tzinfo=UTC)
    assert isinstance(hit.score, float) and 0.0 <= hit.score <= 1.0
    assert hit.signals and all(isinstance(v, float) for v in hit.signals.values())
    assert memory.get(hit.id, user_id=uid).text == hit.text


def test_search_of_a_user_with_no_memories_is_empty(memory: Memory, uid: str) -> None:
    assert memory.search("anything at all", user_id=uid) == []


@pytest.mark.parametrize("preset", ["hybrid", "fast", "lexical", "dense", "rrf"])
def test_every_preset_returns_ordered_hits(memory: Memory, uid: str, make_messages, preset) -> None:
    memory.add(make_messages(FACTS, prefix="p"), user_id=uid)
    hits = memory.search("violin teacher", user_id=uid, limit=4, preset=preset)
    assert 1 <= len(hits) <= 4
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert hits[0].sources == ["p3"]


# --- get / list ---------------------------------------------------------------------------------
def test_get_returns_the_stored_item(static_memory: Memory, uid: str) -> None:
    (item,) = static_memory.add([{"id": "g1", "content": "remember the milk"}], user_id=uid)
    assert static_memory.get(item.id) == item
    assert static_memory.get(item.id, user_id=uid) == item


def test_list_page_cursor_visits_every_item_exactly_once(
    static_memory: Memory, uid: str, make_messages
) -> None:
    added = static_memory.add(make_messages([f"note number {i}" for i in range(23)]), user_id=uid)
    for order in ("desc", "asc"):
        seen: list[str] = []
        cursor = None
        pages = 0
        while True:
            items, cursor = static_memory.list_page(
                user_id=uid, limit=5, cursor=cursor, order=order
            )
            assert len(items) <= 5
            seen.extend(i.id for i in items)
            pages += 1
            if cursor is None:
                break
            assert len(items) == 5
            assert pages < 50
        assert pages == 5
        assert len(seen) == len(set(seen)) == 23
        expected = [i.id for i in added]
        assert seen == (expected[::-1] if order == "desc" else expected)


def test_list_page_exact_multiple_has_no_empty_last_page(
    static_memory: Memory, uid: str, make_messages
) -> None:
    static_memory.add(make_messages([f"entry {i}" for i in range(10)]), user_id=uid)
    first, cursor = static_memory.list_page(user_id=uid, limit=5)
    assert len(first) == 5 and cursor is not None
    second, cursor = static_memory.list_page(user_id=uid, limit=5, cursor=cursor)
    assert len(second) == 5 and cursor is None
    assert not {i.id for i in first} & {i.id for i in second}


def test_list_defaults_and_kind_filter(static_memory: Memory, uid: str, make_messages) -> None:
    added = static_memory.add(make_messages([f"item {i}" for i in range(4)]), user_id=uid)
    listed = static_memory.list(user_id=uid)
    assert [i.id for i in listed] == [i.id for i in reversed(added)]  # newest first
    assert static_memory.list(user_id=uid, limit=2) == listed[:2]
    assert [i.id for i in static_memory.list(user_id=uid, kind="episode")] == [i.id for i in listed]
    assert static_memory.list(user_id=uid, kind="fact") == []
    assert static_memory.list(user_id=uid, kind="summary") == []


# --- update / delete / history -----------------------------------------------------------------
def test_update_creates_a_new_version_with_history(static_memory: Memory, uid: str) -> None:
    (item,) = static_memory.add(
        [{"id": "job", "content": "I work as a plumber in Leeds", "speaker": "Ann"}],
        user_id=uid,
        timestamp="2023-05-08T10:00:00Z",
    )
    updated = static_memory.update(
        item.id, "I work as an electrician in Leeds", user_id=uid, reason="career change"
    )
    assert updated.id == item.id
    assert updated.version == 2
    assert updated.text == "I work as an electrician in Leeds"
    assert updated.updated_at is not None and updated.updated_at >= item.created_at
    assert updated.sources == ["job"] and updated.speaker == "Ann"
    assert updated.event_time == item.event_time
    assert static_memory.get(item.id, user_id=uid) == updated
    assert static_memory.count(user_id=uid) == 1

    history = static_memory.history(item.id, user_id=uid)
    assert all(isinstance(h, HistoryEntry) for h in history)
    assert [(h.event, h.version) for h in history] == [("ADD", 1), ("UPDATE", 2)]
    assert history[0].text == "I work as a plumber in Leeds"
    assert history[1].text == "I work as an electrician in Leeds"
    assert history[1].previous_text == "I work as a plumber in Leeds"
    assert history[1].reason == "career change"
    assert history[0].at <= history[1].at

    # the lexical index follows the new text
    new = static_memory.search("electrician", user_id=uid, preset="lexical")
    assert [h.id for h in new] == [item.id]
    assert static_memory.search("plumber", user_id=uid, preset="lexical") == []

    again = static_memory.update(item.id, "I am retired now", user_id=uid)
    assert again.version == 3
    assert [h.event for h in static_memory.history(item.id)] == ["ADD", "UPDATE", "UPDATE"]


def test_delete_removes_the_memory_and_records_it(static_memory: Memory, uid: str) -> None:
    items = static_memory.add(
        [
            {"id": "keep", "content": "the spare key is under the flowerpot"},
            {"id": "drop", "content": "the wifi password is tangerine42"},
        ],
        user_id=uid,
    )
    static_memory.delete(items[1].id, user_id=uid)
    with pytest.raises(NotFoundError):
        static_memory.get(items[1].id, user_id=uid)
    with pytest.raises(NotFoundError):
        static_memory.get(items[1].id)
    history = static_memory.history(items[1].id, user_id=uid)
    assert [h.event for h in history] == ["ADD", "DELETE"]
    # a tombstone: the deleted text leaves the history too (StoreConfig.keep_deleted_text)
    assert [h.text for h in history] == [None, None] and history[-1].actor
    assert static_memory.count(user_id=uid) == 1
    assert [i.id for i in static_memory.list(user_id=uid)] == [items[0].id]
    assert static_memory.search("tangerine42 wifi password", user_id=uid, preset="lexical") == []
    assert all(h.id != items[1].id for h in static_memory.search("wifi password", user_id=uid))
    with pytest.raises(NotFoundError):
        static_memory.delete(items[1].id, user_id=uid)
    with pytest.raises(NotFoundError):
        static_memory.update(items[1].id, "resurrected", user_id=uid)
    assert (
        static_memory.get(items[0].id, user_id=uid).text == "the spare key is under the flowerpot"
    )


def test_delete_all_for_one_user(static_memory: Memory, uid: str, make_messages) -> None:
    items = static_memory.add(make_messages(FACTS[:4]), user_id=uid)
    counts = static_memory.delete_all(user_id=uid)
    assert counts["memories"] == 4
    assert counts["history"] == 4
    assert static_memory.count(user_id=uid) == 0
    assert static_memory.list(user_id=uid) == []
    assert static_memory.search("nurse hospital", user_id=uid) == []
    for item in items:
        with pytest.raises(NotFoundError):
            static_memory.get(item.id)
        with pytest.raises(NotFoundError):
            static_memory.history(item.id)


# --- lifecycle -----------------------------------------------------------------------------------
def test_context_manager_closes_the_store(store_target: str) -> None:
    with Memory(store_target, embedder=STATIC) as m:
        (item,) = m.add([{"id": "c1", "content": "closing time"}], user_id="u")
    with pytest.raises(StoreError):
        m.count(user_id="u")
    with pytest.raises(StoreError):
        m.add([{"content": "after close"}], user_id="u")
    m.close()  # closing twice is harmless
    with Memory(store_target, embedder=STATIC) as reopened:
        assert reopened.get(item.id, user_id="u").text == "closing time"
        assert reopened.count(user_id="u") == 1


def test_context_manager_closes_on_error(store_target: str) -> None:
    with (
        pytest.raises(RuntimeError, match="boom"),
        Memory(store_target, embedder=STATIC, extraction=NO_NOTES) as m,
    ):
        m.add([{"content": "written before the error"}], user_id="u")
        raise RuntimeError("boom")
    with pytest.raises(StoreError):
        m.count()
    with Memory(store_target, embedder=STATIC) as reopened:
        assert reopened.count(user_id="u") == 1


# --- AsyncMemory --------------------------------------------------------------------------------
def test_async_memory_supports_every_operation(store_target: str) -> None:
    async def scenario() -> None:
        async with AsyncMemory(store_target, embedder=STATIC) as m:
            items = await m.add(
                [
                    {"id": "a1", "content": "I play the cello in an orchestra"},
                    {"id": "a2", "content": "My sister lives in Montreal"},
                    {"id": "a3", "content": "I am allergic to peanuts"},
                ],
                user_id="u",
                session_id="s",
                timestamp="1:56 pm on 8 May, 2023",
            )
            assert [i.sources for i in items] == [["a1"], ["a2"], ["a3"]]
            assert items[0].event_time == datetime(2023, 5, 8, 13, 56, tzinfo=UTC)
            # some unrelated memories so that ranking is not decided by a 3-document corpus
            filler = await m.add(
                [{"id": f"f{i}", "content": text} for i, text in enumerate(FACTS)],
                user_id="u",
                session_id="s2",
            )
            await m.flush()  # the facts drawn from them, before the counts below
            assert (await m.pending())["jobs"] == 0

            hits = await m.search("cello orchestra", user_id="u", limit=2)
            assert hits[0].sources == ["a1"] and len(hits) == 2
            # the message, and any fact extracted from it (nothing else says "peanuts")
            lexical = await m.search("peanuts", user_id="u", preset="lexical")
            assert [h.sources for h in lexical if h.kind == "episode"] == [["a3"]]
            assert all(h.sources == ["a3"] for h in lexical)

            # concurrent calls are fine and agree with each other
            many = await asyncio.gather(
                *(m.search("Montreal", user_id="u", limit=1, preset="lexical") for _ in range(6))
            )
            assert [r[0].sources[0] for r in many] == ["a2"] * 6

            assert (await m.get(items[1].id, user_id="u")).text == "My sister lives in Montreal"
            listed = await m.list(user_id="u", order="asc", kind="episode")
            assert [i.id for i in listed] == [i.id for i in [*items, *filler]]
            # the facts extracted by default come only from these messages
            facts = await m.list(user_id="u", kind="fact")
            said = {s for i in [*items, *filler] for s in i.sources}
            assert all(f.user_id == "u" and f.sources and set(f.sources) <= said for f in facts)
            everything = await m.list(user_id="u")
            assert {i.id for i in everything} == {i.id for i in [*listed, *facts]}
            assert await m.count(user_id="u") == len(everything) == len(listed) + len(facts)
            page, cursor = await m.list_page(user_id="u", limit=10, kind="episode")
            assert len(page) == 10 and cursor is not None
            rest, cursor = await m.list_page(user_id="u", limit=10, kind="episode", cursor=cursor)
            assert len(rest) == 5 and cursor is None

            updated = await m.update(items[2].id, "I am allergic to shellfish", user_id="u")
            assert updated.version == 2
            history = await m.history(items[2].id, user_id="u")
            assert [h.event for h in history] == ["ADD", "UPDATE"]
            assert history[1].previous_text == "I am allergic to peanuts"

            await m.delete(items[0].id, user_id="u")
            with pytest.raises(NotFoundError):
                await m.get(items[0].id, user_id="u")
            assert [h.event for h in await m.history(items[0].id)] == ["ADD", "DELETE"]

            await m.add([{"content": "another user's note"}], user_id="other")
            others = await m.list(user_id="other")
            assert len([i for i in others if i.kind == "episode"]) == 1
            # every memory of the user goes: the messages left (2 + filler) and all its facts
            remaining = await m.list(user_id="u", limit=1000)
            assert len([i for i in remaining if i.kind == "episode"]) == 2 + len(FACTS)
            counts = await m.delete_all(user_id="u")
            assert counts["memories"] == len(remaining)
            assert await m.list(user_id="u") == []
            assert await m.count(user_id="u") == 0
            assert await m.list(user_id="other") == others
        # closed by the context manager
        with pytest.raises(StoreError):
            m.memory.count()

    asyncio.run(scenario())


def test_async_memory_has_every_public_method_of_memory() -> None:
    """AsyncMemory promises "the same operations as Memory, awaitable"."""
    sync_methods = {
        name
        for name, fn in inspect.getmembers(Memory, inspect.isfunction)
        if not name.startswith("_")
    }
    missing = sorted(name for name in sync_methods if not hasattr(AsyncMemory, name))
    assert missing == [], f"AsyncMemory lacks {missing}"
    for name in sync_methods:
        assert inspect.iscoroutinefunction(getattr(AsyncMemory, name)), name


def test_async_memory_close_is_idempotent(store_target: str) -> None:
    """Memory.close is documented as safe to call twice; AsyncMemory.close should be too."""

    async def scenario() -> None:
        async with AsyncMemory(store_target, embedder=STATIC) as m:
            await m.add([{"content": "hello"}], user_id="u")
            await m.close()  # explicit close inside the block; __aexit__ closes again

    asyncio.run(scenario())


def test_async_memory_has_every_public_operation_of_memory() -> None:
    """AsyncMemory is made from Memory's methods: none forgotten, and each has the same
    parameters (its signature is Memory's, not a second copy)."""
    import inspect

    public = {
        name
        for name, value in inspect.getmembers(Memory, inspect.isfunction)
        if not name.startswith("_")
    }
    assert public <= set(dir(AsyncMemory)), public - set(dir(AsyncMemory))
    for name in public - {"close"}:
        ours = inspect.signature(getattr(AsyncMemory, name)).parameters
        assert list(ours) == list(inspect.signature(getattr(Memory, name)).parameters), name
        assert inspect.iscoroutinefunction(getattr(AsyncMemory, name)), name
