"""One behavioural suite run against LangGraph's ``InMemoryStore`` and ``EngramStore``: a graph
must see the same whichever it is given. Expectations come from LangGraph's ``BaseStore`` docs
and what ``InMemoryStore`` (langgraph-checkpoint 4.x) does; a difference kept on purpose is a
strict xfail for the store that lacks it, visible in every report."""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("langgraph.store.base")

from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    ListNamespacesOp,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from engramdb.integrations.langgraph import EngramStore

DIMS = 64


def embed(texts: list[str]) -> list[list[float]]:
    """A deterministic bag-of-words embedding (a paid embedding service in real use): each
    word adds 1 to a bucket picked by its hash, so texts sharing words are close."""
    out = []
    for text in texts:
        vector = [0.0] * DIMS
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            vector[int(hashlib.sha256(word.encode()).hexdigest(), 16) % DIMS] += 1.0
        out.append(vector)
    return out


async def aembed(texts: list[str]) -> list[list[float]]:
    return embed(texts)


StoreFactory = Callable[..., BaseStore]


@pytest.fixture(params=["InMemoryStore", "EngramStore"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    opened: list[EngramStore] = []

    def build(**kwargs: Any) -> BaseStore:
        if request.param == "InMemoryStore":
            return InMemoryStore(**kwargs)
        store = EngramStore(
            tmp_path / f"s{len(opened)}.db", embedder={"provider": "static"}, **kwargs
        )
        opened.append(store)
        return store

    yield build
    for store in opened:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> BaseStore:
    return make_store(index={"dims": DIMS, "embed": embed, "fields": ["text"]})


def differs_on(request: pytest.FixtureRequest, name: str, reason: str) -> None:
    """Mark a documented difference: the case fails (strictly) for the store ``name``."""
    if request.node.callspec.params["make_store"] == name:
        request.applymarker(pytest.mark.xfail(strict=True, reason=reason))


def keys(items: list[Any]) -> list[str]:
    return [i.key for i in items]


# --- put / get / overwrite / delete ----------------------------------------------------------
def test_put_get_roundtrip(store: BaseStore) -> None:
    value = {"text": "likes hiking", "n": 3, "nested": {"a": [1, 2, {"b": None}]}, "ok": True}
    store.put(("users", "alice"), "prefs", value)
    item = store.get(("users", "alice"), "prefs")
    assert item is not None
    assert (item.namespace, item.key, item.value) == (("users", "alice"), "prefs", value)
    assert item.created_at.tzinfo is not None and item.updated_at >= item.created_at
    assert set(item.dict()) == {"namespace", "key", "value", "created_at", "updated_at"}


def test_get_missing(store: BaseStore) -> None:
    assert store.list_namespaces() == [] and store.search(()) == []  # an empty store
    store.put(("users", "alice"), "a", {"text": "x"})
    assert store.get(("users", "alice"), "nope") is None
    assert store.get(("users", "bob"), "a") is None
    assert store.get(("users",), "a") is None  # a prefix is not the namespace


def test_overwrite_replaces_value_and_moves_updated_at(store: BaseStore) -> None:
    store.put(("docs",), "k", {"text": "first", "v": 1})
    first = store.get(("docs",), "k")
    store.put(("docs",), "k", {"text": "second"})
    second = store.get(("docs",), "k")
    assert first is not None and second is not None
    assert second.value == {"text": "second"}  # replaced whole, not merged
    assert second.updated_at > first.updated_at
    assert len(store.search(("docs",))) == 1


def test_overwrite_keeps_created_at(request: pytest.FixtureRequest, store: BaseStore) -> None:
    differs_on(
        request,
        "InMemoryStore",
        "InMemoryStore stamps an overwritten item as new; EngramStore keeps when the key was"
        " first put, as LangGraph's PostgreSQL and SQLite stores do",
    )
    store.put(("docs",), "k", {"text": "first"})
    first = store.get(("docs",), "k")
    store.put(("docs",), "k", {"text": "second"})
    second = store.get(("docs",), "k")
    assert first is not None and second is not None
    assert second.created_at == first.created_at


def test_delete(store: BaseStore) -> None:
    store.put(("docs",), "a", {"text": "x"})
    store.put(("docs",), "b", {"text": "y"})
    store.delete(("docs",), "a")
    store.delete(("docs",), "never-there")  # not an error
    assert store.get(("docs",), "a") is None
    assert keys(store.search(("docs",))) == ["b"]
    store.put(("docs",), "a", {"text": "back"})  # a deleted key can be put again, at the end
    assert keys(store.search(("docs",))) == ["b", "a"]


# --- search without a query: listing, filters, pages -----------------------------------------
def test_search_lists_in_put_order_across_namespaces(store: BaseStore) -> None:
    store.put(("u", "1"), "a", {"text": "a"})
    store.put(("u", "2"), "b", {"text": "b"})
    store.put(("u", "1"), "c", {"text": "c"})
    store.put(("v",), "d", {"text": "d"})
    store.put(("u", "1"), "a", {"text": "a again"})  # an overwrite keeps its place
    assert keys(store.search(("u",))) == ["a", "c", "b"]
    assert keys(store.search(("u", "1"))) == ["a", "c"]
    assert keys(store.search(())) == ["a", "c", "b", "d"]
    assert store.search(("w",)) == []
    assert all(i.score is None for i in store.search(("u",)))


def test_search_offset_and_limit(store: BaseStore) -> None:
    for i in range(7):
        store.put(("p",), f"k{i}", {"text": f"item {i}"})
    assert keys(store.search(("p",), limit=3)) == ["k0", "k1", "k2"]
    assert keys(store.search(("p",), limit=3, offset=3)) == ["k3", "k4", "k5"]
    assert keys(store.search(("p",), limit=3, offset=6)) == ["k6"]
    assert store.search(("p",), offset=10) == []
    assert len(store.search(("p",))) == 7  # the default limit is 10


@pytest.fixture
def shop(store: BaseStore) -> BaseStore:
    rows = [
        ("apple", {"text": "red apple", "color": "red", "price": 4.5, "tags": ["fruit"]}),
        ("car", {"text": "red car", "color": "red", "price": 3, "meta": {"used": True}}),
        ("pear", {"text": "green pear", "color": "green", "price": 4.0, "tags": ["fruit"]}),
        ("bus", {"text": "blue bus", "color": "blue", "price": 3.5, "meta": {"used": False}}),
    ]
    for key, value in rows:
        store.put(("shop",), key, value)
    return store


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ({"color": "red"}, ["apple", "car"]),
        ({"color": {"$eq": "green"}}, ["pear"]),
        ({"color": {"$ne": "red"}}, ["pear", "bus"]),
        ({"price": {"$gt": 3.5}}, ["apple", "pear"]),
        ({"price": {"$gte": 3.5}}, ["apple", "pear", "bus"]),
        ({"price": {"$lt": 4}}, ["car", "bus"]),
        ({"price": {"$lte": 4}}, ["car", "pear", "bus"]),
        ({"price": {"$gt": 3, "$lt": 4.5}}, ["pear", "bus"]),
        ({"price": {"$gte": 3.0}, "color": "red"}, ["apple", "car"]),
        ({"price": 3}, ["car"]),  # 3 == 3.0 in Python and in JSON numbers
        ({"meta": {"used": True}}, ["car"]),  # nested objects match key by key
        ({"tags": ["fruit"]}, ["apple", "pear"]),  # lists match element by element
        ({"color": "purple"}, []),
        ({"missing": None}, ["apple", "car", "pear", "bus"]),  # absent reads as None
    ],
)
def test_search_filters(shop: BaseStore, conditions: dict[str, Any], expected: list[str]) -> None:
    assert keys(shop.search(("shop",), filter=conditions)) == expected


