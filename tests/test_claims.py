"""Claims from the dependency parse (encode/claims) and what search does with them: who a
statement is about, its third-person text, tense and coexistence; as_of sees only the past;
the newest statement about the person asked comes first."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from engramdb.api.memory import Memory
from engramdb.encode.claims.extract import ClaimDraft, Conversation, claims_of
from engramdb.encode.claims.parser import parse


@pytest.fixture
def memory(primed_target: str) -> Iterator[Memory]:
    """The parse extractor and the present-first stage, on each backend."""
    m = Memory(primed_target, extraction={"mode": "parse"}, search={"present_first": True})
    yield m
    m.close()


def _claims(*messages: str, speaker: str = "Maya") -> list[list[ClaimDraft]]:
    context = Conversation()
    return [claims_of(list(d.sents), speaker, None, context) for d in parse(list(messages))]


def test_subjects_are_resolved_from_the_parse() -> None:
    dad, ann, sam = _claims(
        "My dad drives a Volvo.",
        "My sister Ann moved to Denver last May. She drives a Tesla now.",
        "My brother Sam just got an offer from Microsoft!",
    )
    assert [(c.subject, c.statement) for c in dad] == [("Maya's dad", "Maya's dad drives a Volvo.")]
    assert [c.subject for c in ann] == ["Ann", "Ann"]  # "she" is the sister named before
    assert ann[1].statement == "Ann drives a Tesla now."
    assert sam[0].subject == "Sam" and "Microsoft" in sam[0].statement


def test_statements_are_in_the_third_person() -> None:
    (start,), (moving,) = _claims(
        "I'm starting at St. Mary's Hospital in July as a clinical data manager.",
        "Moving to Denver next month!",
    )
    assert start.statement == (
        "Maya is starting at St. Mary's Hospital in July as a clinical data manager."
    )
    assert start.predicate == "start at"
    assert moving.statement == "Maya is moving to Denver next month."  # the dropped "I"


@pytest.mark.parametrize(
    "text",
    [
        "Thanks so much!",
        "Can you remind me to book a dentist appointment next week?",
        "Glad you had support. Being yourself is great!",
        "That sounds great",
        "Where do you live?",
        # opinions of things, and fragments that state nothing about anyone
        "Adoption sounds awesome.",
        "Finding self-acceptance was a long process.",
        "That's who I really am.",
        "To cherish my family.",
    ],
)
def test_no_claim_in_pleasantries_questions_or_remarks_about_the_listener(text: str) -> None:
    assert _claims(text) == [[]]


def test_a_thing_said_to_be_somewhere_or_someones_opinion_stays_a_claim() -> None:
    (wedding,), (dream,) = _claims(
        "The wedding is in June at my aunt's farm.", "My dream is to open a bakery."
    )
    assert "June" in wedding.statement
    assert dream.subject == "Maya's dream" and "bakery" in dream.statement


def test_tense_and_coexistence() -> None:
    plan, ended, past, second, listed = (
        claims[0]
        for claims in _claims(
            "I'm going to move to Austin next month.",
            "I don't eat meat anymore.",
            "I used to live in Boston.",
            "We also got a second cat, Luna.",
            "I have a cat and two dogs.",
        )
    )
    assert plan.tense == "planned" and plan.predicate == "move to"
    assert ended.tense == "ended" and ended.negated
    assert past.tense == "past"
    assert second.coexists and listed.coexists
    assert not _claims("I drive a Civic.")[0][0].coexists


def _tell(memory: Memory, user: str, lines: list[tuple[str, str]], speaker: str) -> None:
    for i, (when, text) in enumerate(lines):
        memory.add(
            [{"content": text, "speaker": speaker, "role": "user", "id": f"m{i}"}],
            user_id=user,
            session_id=f"s{i}",
            timestamp=when,
            wait=True,
        )


def test_a_newer_claim_supersedes_and_every_hit_says_so(memory: Memory) -> None:
    user = f"zoe-{uuid.uuid4().hex[:8]}"
    _tell(
        memory,
        user,
        [
            ("2023-01-10T10:00:00Z", "I drive a Honda Civic, it's been reliable."),
            ("2023-03-02T10:00:00Z", "My dad drives a Volvo, he loves it."),
            ("2023-09-20T10:00:00Z", "I drive a Tesla Model 3 now, sold the Honda."),
        ],
        "Zoe",
    )
    hits = memory.search("What car does Zoe drive?", user_id=user)
    assert "Tesla" in hits[0].text  # not the Civic, not the dad's Volvo
    old = [h for h in memory.search("Civic", user_id=user, kinds=["fact"])]
    assert old == [] or all("Civic" not in h.text or h.valid_to is not None for h in old)
    history = memory.search("Civic", user_id=user, as_of="2023-02-01T00:00:00Z", kinds=["fact"])
    assert any("Civic" in h.text for h in history)


def test_as_of_sees_only_what_had_been_said(memory: Memory) -> None:
    user = f"raj-{uuid.uuid4().hex[:8]}"
    _tell(
        memory,
        user,
        [
            ("2023-01-05T10:00:00Z", "I work as a nurse at the city hospital."),
            ("2024-01-15T10:00:00Z", "Big news: I left the hospital, I teach biology now."),
        ],
        "Raj",
    )
    then = memory.search("Where does Raj work?", user_id=user, as_of="2023-06-01T00:00:00Z")
    assert then and all(h.event_time is None or h.event_time.year == 2023 for h in then)
    assert "hospital" in then[0].text
    now = memory.search("Where does Raj work?", user_id=user)
    assert "biology" in now[0].text


def test_a_statement_about_someone_else_is_not_read_first(memory: Memory) -> None:
    user = f"noah-{uuid.uuid4().hex[:8]}"
    _tell(
        memory,
        user,
        [
            ("2023-02-01T10:00:00Z", "I take my dog Buddy to Dr. Patel at Greenway Clinic."),
            ("2023-08-01T10:00:00Z", "I switched Buddy to the Riverside vet, much closer."),
            ("2023-09-01T10:00:00Z", "My mom still takes her cat to Dr. Patel though."),
        ],
        "Noah",
    )
    hits = memory.search("Which vet does Noah take his dog to?", user_id=user)
    assert "Riverside" in hits[0].text
    off = memory.search(
        "Which vet does Noah take his dog to?", user_id=user, options={"present_first": False}
    )
    assert off  # the stage can be switched off


def test_a_short_form_of_a_speakers_name_is_that_speaker() -> None:
    context = Conversation(speakers={"Melanie", "Caroline"})
    said = parse(["Mel started pottery classes in July.", "Carol lives in Boston."])
    (mel,), (carol,) = [claims_of(list(d.sents), "Caroline", None, context) for d in said]
    assert mel.subject == "Melanie"  # "Mel": the one speaker whose name it begins
    assert carol.subject == "Caroline"
    assert Conversation(speakers={"Melanie", "Melissa"}).person("Mel") == "Mel"  # which one?
    assert Conversation(speakers={"Al"}).person("Al") == "Al"
