"""Facts that cannot answer the question rank lower (retrieve/answers.py), and the slot rules
read homes and cars the way people mention them (one home at two scales, a planned move, a
street address, a model year). Search tests run through the public API on both stores."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from conftest import tell, top_fact

from engramdb import Memory
from engramdb.encode.facts.rules import Message, extract
from engramdb.retrieve.answers import answers, read_question

NAMES = {"yuki", "taro", "lily"}


def _answers(question: str, fact: str) -> bool:
    return answers(read_question(question), fact, NAMES)


def test_a_fact_that_only_repeats_the_question_does_not_answer_it() -> None:
    question = "What is Marcus's relationship with Nina now?"
    assert not _answers(question, "Marcus is in a relationship with Nina")
    assert _answers(question, "Marcus is engaged")
    # a yes/no question is answered by a fact that repeats it
    assert _answers("Is Marcus married?", "Marcus is married")
    # a slot template's words ("lives in", "(home)") are not news; its value is
    assert not _answers("Where does Emma live?", "Emma lives in (home)")
    assert _answers("Where does Emma live?", "Emma lives in Portland (home)")


def test_who_and_what_called_questions_want_a_name_the_question_lacks() -> None:
    assert read_question("Who is Yuki married to?").kind == "name"
    assert read_question("What is Lily's dog called?").kind == "name"
    assert not _answers("Who is Yuki married to?", "Yuki is married")
    assert _answers("Who is Yuki married to?", "Yuki is in a relationship with Taro")
    assert not _answers("What is Lily's dog called?", "Lily has a pet: dog")
    assert _answers("What is Lily's dog called?", "We renamed the dog Ziggy.")
    # any word opens a sentence in capitals: a known name counts there, "Same" does not
    assert _answers("Who cooks?", "Taro cooks every night.")
    assert not _answers("Who cooks?", "Same as always, every night.")


def test_how_many_wants_a_number_and_where_a_place_or_its_absence() -> None:
    assert not _answers("How many cats does Carlos have?", "Carlos has a pet: cat")
    assert _answers("How many cats does Carlos have?", "So now it's three cats.")
    where = "Where does Aisha work?"
    assert read_question(where).kind == "place"
    assert not _answers(where, "Aisha is a senior architect now! Same firm, bigger projects.")
    assert _answers(where, "Aisha works at Foster (employer)")
    assert _answers(where, "Aisha teaches at the community college.")
    assert _answers(where, "Aisha is officially retired!")
    assert not _answers(where, "Always. Aisha eats dinner at 1am.")
    assert not _answers(where, "Dinner at Aisha's. NO sleep.")  # a person, capitals: no place
    assert _answers(where, "We moved it to Aisha's parents' backyard.")
    # questions of no particular kind only need something new
    assert read_question("How does Anna feel about running?").kind is None


def test_search_prefers_facts_that_answer(memory: Memory) -> None:
    user = f"yuki-{uuid.uuid4().hex[:8]}"
    tell(
        memory,
        user,
        [
            ("2022-04-03T10:00:00Z", "My husband Taro and I are planning our garden for spring."),
            ("2023-01-28T10:00:00Z", "Hana and Lorenzo split up before the holidays."),
            ("2023-05-06T10:00:00Z", "We adopted a rescue dog! The shelter called him Rex."),
        ],
        "Yuki",
    )
    assert "Taro" in top_fact(memory, user, "Who is Yuki married to?")
    # lowered, not removed: a slot fact far closer to the question than the note that names
    # the dog still ranks first ("Yuki has a pet: dog" for "What is Yuki's dog called?")
    dog = memory.search("What is Yuki's dog called?", user_id=user, kinds=["fact"])
    plain = memory.search(
        "What is Yuki's dog called?", user_id=user, kinds=["fact"], options={"unanswered": 1.0}
    )
    lowered = {h.text: h.score for h in dog}["Yuki has a pet: dog"]
    assert lowered < {h.text: h.score for h in plain}["Yuki has a pet: dog"] * 0.51
    # the lowered facts are still there, and still rank for a question they do answer
    assert "married" in top_fact(memory, user, "Is Yuki married or single?")
    off = memory.search(
        "Who is Yuki married to?", user_id=user, kinds=["fact"], options={"unanswered": 1.0}
    )
    assert off[0].text == "Yuki is married"


def test_a_newer_fact_that_answers_replaces_an_older_one_through_one_that_does_not(
    memory: Memory,
) -> None:
    user = f"carlos-{uuid.uuid4().hex[:8]}"
    tell(
        memory,
        user,
        [
            ("2022-09-09T10:00:00Z", "I have two cats, Mochi and Taro."),
            ("2023-04-16T10:00:00Z", "Oops, we adopted a third cat. Now it's three cats."),
        ],
        "Carlos",
    )
    # the slot fact "Carlos has a pet: cat" links the two but names no number
    assert "three" in top_fact(memory, user, "How many cats does Carlos have?")
    assert "two" in top_fact(memory, user, "How many cats did Carlos have?", "2022-12-01")


def _slots(text: str, said: datetime = datetime(2022, 8, 1, tzinfo=UTC)) -> list[object]:
    found = extract(Message("Emma", text, said, "m1", -1))
    return [(f.subject, f.attribute, f.value, f.event_time) for f in found if f.op == "set"]


def test_one_home_at_two_scales_is_one_fact() -> None:
    said = datetime(2022, 8, 1, tzinfo=UTC)
    assert _slots("It's minus 20 here in Toronto. I live in the Annex.") == [
        ("Emma", "home", "Toronto, Annex", said)
    ]
    moved = _slots("I moved back to Berlin. Got a place in Neukölln this time.")
    assert moved == [("Emma", "home", "Berlin, Neukölln", said)]


def test_a_planned_move_is_a_home_from_the_day_of_the_move() -> None:
    said = datetime(2022, 8, 1, tzinfo=UTC)
    assert _slots("We're moving to Portland next month.") == [
        ("Emma", "plan", "move to Portland", said),
        ("Emma", "home", "Portland", datetime(2022, 9, 1, tzinfo=UTC)),
    ]
    # a move someone only considers is a plan, not a home
    assert [s[1] for s in _slots("I'm thinking about moving to Denver.")] == ["plan"]


def test_street_houses_and_model_years() -> None:
    assert ("Emma", "home", "Maple Street") in [
        s[:3] for s in _slots("First night in the Maple Street house. So quiet.")
    ]
    assert [s[:3] for s in _slots("I drive a 2012 Honda Civic with 200k miles on it.")] == [
        ("Emma", "car", "Honda Civic")
    ]
    assert ("Emma", "car", "Tesla Model") in [
        s[:3] for s in _slots("Traded in the Civic and picked up a Tesla Model 3!")
    ]


def _grounded(subject: str, attribute: str, value: str, text: str) -> object:
    from engramdb.encode.facts.llm import ExtractedFact, _grounded

    fact = ExtractedFact(message=1, subject=subject, attribute=attribute, value=value, change="set")
    draft = _grounded(fact, Message("Yuki", text, datetime(2023, 8, 6, tzinfo=UTC), "m", -1), "m")
    return None if draft is None else (draft.subject, draft.attribute, draft.value)


def test_model_claims_read_from_requests_or_given_to_the_speaker_are_checked() -> None:
    # a small model reads a plan into a request, and the speaker into someone else's news
    ask = "Can you build me a plan for a half marathon next spring?"
    assert _grounded("Yuki", "plan", "half marathon", ask) is None
    news = "Hana has a new boyfriend now, Mateo. He's a nurse."
    assert _grounded("Yuki", "partner", "Mateo", news) == ("Hana", "partner", "Mateo")
    assert _grounded("Yuki", "home", "Osaka", "I moved to Osaka.") == ("Yuki", "home", "Osaka")


def _homes(mem: Memory, user: str, as_of: str | None = None) -> list[str | None]:
    hits = mem.search("Where does Emma live?", user_id=user, kinds=["fact"], as_of=as_of)
    return [h.value for h in hits if h.attribute == "home"]


def test_a_move_counts_from_its_day_and_a_called_off_move_never(memory: Memory) -> None:
    user = f"emma-{uuid.uuid4().hex[:8]}"
    tell(
        memory,
        user,
        [
            ("2022-02-10T10:00:00Z", "I live in Seattle, in Capitol Hill."),
            ("2022-08-01T10:00:00Z", "We're moving to Portland at the end of the month."),
        ],
        "Emma",
    )
    assert _homes(memory, user, "2022-08-10") == ["Seattle"]
    assert _homes(memory, user) == ["Portland"]
    assert "Portland" in top_fact(memory, user, "Where does Emma live now?")
    other = f"emma-{uuid.uuid4().hex[:8]}"
    tell(
        memory,
        other,
        [
            ("2022-02-10T10:00:00Z", "I live in Seattle."),
            ("2022-08-01T10:00:00Z", "We're moving to Austin next month!"),
            ("2022-08-20T10:00:00Z", "The Austin move fell through, we cancelled it."),
        ],
        "Emma",
    )
    assert _homes(memory, other) == ["Seattle"]
    assert _homes(memory, other, "2022-09-15") == ["Seattle"]
    closed = [f for f in memory.list(user_id=other, kind="fact") if f.value == "Austin"]
    assert closed and all(f.valid_to == f.valid_from for f in closed)  # kept, never true


def test_notes_that_name_the_same_place_are_on_one_topic(memory: Memory) -> None:
    user = f"ana-{uuid.uuid4().hex[:8]}"
    tell(
        memory,
        user,
        [
            ("2024-01-15T10:00:00Z", "We're planning two weeks in Peru this summer! Lima, Cusco."),
            (
                "2024-03-22T10:00:00Z",
                "Bad news: Peru flights doubled in price. We cancelled and booked Greece instead."
                " Athens and Crete in July.",
            ),
        ],
        "Ana",
    )
    # the two notes are far apart as vectors; "Peru" in both ties them
    assert "Greece" in top_fact(memory, user, "Where is Ana going on vacation this summer?")
    assert "Lima" in top_fact(memory, user, "Where was Ana going?", "2024-02-01")


def test_spouses_divorces_and_leaving_a_desk() -> None:
    assert [s[1:3] for s in _slots("From a sunbed in Crete. The husband is asleep.")] == [
        ("relationship_status", "married")
    ]
    assert ("relationship_status", "divorced") in [
        s[1:3] for s in _slots("Signed the divorce papers today. Relief and grief.")
    ]
    found = extract(Message("Emma", "Cleared out my desk at Brightwell today.", None, "m", -1))
    assert [(f.attribute, f.value, f.op) for f in found] == [
        ("employer", "Brightwell", "end"),
        ("job", "", "end"),
    ]
    assert [s[1:3] for s in _slots("Onboarding at Pennant is sooo corporate.")] == [
        ("employer", "Pennant")
    ]


def test_names_in_any_script_acronyms_and_places_that_are_not() -> None:
    where = "Where does Daniel live?"
    assert _answers(where, "Daniel lives in Łódź (home)")
    assert _answers("Where does Daniel work?", "Daniel works at IBM")
    assert _answers("Who is Daniel dating?", "Daniel is dating Élodie")
    assert not _answers("Where does Daniel work?", "Daniel loves to cook. OMG.")
    assert read_question("And where does he work?").kind == "place"
    assert read_question("What city does she live in?").kind == "place"


def test_readings_that_are_not_what_they_seem() -> None:
    said = datetime(2022, 5, 3, tzinfo=UTC)
    # a film's husband, someone else's house, a ride, a laptop: no status, home, car or end
    assert _slots("The husband in that movie was awful.", said) == []
    assert _slots("We stayed at their Elm Street house for the weekend.", said) == []
    assert [s[1] for s in _slots("I picked up my Uber at the airport.", said)] == []
    laptop = extract(Message("Emma", "I sold my MacBook.", said, "m", -1))
    assert [(f.attribute, f.value, f.op) for f in laptop] == [("car", "MacBook", "end")]
    final = extract(Message("Emma", "Final day at Google today.", said, "m", -1))
    assert ("employer", "Google", "end") in [(f.attribute, f.value, f.op) for f in final]
    # the month May is no hedge; a move in May is a home from then
    assert ("home", "Denver") in [s[1:3] for s in _slots("We're moving to Denver in May.", said)]


def test_absurd_times_break_neither_an_add_nor_a_search(memory: Memory) -> None:
    user = f"far-{uuid.uuid4().hex[:8]}"
    tell(memory, user, [("2022-05-03T10:00:00Z", "See you in 9000 years, lol.")], "Emma")
    assert memory.search("what happens in 9000 years?", user_id=user)


def test_model_claims_name_whole_words_and_wait_for_the_rules() -> None:
    from engramdb.encode.facts.extractor import _gaps
    from engramdb.encode.facts.model import FactDraft

    assert _grounded("Yuki", "job", "cook", "Ben cooked risotto from scratch.") is None
    assert _grounded("Yuki", "pet", "cat", "We have two cats now.") == ("Yuki", "pet", "cat")

    def claim(attribute: str, value: str, actor: str) -> FactDraft:
        return FactDraft("Maya", attribute, value, None, ["m1"], actor=actor)

    ruled = [claim("job", "nurse", "rules")]
    modelled = [claim("job", "email", "model"), claim("home", "Leeds", "model")]
    # by default the model only fills what the rules did not read
    assert [(c.attribute, c.value) for c in ruled + _gaps(ruled, modelled)] == [
        ("job", "nurse"),
        ("home", "Leeds"),
    ]


def test_marital_status_asks_for_a_relationship() -> None:
    from engramdb.retrieve.intent import asked_attributes

    assert "relationship_status" in asked_attributes("What is Keiko's marital status now?")