def test_bad_filters_raise(shop: BaseStore) -> None:
    with pytest.raises(TypeError):  # an order on a missing field: float(None)
        shop.search(("shop",), filter={"weight": {"$gt": 1}})
    with pytest.raises(ValueError, match="Unsupported operator"):
        shop.search(("shop",), filter={"price": {"$near": 1}})


# --- search with a query ----------------------------------------------------------------------
def test_query_ranks_by_similarity(shop: BaseStore) -> None:
    hits = shop.search(("shop",), query="apple")
    assert hits[0].key == "apple"
    assert all(isinstance(h.score, float) for h in hits)
    scores = [h.score for h in hits]
    assert scores == sorted(scores, reverse=True)  # type: ignore[type-var]
    assert shop.search(("shop",), query="green pear")[0].key == "pear"


def test_query_with_filter_offset_limit(shop: BaseStore) -> None:
    assert keys(shop.search(("shop",), query="car", filter={"color": "red"})) == ["car", "apple"]
    everything = keys(shop.search(("shop",), query="red car"))
    assert keys(shop.search(("shop",), query="red car", limit=2)) == everything[:2]
    assert keys(shop.search(("shop",), query="red car", limit=2, offset=2)) == everything[2:4]
    assert shop.search(("shop",), query="red car", filter={"color": "none"}) == []


