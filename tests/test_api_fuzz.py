"""Fuzz the Python API with hypothesis: every public operation with hostile arguments (nested
JSON metadata, dates at the calendar's ends, Unicode edge cases, wrong types). Each call
either works or raises an EngramError; anything else (RecursionError, OverflowError,
UnicodeEncodeError, a driver's own error) fails the test, shrunk to the smallest call."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from conftest import NO_NOTES, STATIC
from hostile import DATETIMES, GOOD_TEXT, STAMPS, TEXT, metadata, mostly
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stores import BACKENDS, new_schema

from engramdb import Memory
from engramdb.errors import EngramError

EXAMPLES = 500  # per backend: about 3 s each


@pytest.fixture(scope="module", params=BACKENDS)
def target(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    if request.param == "sqlite":
        return str(tmp_path_factory.mktemp("api-fuzz") / "memory.db")
    return new_schema(request.getfixturevalue("pg_base"))


@pytest.fixture(scope="module")
def memory(target: str) -> Iterator[Memory]:
    # rule-based facts on: extraction reads the hostile text too (times, names, claims)
    with Memory(target, embedder=STATIC, extraction=NO_NOTES) as m:
        yield m


USERS = mostly(
    st.sampled_from(["alice", "bob", "ſam", "名前", "\u200fRTL"]),
    st.one_of(TEXT, st.none(), st.integers()),
)
SCOPE = mostly(st.one_of(st.none(), st.sampled_from(["s1", "agent"])), TEXT)
CONTENT = mostly(GOOD_TEXT, TEXT)
MESSAGE = st.one_of(
    CONTENT,
    st.fixed_dictionaries(
        {"content": CONTENT},
        optional={
            "id": mostly(st.uuids().map(str), st.one_of(TEXT, st.integers(), st.booleans())),
            "speaker": mostly(st.sampled_from(["Ann", "Bo"]), TEXT),
            "role": mostly(st.just("user"), TEXT),
            "timestamp": STAMPS,
            "mood": metadata(),
            "ſ": CONTENT,
        },
    ),
)
MESSAGES = mostly(
    st.one_of(MESSAGE, st.lists(MESSAGE, min_size=1, max_size=4)),
    st.one_of(TEXT, st.lists(MESSAGE, max_size=0), st.integers(), st.binary()),
)
LIMITS = mostly(
    st.integers(1, 50), st.one_of(st.integers(-2, 20_000), st.sampled_from([True, None, "5", 2.5]))
)


class Calls:
    """Which operation ran and how it ended; ids of stored memories to aim edits at."""

    def __init__(self) -> None:
        self.outcomes: Counter[str] = Counter()
        self.ids: list[str] = ["no-such-memory"]

    def run(self, name: str, call: Callable[[], Any]) -> None:
        try:
            result = call()
        except EngramError as exc:
            assert str(exc).strip(), f"{name}: an EngramError without a message"
            self.outcomes[f"{name}: {type(exc).__name__}"] += 1
            return
        self.outcomes[f"{name}: ok"] += 1
        items = result if isinstance(result, list) else getattr(result, "episodes", [])
        self.ids.extend(i.id for i in items if hasattr(i, "kind"))


def operations(m: Memory, calls: Calls, draw: Callable[..., Any]) -> dict[str, Callable[[], Any]]:
    """One call of each public operation, its arguments drawn on demand."""
    # an index, not sampled_from(calls.ids): the ids grow, and hypothesis needs each draw to
    # take the same shape whenever it replays an example
    stored = st.integers(0, 10**6).map(lambda i: calls.ids[i % len(calls.ids)])
    memory_id = lambda: draw(mostly(stored, st.one_of(TEXT, st.integers())))  # noqa: E731
    return {
        "add": lambda: m.add(
            draw(MESSAGES), user_id=draw(USERS), session_id=draw(SCOPE), agent_id=draw(SCOPE),
            timestamp=draw(STAMPS), metadata=draw(metadata()),
        ),
        "ingest": lambda: m.ingest(
            draw(MESSAGES), user_id=draw(USERS), timestamp=draw(STAMPS),
            ttl=draw(mostly(st.one_of(st.none(), st.floats(1, 1e9)),
                            st.one_of(st.floats(), st.integers(-5, 10**400)))),
        ),
        "search": lambda: m.search(
            draw(CONTENT), user_id=draw(USERS), limit=draw(LIMITS),
            now=draw(mostly(st.one_of(st.none(), DATETIMES), TEXT)),
            as_of=draw(mostly(st.one_of(st.none(), DATETIMES), TEXT)),
            kinds=draw(st.one_of(st.none(), st.lists(st.sampled_from(["fact", "episode", "x"])))),
        ),
        "update": lambda: m.update(
            memory_id(), draw(CONTENT), user_id=draw(st.one_of(st.none(), USERS)),
            reason=draw(mostly(st.one_of(st.none(), GOOD_TEXT), st.one_of(TEXT, st.integers()))),
        ),
        "list": lambda: m.list(
            user_id=draw(USERS), limit=draw(LIMITS), cursor=draw(mostly(st.none(), TEXT)),
            kind=draw(st.one_of(st.none(), st.sampled_from(["fact", "episode"]), TEXT)),
            order=draw(st.sampled_from(["asc", "desc", "up"])),
        ),
        "get": lambda: m.get(memory_id(), user_id=draw(st.one_of(st.none(), USERS))),
        "history": lambda: m.history(memory_id()),
        "delete": lambda: m.delete(memory_id(), user_id=draw(st.one_of(st.none(), USERS))),
        "expire": lambda: m.expire(memory_id(), draw(STAMPS)),
        "importance": lambda: m.set_importance(memory_id(), draw(st.floats())),
        "profile": lambda: m.profile(draw(USERS), now=draw(st.one_of(st.none(), DATETIMES))),
        "relations": lambda: m.relations(draw(USERS), entity=draw(mostly(st.none(), TEXT))),
        "forget": lambda: m.forget(
            user_id=draw(st.one_of(st.none(), USERS)), now=draw(st.one_of(st.none(), DATETIMES))
        ),
    }  # fmt: skip


def test_the_python_api_raises_only_engram_errors(memory: Memory, target: str) -> None:
    calls = Calls()
    names = sorted(operations(memory, calls, lambda s: None))

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(name=st.sampled_from(names), data=st.data())
    def check(name: str, data: st.DataObject) -> None:
        calls.run(name, operations(memory, calls, data.draw)[name])

    check()
    runs = sum(calls.outcomes.values())
    backend = "postgresql" if target.startswith("postgresql") else "sqlite"
    print(f"\napi fuzz [{backend}]: {runs} calls, 0 stray exceptions")
    for outcome, count in sorted(calls.outcomes.items()):
        print(f"  {outcome}: {count}")
    assert runs >= EXAMPLES
    assert any(k.endswith(": ok") for k in calls.outcomes), "nothing ever succeeded"
