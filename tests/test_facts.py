"""Memory that stays true, through the public API on both stores: extraction (rules),
consolidation (ADD / NOOP / UPDATE / INVALIDATE), bi-temporal search, history and provenance,
the entity graph, the profile, expiry and forgetting, and deletes that leave nothing behind."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import STATIC, _target
from stores import BACKENDS

from engramdb import Hit, Memory

NOTES = {"notes": True}
JOB = [
    ("2023-01-05T10:00:00Z", "j1", "I work as a data analyst at Google."),
    ("2023-02-01T10:00:00Z", "j2", "My brother Tom lives in Oslo."),
    (
        "2023-06-10T10:00:00Z",
        "j3",
        "Big news: I quit my job at Google and I'm now a nurse at St. Mary's.",
    ),
    ("2023-07-01T10:00:00Z", "j4", "We moved to Denver last week."),
]


@pytest.fixture(scope="module", params=BACKENDS)
def mem(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Memory]:
    folder = tmp_path_factory.mktemp("facts")
    # notes explicitly: the static embedder turns them off by default
    m = Memory(_target(request, request.param, folder), embedder=STATIC, extraction=NOTES)
    yield m
    m.close()


def _slots(hits: list[Hit]) -> list[Hit]:
    """The slot facts among ``hits`` (notes aside)."""
    return [h for h in hits if h.attribute != "note"]


def _user() -> str:
    return f"maya-{uuid.uuid4().hex[:8]}"


def _tell(mem: Memory, user: str, lines: list[tuple[str, str, str]]) -> None:
    for stamp, message_id, text in lines:
        mem.add(
            [{"content": text, "speaker": "Maya", "id": message_id}],
            user_id=user,
            timestamp=stamp,
            wait=True,
        )


def _facts(mem: Memory, user: str) -> dict[str, list[object]]:
    """attribute → every version, oldest first."""
    found: dict[str, list[object]] = {}
    for item in reversed(mem.list(user_id=user, kind="fact", limit=1000)):
        found.setdefault(f"{item.subject}|{item.attribute}", []).append(item)
    return found


def test_a_contradiction_closes_the_old_fact_and_keeps_its_history(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, JOB)
    employers = _facts(mem, user)["Maya|employer"]
    google, marys = employers[0], employers[-1]
    assert google.value == "Google" and marys.value == "St. Mary's"  # type: ignore[attr-defined]
    switch = datetime(2023, 6, 10, 10, tzinfo=UTC)
    assert google.valid_to == switch and marys.valid_from == switch  # type: ignore[attr-defined]
    assert marys.valid_to is None  # type: ignore[attr-defined]
    events = [(h.event, h.actor) for h in mem.history(google.id)]  # type: ignore[attr-defined]
    assert events == [("ADD", "rules"), ("INVALIDATE", "rules")]
    assert mem.history(google.id)[-1].reason  # type: ignore[attr-defined]
    # the brother's home is his, not Maya's
    assert "Tom|home" in _facts(mem, user) and "Maya|home" in _facts(mem, user)


def test_search_ranks_only_valid_facts_unless_asked_as_of(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, JOB)
    now = mem.search("Where does Maya work?", user_id=user, kinds=["fact"])
    assert now and all(h.valid_to is None for h in now)
    assert not any(h.value == "Google" for h in now)
    then = mem.search("Where does Maya work?", user_id=user, kinds=["fact"], as_of="2023-03-01")
    assert any(h.value == "Google" for h in then)
    assert not any(h.value == "St. Mary's" for h in then)  # not yet true in March
    raw = mem.search("Google data analyst", user_id=user, kinds=["episode"])
    assert raw[0].sources == ["j1"]  # the message itself always stays searchable


def test_a_superseded_hit_names_what_replaced_it(store_target: str) -> None:
    """A message whose only claim was superseded is superseded, and says by what."""
    with Memory(store_target, embedder=STATIC, extraction={"notes": False}) as own:
        user = _user()
        lines = [
            ("2023-01-01T10:00:00Z", "h1", "I live in Lisbon."),
            ("2023-05-01T10:00:00Z", "h2", "I moved to Porto last week."),
        ]
        _tell(own, user, lines)
        homes = _facts(own, user)["Maya|home"]
        porto = next(f for f in homes if f.value == "Porto")  # type: ignore[attr-defined]
        hits = own.search("Lisbon", user_id=user, kinds=["episode"])
        old = next(h for h in hits if h.sources == ["h1"])
        assert old.status == "superseded"
        assert old.superseded_by == [porto.id]  # type: ignore[attr-defined]
        new = next(h for h in hits if h.sources == ["h2"])
        assert new.status == "current" and new.superseded_by == []


def test_facts_lead_to_their_messages(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, JOB)
    fact = _facts(mem, user)["Maya|home"][-1]
    assert fact.sources == ["j4"]  # type: ignore[attr-defined]
    (episode,) = mem.sources(fact.id, user_id=user)  # type: ignore[attr-defined]
    assert episode.kind == "episode" and episode.text == JOB[3][2]
    assert mem.sources(episode.id) == []


def test_re_adding_a_batch_changes_nothing(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, JOB)
    before = {i.id: (i.version, i.valid_to, i.sources) for i in mem.list(user_id=user, limit=1000)}
    history = {key: len(mem.history(key)) for key in before}
    _tell(mem, user, JOB)
    after = {i.id: (i.version, i.valid_to, i.sources) for i in mem.list(user_id=user, limit=1000)}
    assert after == before
    assert {key: len(mem.history(key)) for key in after} == history


def test_a_restated_fact_is_a_noop_that_adds_its_source(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, [("2023-01-01T09:00:00Z", "a", "I live in Lisbon.")])
    result = mem.ingest(
        [{"content": "I live in Lisbon, still love it.", "speaker": "Maya", "id": "b"}],
        user_id=user,
        timestamp="2023-05-01T09:00:00Z",
        wait=True,
    )
    # the slot fact is a NOOP; the restatement, in its own words, is a new note
    attribute = {f.id: f.attribute for f in result.facts}
    assert [(attribute[d.fact_id], d.event) for d in result.decisions] == [  # type: ignore[index]
        ("home", "NOOP"),
        ("note", "ADD"),
    ]
    (home,) = _facts(mem, user)["Maya|home"]
    assert home.sources == ["a", "b"]  # type: ignore[attr-defined]
    assert [h.event for h in mem.history(home.id)] == ["ADD", "NOOP"]  # type: ignore[attr-defined]


def test_a_late_arriving_older_message_is_slotted_into_the_past(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, [("2023-09-01T09:00:00Z", "new", "I moved to Porto.")])
    _tell(mem, user, [("2022-03-01T09:00:00Z", "old", "I moved to Madrid.")])
    homes = {h.value: h for h in _facts(mem, user)["Maya|home"]}  # type: ignore[attr-defined]
    assert homes["Porto"].valid_to is None
    assert homes["Madrid"].valid_to == homes["Porto"].valid_from
    current = mem.search("Where does Maya live?", user_id=user, kinds=["fact"])
    assert [h.value for h in _slots(current)] == ["Porto"]


def test_an_end_that_arrives_before_what_it_ends_still_ends_it(mem: Memory) -> None:
    user = _user()
    _tell(
        mem, user, [("2023-09-01T09:00:00Z", "b", "The Austin move fell through, we cancelled it.")]
    )
    _tell(mem, user, [("2023-05-01T09:00:00Z", "a", "We're moving to Austin in the spring.")])
    (plan,) = [f for f in _facts(mem, user)["Maya|plan"] if f.valid_to != f.valid_from]  # type: ignore[attr-defined]
    assert plan.value == "move to Austin"  # type: ignore[attr-defined]
    assert plan.valid_to == datetime(2023, 9, 1, 9, tzinfo=UTC)  # type: ignore[attr-defined]
    assert not _slots(mem.search("Where is Maya moving?", user_id=user, kinds=["fact"]))
    then = mem.search("Where is Maya moving?", user_id=user, kinds=["fact"], as_of="2023-06-01")
    assert [h.value for h in _slots(then)] == ["move to Austin"]


def test_an_end_claim_closes_without_a_replacement(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, [("2023-01-01T09:00:00Z", "a", "I'm dating Sam.")])
    _tell(mem, user, [("2023-04-01T09:00:00Z", "b", "Sam and I broke up.")])
    partners = _facts(mem, user)["Maya|partner"]
    assert partners[0].valid_to == datetime(2023, 4, 1, 9, tzinfo=UTC)  # type: ignore[attr-defined]
    profile = mem.profile(user)
    assert "Sam" not in profile.text and "single" in profile.text


def test_profile_holds_current_facts_pinned_first(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, JOB)
    profile = mem.profile(user)
    assert "St. Mary's" in profile.text and "Google" not in profile.text
    assert all(f.valid_to is None for f in profile.facts)
    marys = next(line for line in profile.text.splitlines() if "St. Mary's" in line)
    assert marys.endswith("(since 2023-06-10; said by Maya)")  # each with its date and source
    # notes are never closed (the one saying Maya works at Google is still there): they
    # stay out of the profile unless pinned
    assert all(f.attribute != "note" for f in profile.facts)
    tom = _facts(mem, user)["Tom|home"][0]
    mem.pin(tom.id)  # type: ignore[attr-defined]
    assert mem.profile(user).facts[0].id == tom.id  # type: ignore[attr-defined]
    note = _facts(mem, user)["Maya|note"][0]
    mem.pin(note.id)  # type: ignore[attr-defined]
    assert note.id in [f.id for f in mem.profile(user).facts]  # type: ignore[attr-defined]


def test_entity_graph_and_graph_signal(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, JOB)
    home = _facts(mem, user)["Maya|home"][-1]
    related = {f.text for f in mem.related(home.id) if f.attribute != "note"}  # type: ignore[attr-defined]
    assert related == {"Maya works at St. Mary's (employer)", "Maya works as nurse (job)"}
    names = {e.name for e in mem.entities(user)}
    assert {"Google", "Tom", "Oslo", "Denver"} <= names
    edges = {(r.subject, r.attribute, r.object) for r in mem.relations(user, entity="Tom")}
    assert edges == {("Tom", "home", "Oslo")}
    hits = mem.search("What about Oslo?", user_id=user, preset="graph")
    assert hits[0].signals["graph"] > 0
    assert "graph" not in mem.search("What about Oslo?", user_id=user)[0].signals  # hybrid


def test_ttl_expiry_and_forgetting(mem: Memory, tmp_path: Path) -> None:
    user = _user()
    result = mem.ingest(
        [{"content": "I'm staying at the Hilton in Rome this week.", "speaker": "Maya"}],
        user_id=user,
        ttl=3600,
        wait=True,
    )
    episode = result.episodes[0]
    assert episode.expires_at is not None
    later = datetime.now(UTC) + timedelta(hours=2)
    assert mem.search("Hilton Rome", user_id=user)
    assert not mem.search("Hilton Rome", user_id=user, now=later)
    assert mem.forget(user_id=user, now=later)["expired"] >= 1
    assert mem.count(user_id=user) == 0
    assert mem.history(episode.id)[-1].actor == "forget"


def test_deleting_a_message_deletes_the_facts_only_it_supports(mem: Memory) -> None:
    user = _user()
    _tell(mem, user, [("2023-01-01T09:00:00Z", "a", "I live in Lisbon.")])
    _tell(mem, user, [("2023-02-01T09:00:00Z", "b", "I adopted a cat named Miso.")])
    _tell(mem, user, [("2023-03-01T09:00:00Z", "c", "I live in Lisbon, by the sea.")])
    episodes = {e.sources[0]: e for e in mem.list(user_id=user, kind="episode")}
    mem.delete(episodes["b"].id)
    assert "Maya|pet" not in _facts(mem, user)  # its only source is gone
    mem.delete(episodes["a"].id)
    (home,) = _facts(mem, user)["Maya|home"]  # still supported by "c"
    assert home.sources == ["a", "c"]  # type: ignore[attr-defined]
    assert [e.sources for e in mem.sources(home.id)] == [["c"]]  # type: ignore[attr-defined]


def test_delete_all_removes_facts_graph_and_history(mem: Memory) -> None:
    user, other = _user(), _user()
    _tell(mem, user, JOB)
    _tell(mem, other, JOB)
    kept = mem.count(user_id=other)
    counts = mem.delete_all(user_id=user)
    for table in ("memories", "history", "entities", "memory_entities", "memory_links"):
        assert counts[table] > 0, table
    assert mem.count(user_id=user) == 0
    assert mem.entities(user) == [] and mem.relations(user) == []
    assert mem.profile(user).facts == []
    assert mem.count(user_id=other) == kept and mem.entities(other)


def test_a_remark_to_the_listener_is_no_fact_about_the_speaker() -> None:
    from engramdb.encode.facts import rules

    def likes(text: str) -> list[str]:
        said = rules.Message("Maya", text, datetime(2023, 1, 1, tzinfo=UTC), "m1", -1)
        return [f.value for f in rules.extract(said) if f.attribute == "likes"]

    assert likes("I love Bach.") == ["Bach"]
    assert likes("I love that you chose pottery!") == []  # about the listener: chat
    assert likes("Glad you all had fun, love you guys") == []