def test_query_scores_are_cosine(shop: BaseStore) -> None:
    hit = shop.search(("shop",), query="red apple", limit=1)[0]
    assert hit.key == "apple" and hit.score == pytest.approx(1.0)
    assert hit.dict()["score"] == pytest.approx(1.0)


def test_empty_query_lists(shop: BaseStore) -> None:
    assert keys(shop.search(("shop",), query="")) == ["apple", "car", "pear", "bus"]


def test_overwrite_reindexes(store: BaseStore) -> None:
    store.put(("t",), "d1", {"text": "zany zebra xerxes"})
    store.put(("t",), "d2", {"text": "something about dogs"})
    before = store.search(("t",), query="zany xerxes")[0]
    store.put(("t",), "d1", {"text": "new text about dogs"})
    after = {h.key: h.score for h in store.search(("t",), query="zany xerxes")}
    assert before.key == "d1" and after["d1"] < before.score  # type: ignore[operator]


def test_unindexed_items_fill_the_page_without_score(store: BaseStore) -> None:
    store.put(("t",), "a", {"text": "dogs bark"})
    store.put(("t",), "b", {"text": "dogs bark"}, index=False)
    store.put(("t",), "c", {"other": "no text field"})  # nothing at the indexed path
    hits = store.search(("t",), query="dogs bark", limit=5)
    assert [(h.key, h.score is None) for h in hits] == [("a", False), ("b", True), ("c", True)]
    assert keys(store.search(("t",), query="dogs bark", limit=1)) == ["a"]


def test_put_index_overrides_fields(store: BaseStore) -> None:
    store.put(("t",), "a", {"text": "cats", "summary": "rockets"}, index=["summary"])
    store.put(("t",), "b", {"text": "rockets", "summary": "cats"})
    assert keys(store.search(("t",), query="rockets")) == ["a", "b"]


def test_whole_document_and_array_paths(make_store: StoreFactory) -> None:
    whole = make_store(index={"dims": DIMS, "embed": embed})  # fields default to ["$"]
    whole.put(("t",), "a", {"title": "rockets", "body": "fly"})
    whole.put(("t",), "b", {"title": "cats", "body": "sleep"})
    assert whole.search(("t",), query="cats sleep")[0].key == "b"
    arrays = make_store(index={"dims": DIMS, "embed": embed, "fields": ["notes[*].text"]})
    arrays.put(("t",), "a", {"notes": [{"text": "tea"}, {"text": "rockets"}]})
    arrays.put(("t",), "b", {"notes": [{"text": "cats"}]})
    hit = arrays.search(("t",), query="rockets")[0]  # any element's vector can match
    assert hit.key == "a" and hit.score == pytest.approx(1.0)


# --- namespaces --------------------------------------------------------------------------------
NAMESPACES = [
    ("a", "b", "c"),
    ("a", "b", "d", "e"),
    ("a", "b", "d", "i"),
    ("a", "b", "f"),
    ("a", "c", "f"),
    ("b", "a", "f"),
    ("users", "123"),
    ("users", "456", "settings"),
]


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({}, sorted(NAMESPACES)),
        ({"prefix": ("a", "b")}, NAMESPACES[:4]),
        ({"suffix": ("f",)}, [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]),
        ({"prefix": ("a",), "suffix": ("f",)}, [("a", "b", "f"), ("a", "c", "f")]),
        ({"prefix": ("a", "*", "f")}, [("a", "b", "f"), ("a", "c", "f")]),
        ({"suffix": ("*", "f")}, [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]),
        (
            {"prefix": ("a", "b"), "max_depth": 3},
            [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")],
        ),
        ({"max_depth": 1}, [("a",), ("b",), ("users",)]),
        ({"prefix": ("a", "b"), "limit": 2}, NAMESPACES[:2]),
        ({"prefix": ("a", "b"), "offset": 2}, NAMESPACES[2:4]),
        ({"prefix": ("users", "123")}, [("users", "123")]),
        ({"prefix": ("nonexistent",)}, []),
    ],
)
def test_list_namespaces(store: BaseStore, kwargs: dict[str, Any], expected: list[Any]) -> None:
    for i, namespace in enumerate(NAMESPACES):
        store.put(namespace, f"id{i}", {"text": f"value {i}"})
    assert store.list_namespaces(**kwargs) == expected


