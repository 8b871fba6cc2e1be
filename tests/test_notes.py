"""Notes (a person's statements kept as facts in their own words) and the fact reordering of
search (the person the question names, the newest word on a topic), through the public API on
both stores with the default MiniLM embedder."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

from conftest import top_fact

from engramdb import Memory
from engramdb.encode.facts.notes import notes, sentences, third_person
from engramdb.encode.facts.rules import Message

# jobs and a seat preference in words the slot rules have no pattern for
DANIEL = [
    ("2022-09-01T16:00:00Z", "d1", "I teach 7th grade science at Lincoln Middle School."),
    ("2022-09-01T16:05:00Z", "d2", "Can you suggest a podcast for the train?"),
    ("2023-02-03T09:00:00Z", "d3", "My sister Ana just started at the Getty as a curator."),
    ("2023-08-28T17:40:00Z", "d4", "I started at Shopify: Monday standup instead of homeroom."),
    ("2023-09-02T08:00:00Z", "d5", "I always book an aisle seat on long flights."),
    ("2024-03-10T08:00:00Z", "d6", "New rule: window seat only, I want to sleep on flights now."),
]


def _message(text: str, speaker: str = "Daniel") -> Message:
    return Message(speaker, text, datetime(2024, 1, 1, tzinfo=UTC), "m1", -1)


def _tell(mem: Memory, user: str) -> None:
    for stamp, message_id, text in DANIEL:
        mem.add(
            [{"content": text, "speaker": "Daniel", "id": message_id}],
            user_id=user,
            timestamp=stamp,
            wait=True,
        )


def test_a_statement_becomes_a_third_person_note_about_its_subject() -> None:
    found = notes(_message("Big news: I'm starting at St. Mary's in July. I love it there!"))
    assert [(n.subject, n.attribute, n.value) for n in found] == [
        (
            "Daniel",
            "note",
            "Big news: Daniel is starting at St. Mary's in July. Daniel loves it there!",
        )
    ]
    kin = notes(_message("My brother Sam got an offer from Microsoft. He starts in May."))
    assert [(n.subject, n.value) for n in kin] == [
        ("Sam", "Daniel's brother Sam got an offer from Microsoft. He starts in May.")
    ]


def test_a_capitalised_word_is_a_subject_only_with_a_verb_after_it() -> None:
    (trip,) = notes(_message("Japan flights doubled in price. We booked Portugal instead."))
    assert trip.subject == "Daniel"
    (place,) = notes(_message("Lisbon and the Algarve in July. Edinburgh winters were long."))
    assert place.subject == "Daniel"
    (mark,) = notes(_message("Mark finally left Ford! He starts at Tesla in May."))
    assert (mark.subject, mark.value) == (
        "Mark",
        "Mark finally left Ford! He starts at Tesla in May.",
    )
    assert notes(_message("Ruby is at Oakwood."))[0].subject == "Ruby"
    assert notes(_message("Our daughter Hana got a job."))[0].subject == "Hana"
    # two names and an irregular past: about the first; an abstract noun is nobody
    assert notes(_message("Hana and Lorenzo split up before the holidays."))[0].subject == "Hana"
    (retired,) = notes(_message("Retirement is great. Golf every Tuesday and I'm reading."))
    assert retired.subject == "Daniel" and retired.value.startswith("Retirement is great.")
    # "he"/"she" after someone is introduced is that person; openers do not hide a subject
    joel = notes(_message("Bumped into Joel, my old flatmate. He's still in the Hackney flat."))
    assert [n.subject for n in joel] == ["Daniel", "Joel"]
    anyway = notes(_message("Anyway, my brother got a job. He starts at Google on Monday."))
    assert [n.subject for n in anyway] == ["Daniel's brother"]
    dad = notes(_message("Meanwhile my dad is off to Tokyo in May. The universe mocks me."))
    assert [n.subject for n in dad] == ["Daniel's dad", "Daniel"]


def test_questions_requests_and_scraps_are_not_notes() -> None:
    for text in (
        "Can you remind me to call the vet?",
        "What's a good pasta recipe?",
        "Thanks a lot!",
        "Ok.",
        "Please book a table for two.",
        "Happy new year!",
        "They do! It's a whole thing.",
        "You'd be great at that.",
        "Hey Mel!",
    ):
        assert notes(_message(text)) == [], text
    mixed = notes(_message("Where is my phone? I left it at Kai's place. Could you call Kai?"))
    assert [n.value for n in mixed] == ["Daniel left it at Kai's place."]
    greeted = notes(_message("Hey Mel! You'd love it. I painted a lake sunrise last week."))
    assert [n.value for n in greeted] == ["Daniel painted a lake sunrise last week."]


def test_sentences_and_third_person_forms() -> None:
    assert sentences("I live on St. James Street now. Dr. Lee moved!") == [
        "I live on St. James Street now.",
        "Dr. Lee moved!",
    ]
    assert third_person("I've got my own place and I don't miss me old flat", "Ana") == (
        "Ana has got Ana's own place and Ana doesn't miss Ana old flat"
    )
    assert third_person("I study law, I watch films, I go out", "Ana") == (
        "Ana studies law, Ana watches films, Ana goes out"
    )


def test_the_newest_note_on_a_topic_answers_and_as_of_reads_the_past(memory: Memory) -> None:
    user = f"daniel-{uuid.uuid4().hex[:8]}"
    _tell(memory, user)
    assert "Shopify" in top_fact(memory, user, "Where does Daniel work now?")
    then = "2023-01-01T00:00:00Z"
    assert "Lincoln" in top_fact(memory, user, "Where did Daniel work?", as_of=then)
    assert "window" in top_fact(memory, user, "Which seat does Daniel prefer on flights?")
    past = top_fact(memory, user, "Which seat did Daniel want?", as_of="2023-12-01T00:00:00Z")
    assert "aisle" in past
    # the question names the sister: her note, not Daniel's newer job
    assert "Getty" in top_fact(memory, user, "Where does Daniel's sister Ana work?")
    # ... but a name after a preposition is not whom a question is about
    assert "window" in top_fact(memory, user, "Which seat does Daniel prefer flying with Ana?")
    # the older notes stay: nothing was closed, only ranked
    texts = [m.text for m in memory.list(user_id=user, kind="fact", limit=100)]
    assert any("aisle" in t for t in texts) and any("Lincoln" in t for t in texts)


def test_succession_can_be_switched_off(memory: Memory) -> None:
    user = f"daniel-{uuid.uuid4().hex[:8]}"
    _tell(memory, user)
    question = "Which seat does Daniel prefer on flights?"
    off = memory.search(question, user_id=user, kinds=["fact"], options={"succession": False})
    on = memory.search(question, user_id=user, kinds=["fact"])
    assert "window" in on[0].text
    # without it, ranking is by relevance alone: both seat notes are there, in some order
    seats = [h.text for h in off if "seat" in h.text]
    assert len(seats) == 2 and {h.id for h in off} == {h.id for h in on}


def test_notes_can_be_switched_off_and_are_off_in_fast_mode(tmp_path: Path) -> None:
    static = {"provider": "static"}
    with (
        Memory(tmp_path / "m.db", embedder=static, extraction={"notes": True}) as on,
        Memory(tmp_path / "n.db", embedder=static, extraction={"notes": False}) as off,
        Memory(tmp_path / "f.db", embedder=static) as fast,
    ):
        for mem in (on, off, fast):
            _tell(mem, "u")
        attributes = {m.attribute for m in on.list(user_id="u", kind="fact", limit=100)}
        assert "note" in attributes
        for mem in (off, fast):  # static vectors cannot tell topics apart: no notes by default
            assert all(m.attribute != "note" for m in mem.list(user_id="u", kind="fact", limit=100))
        assert fast.config.extraction.notes is None and not fast.config.notes_enabled()


def test_odd_speakers_and_scraps_neither_crash_nor_make_notes() -> None:
    # a name is no regex template; a row of dots or emoji says nothing
    for speaker in ("C:\\Users", "a\\1b", "Bob\\g<0>", "C++ Bot"):
        (note,) = notes(_message("I moved to Lisbon last week.", speaker))
        assert note.value == f"{speaker} moved to Lisbon last week.", speaker
    for text in (". . . . . . . .", "😂 😂 😂 😂 😂 😂 😂 😂", "?! ?! …", "   "):
        assert notes(_message(text)) == [], text
    (chat,) = notes(_message("i just moved to lisbon and i'm happy"))
    assert chat.value == "Daniel just moved to lisbon and Daniel is happy"
    assert third_person("I left, i.e. I quit.", "Ana") == "Ana left, i.e. Ana quit."


def test_statements_that_open_like_questions_or_with_another_person() -> None:
    said = [n.value for n in notes(_message("Your advice helped, I got the job at Google."))]
    assert said == ["Your advice helped, Daniel got the job at Google."]
    (young,) = notes(_message("When I was young I lived in Rome for five years."))
    assert young.value == "When Daniel was young Daniel lived in Rome for five years."
    (sam,) = notes(_message("Sam says he got the job at Google."))
    assert sam.subject == "Sam"
    (own,) = notes(_message("Mel is right, I should sell the car."))
    assert own.subject == "Daniel"  # the speaker's statement, a name in passing


def test_which_questions_ask_for_the_one_value_that_holds() -> None:
    from engramdb.retrieve.succession import asks_about_the_past, asks_for_a_list

    for past in ("When did she move?", "Where has Melanie camped?", "What was he reading?"):
        assert asks_about_the_past(past), past
    for now in ("Does Sam have children?", "Who has Maya been dating?", "Where does Ana work?"):
        assert not asks_about_the_past(now), now
    for many in ("What books has she read?", "Which causes does John support?"):
        assert asks_for_a_list(many), many
    for one in ("What bus does Sam take?", "Which campus does she study at?", "Which seat?"):
        assert not asks_for_a_list(one), one


def test_two_writers_saying_the_same_thing_make_one_note(tmp_path: Path) -> None:
    """Two handles on one store (two connections, as two processes have) add the same
    statement at once from different messages: one note, both messages its sources."""
    import threading

    options = {"embedder": {"provider": "static"}, "extraction": {"notes": True}}
    with Memory(tmp_path / "m.db", **options) as a, Memory(tmp_path / "m.db", **options) as b:
        barrier = threading.Barrier(2)

        def say(mem: Memory, message_id: str) -> None:
            barrier.wait()
            item = {"content": "I adopted a cat named Miso.", "speaker": "Ana", "id": message_id}
            mem.add([item], user_id="ana", timestamp="2024-03-01T10:00:00Z", wait=True)

        threads = [threading.Thread(target=say, args=(m, i)) for m, i in ((a, "x"), (b, "y"))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        found = [m for m in a.list(user_id="ana", kind="fact", limit=100) if m.attribute == "note"]
        assert len(found) == 1
        assert sorted(found[0].sources) == ["x", "y"]
