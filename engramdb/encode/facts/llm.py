"""The model-backed extractor: a small model fills (subject, attribute, value, change) slots
for a few messages per call, under a JSON schema; deterministic checks then drop what the
messages do not support and fix who a claim is about."""

from __future__ import annotations

import logging
import re
from typing import Literal

from pydantic import BaseModel, Field, JsonValue, field_validator

from engramdb.encode.facts import rules
from engramdb.encode.facts.model import ATTRIBUTES, FactDraft, canonical_attribute
from engramdb.encode.facts.notes import is_statement, sentences
from engramdb.encode.facts.patterns import OCCUPATION
from engramdb.encode.text import query_terms
from engramdb.llm.base import ChatModel, LLMStats
from engramdb.llm.structured import ask_json

logger = logging.getLogger("engramdb.facts")

_VOCABULARY = [a for a in ATTRIBUTES if a not in ("other", "note")] + [
    "favorite_food",
    "favorite_drink",
]


MAX_FACTS = 8


class ExtractedFact(BaseModel):
    message: int = Field(ge=1, le=64)
    subject: str = Field(min_length=1, max_length=80)
    attribute: str = Field(json_schema_extra={"enum": list[JsonValue](_VOCABULARY)})
    value: str = Field(max_length=120)
    change: Literal["set", "end"]

    @field_validator("attribute")
    @classmethod
    def _canonical(cls, value: str) -> str:
        return canonical_attribute(value)


class ExtractedFacts(BaseModel):
    facts: list[ExtractedFact] = Field(max_length=MAX_FACTS)


SYSTEM = f"""You extract lasting personal facts from chat messages.
Answer with JSON: {{"facts": [{{"message": <number>, "subject": "<person>", \
"attribute": "<attribute>", "value": "<words from the message>", "change": "set" or "end"}}]}}
- subject: who the fact is about: the speaker's name when they say "I"; another person by \
their name (a brother, a friend)
- attribute: one of {", ".join(_VOCABULARY)}
- value: the new value, copied from the message (a company, a city, a job title, a name)
- change: "set" when it is true now; "end" when it stopped (quit, left, moved away, broke up, \
cancelled, sold, no longer)
Only facts the messages state. Nothing from questions or small talk. \
No facts: {{"facts": []}}"""

# an "end" claim needs a word that ends something; a small model says "end" too easily
_ENDING = re.compile(
    r"\b(?:quit|quitting|left|leaving|leave|resign\w*|notice|fired|laid off|retir\w*|moved|"
    r"moving|broke|break|split|divorc\w*|separat\w*|cancel\w*|called off|sold|gave up|"
    r"no longer|not anymore|anymore|stopp\w*|ended|over|ex|former|used to|passed away|died)\b",
    re.I,
)
_SELF = {"i", "me", "myself", "user", "the user", "speaker", "the speaker", "we", "us"}


def extract_batch(
    model: ChatModel, messages: list[rules.Message], stats: LLMStats, max_tokens: int
) -> list[FactDraft]:
    """Claims in a few messages; raises ``LLMError``/``LLMOutputError`` for the caller to
    fall back on (it never returns an empty list for a failed call)."""
    lines = []
    for i, message in enumerate(messages, 1):
        # no dates in the prompt: they pull a small model towards "age" facts; times are
        # resolved from the text by the deterministic parser instead
        lines.append(f"[{i}] {message.speaker}: {message.text}")
    prompt = [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": "Messages:\n" + "\n".join(lines)},
    ]
    reply = ask_json(model, prompt, ExtractedFacts, stats=stats, max_tokens=max_tokens)
    drafts = []
    for fact in reply.facts:
        if fact.message > len(messages):
            continue
        draft = _grounded(fact, messages[fact.message - 1], model.name)
        if draft is not None:
            drafts.append(draft)
    return drafts


def _grounded(fact: ExtractedFact, message: rules.Message, actor: str) -> FactDraft | None:
    """The claim as a draft, or None when the message does not support it."""
    text = message.text.lower()
    value = fact.value.strip().strip(".")
    words = query_terms(value)
    # whole words, or their plurals: "cook" is not in "he cooked risotto", "cat" is in "cats"
    said = set(query_terms(text, limit=10_000))
    if fact.change == "set" and (not words or not any(_said(w, said) for w in words)):
        logger.debug("dropped an ungrounded claim %r from %s", fact, actor)
        return None
    if fact.change == "end" and not _ENDING.search(message.text):
        logger.debug("dropped an end claim without an ending word %r from %s", fact, actor)
        return None
    if fact.change == "set" and not plausible(fact.attribute, value, message.text):
        logger.debug("dropped an implausible %s value %r from %s", fact.attribute, value, actor)
        return None
    if not _stated(message.text, words):  # "Can you build me a plan for…" plans nothing
        logger.debug("dropped a claim read from a question or request %r from %s", fact, actor)
        return None
    clause = _clause_with(message.text, words)
    subject = _subject(fact.subject, message.speaker, clause)
    when = (
        message.said_at
        if fact.attribute == "plan"
        else rules.event_time_of(clause, message.said_at)
    )
    return FactDraft(
        subject=subject,
        attribute=fact.attribute,
        value=value if fact.change == "set" or fact.attribute != "plan" else clause,
        event_time=when,
        sources=[message.message_id],
        episode_pks=[message.episode_pk],
        op=fact.change,
        confidence=0.7,
        actor=actor,
    )


_NAMED = ("employer", "home", "partner", "school", "car")
_STATUSES = {"single", "married", "engaged", "divorced", "widowed", "dating", "separated"}


def plausible(attribute: str, value: str, text: str) -> bool:
    """A type check per attribute: an employer, home, partner, school or car is a name the
    message capitalises; a job is an occupation noun or what follows "as a"; a status is one
    of a few words. Small models label any noun as a job; this keeps the junk out."""
    if attribute in _NAMED:
        return any(word[:1].isupper() for word in value.split()) and value in text
    if attribute == "job":
        return bool(OCCUPATION.search(value)) or bool(
            re.search(rf"\bas\s+(?:an?\s+)?{re.escape(value)}", text, re.I)
        )
    if attribute == "relationship_status":
        return value.lower() in _STATUSES
    if attribute == "age":
        return value.strip().isdigit()
    return True


def _said(word: str, said: set[str]) -> bool:
    return word in said or f"{word}s" in said or f"{word}es" in said


def _stated(text: str, words: list[str]) -> bool:
    """Whether the sentence holding the claim's words (else any sentence) states something."""
    found = sentences(text) or [text]
    holding = [s for s in found if words and all(w in s.lower() for w in words)]
    return any(is_statement(s) for s in holding or found)


def _clause_with(text: str, words: list[str]) -> str:
    clauses = rules.clauses(text) or [text]
    for clause in clauses:
        if words and all(w in clause.lower() for w in words):
            return clause
    return clauses[0]


def _subject(claimed: str, speaker: str, clause: str) -> str:
    """Small models put the speaker where a relative belongs ("my brother works at …" as the
    speaker's job): the clause's grammatical subject wins over the model's when it names
    someone else."""
    name = re.sub(r"\s+", " ", claimed.strip())
    relative = rules.relative_subject(clause, speaker)
    if name.lower() in _SELF or name.lower() == speaker.lower():
        # "Hana has a new boyfriend now, Mateo": about Hana, not the speaker
        return relative or rules.clause_subject(clause, speaker)[0] or speaker
    first = name.split()[0].lower()
    if first not in clause.lower() and relative is None:
        return speaker  # a name the message does not contain: the model made it up
    return name