def test_emptied_namespace_is_not_listed(request: pytest.FixtureRequest, store: BaseStore) -> None:
    differs_on(request, "InMemoryStore", "InMemoryStore keeps listing a namespace it emptied")
    store.put(("gone",), "k", {"text": "x"})
    store.delete(("gone",), "k")
    assert store.list_namespaces() == []


def test_reading_does_not_create_a_namespace(
    request: pytest.FixtureRequest, store: BaseStore
) -> None:
    differs_on(request, "InMemoryStore", "InMemoryStore lists a namespace once a get names it")
    store.get(("ghost",), "k")
    assert store.list_namespaces() == []


@pytest.mark.parametrize("namespace", [(), ("has.dot",), ("a", ""), ("langgraph", "x")])
def test_invalid_namespaces_are_refused(store: BaseStore, namespace: tuple[str, ...]) -> None:
    with pytest.raises(InvalidNamespaceError):
        store.put(namespace, "k", {"text": "x"})


def test_labels_that_look_like_encodings_stay_apart(store: BaseStore) -> None:
    odd = [("a%2E", "b"), ("a", "%2Eb"), ("a:b",), ("lg:a",), ("a", "b", "c"), ("ünï", "😀")]
    for i, namespace in enumerate(odd):
        store.put(namespace, "k", {"text": str(i)})
    for i, namespace in enumerate(odd):
        item = store.get(namespace, "k")
        assert item is not None and item.value == {"text": str(i)} and item.namespace == namespace
    assert store.list_namespaces() == sorted(odd)


# --- batch and async -------------------------------------------------------------------------
def test_batch_of_mixed_ops(store: BaseStore) -> None:
    store.put(("b",), "old", {"text": "old"})
    results = store.batch(
        [
            PutOp(("b",), "k", {"text": "one"}),
            GetOp(("b",), "k"),  # reads see the store as it was before the batch's puts
            GetOp(("b",), "old"),
            SearchOp(("b",)),
            ListNamespacesOp(),
            PutOp(("b",), "k", {"text": "two"}),  # the last put of a key wins
            PutOp(("b",), "old", None),  # a put of None deletes
            PutOp(("c",), "n", {"text": "new"}),
        ]
    )
    assert len(results) == 8
    assert results[0] is None and results[1] is None
    assert results[2] is not None and results[2].value == {"text": "old"}  # type: ignore[union-attr]
    assert keys(results[3]) == ["old"]  # type: ignore[arg-type]
    assert results[4] == [("b",)]
    assert results[5:] == [None, None, None]
    got = store.get(("b",), "k")
    assert got is not None and got.value == {"text": "two"}
    assert store.get(("b",), "old") is None
    assert store.list_namespaces() == [("b",), ("c",)]


def test_async_forms(store: BaseStore) -> None:
    async def scenario() -> None:
        await store.aput(("as",), "a", {"text": "async apple", "n": 1})
        await store.aput(("as",), "b", {"text": "async bus", "n": 2})
        item = await store.aget(("as",), "a")
        assert item is not None and item.value["n"] == 1
        assert keys(await store.asearch(("as",), query="bus")) == ["b", "a"]
        assert keys(await store.asearch(("as",), filter={"n": {"$gte": 2}})) == ["b"]
        assert await store.alist_namespaces() == [("as",)]
        await store.adelete(("as",), "a")
        assert await store.aget(("as",), "a") is None
        results = await store.abatch([GetOp(("as",), "b"), PutOp(("as",), "c", {"text": "c"})])
        assert results[0] is not None and results[1] is None
        found = await asyncio.gather(store.aget(("as",), "b"), store.aget(("as",), "c"))
        assert [i.key for i in found if i is not None] == ["b", "c"]

    asyncio.run(scenario())


def test_async_only_embed_function(make_store: StoreFactory) -> None:
    store = make_store(index={"dims": DIMS, "embed": aembed, "fields": ["text"]})

    async def scenario() -> None:
        await store.aput(("ae",), "a", {"text": "tea time"})
        await store.aput(("ae",), "b", {"text": "rocket launch"})
        assert (await store.asearch(("ae",), query="rocket"))[0].key == "b"

    asyncio.run(scenario())
    with pytest.raises(ValueError):  # a sync call cannot run an async-only embed function
        store.put(("ae",), "c", {"text": "sync"})
