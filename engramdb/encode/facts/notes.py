"""Notes: what a person says about themselves or someone they name, one statement per
subject and message, in the third person ("I'm starting at St. Mary's in July" from Maya
becomes "Maya is starting at St. Mary's in July").

The attribute vocabulary (model.py) covers a dozen life facts; people talk about far more
(their seat on flights, their vet, the date of a wedding). A note keeps any such statement as a
fact with a subject and a time, without needing to know what it is about. Which note answers a
question, and which newer note replaces an older one on the same topic, is left to retrieval
(retrieve/succession.py): a note is never closed by a guess at write time.
"""

from __future__ import annotations

import re

from engramdb.encode.facts.model import NOTE, FactDraft
from engramdb.encode.facts.patterns import CONTRACTIONS, SUBJECT
from engramdb.encode.facts.rules import PRONOUN, Message, clause_subject, split_at

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# questions, requests and courtesies say nothing about the speaker's life
_NOT_A_STATEMENT = re.compile(
    r"^\W*(?:can|could|would|will|should|shall)\s+(?:you|we|i)\b|^\W*(?:please|remind me|help me"
    r"|tell me|let me know|any\s+(?:good\s+)?\w+\s+(?:recommendations?|ideas?|tips|suggestions?)"
    r"|what|how|why|when|where|who|which|do you|did you|are you|is there|thanks|thank you"
    r"|you|your)\b"  # "You'd be great at that": about the listener
    r"|^\W*(?:hey|hi|hello|wow|oh|ha+|lol|omg|yay|aw+)\b\W*(?:\w+\W*)?$",  # "Hey Mel!"
    re.I,
)
_FIRST_WORD = re.compile(r"\b(?:I|me|my|mine|we|us|our)\b", re.I)
_DETAIL = re.compile(r"\b[A-Z][a-z]|\d")  # a name or a number after a sentence's first word
_PERSON_VERB = re.compile(
    r"\s+(?:is|was|has|had|just|got|gets|will|would|can|never|already|also|still|now|finally"
    r"|recently|\w+ed|\w{2,}s\s+(?:at|in|for|with|as|on|to|from|the|a|an|his|her|their))\b"
)
_LABEL = re.compile(r"^[^:]{1,30}:\s+")  # "Big news: I …", "Quick update: …"
_MIN_WORDS = 3
_MAX_CHARS = 400
# "I" + a common present-tense verb: conjugated for the name that replaces "I"
_VERBS = (
    "live|work|love|like|hate|want|need|drive|run|eat|drink|play|prefer|take|think|miss|feel"
    "|study|teach|own|keep|use|know|make|get|see|watch|go|do|have|say|try|enjoy|plan|read"
    "|write|volunteer|rent|share|support|train|cook|walk|bike|swim|ride|wear|spend|mean|hope"
    "|don't|haven't"
)
_I_VERB = re.compile(rf"\bI\s+({_VERBS})\b")
_IRREGULAR = {"have": "has", "do": "does", "go": "goes", "don't": "doesn't", "haven't": "hasn't"}
# first-person forms → third person, in this order (longest first)
_FIRST_PERSON = [
    (re.compile(r"\bI'm\b|\bI am\b"), "{n} is"),
    (re.compile(r"\bI've\b"), "{n} has"),
    (re.compile(r"\bI'll\b"), "{n} will"),
    (re.compile(r"\bI'd\b"), "{n} would"),
    (re.compile(r"\bI was\b"), "{n} was"),
    (re.compile(r"\bI\b"), "{n}"),
    (re.compile(r"\b[Mm]y\b"), "{n}'s"),
    (re.compile(r"\b(?:me|myself|mine)\b"), "{n}"),
]


def notes(message: Message) -> list[FactDraft]:
    """The message's statements, consecutive ones about one subject joined. Chat drops "I"
    ("Moving in next month") and changes come impersonal ("the wedding is now in
    September"), so a statement needs no pronoun to count."""
    groups: list[tuple[str, list[str]]] = []
    for sentence in sentences(message.text.replace("’", "'")):
        if sentence.endswith("?") or _NOT_A_STATEMENT.match(sentence):
            continue
        previous = groups[-1][0] if groups else message.speaker
        subject = _subject(sentence, message.speaker, previous)
        if groups and groups[-1][0] == subject:
            groups[-1][1].append(sentence)
        else:
            groups.append((subject, [sentence]))
    found = []
    for subject, group in groups:
        text = third_person(" ".join(group), message.speaker)[:_MAX_CHARS].strip()
        if len(text.split()) >= _MIN_WORDS:
            if not (_names(text, subject) or _telling(group)):
                continue
            found.append(_note(message, subject, text))
    return found


def sentences(text: str) -> list[str]:
    """Sentences, without breaking after "St." or "Dr."."""
    return split_at(_SENTENCE, text)


def third_person(text: str, speaker: str) -> str:
    """The speaker's "I", "my" and "me" as their name ("I live" → "Maya lives")."""
    text = _I_VERB.sub(lambda m: f"{speaker} {_conjugated(m[1])}", text)
    for pattern, replacement in _FIRST_PERSON:
        text = pattern.sub(replacement.format(n=speaker), text)
    return text


def _telling(group: list[str]) -> bool:
    """Whether statements that name nobody still say something: a first-person word, a name
    or a number, or some length ("Happy new year!" and "They do!" say nothing)."""
    text = " ".join(group)
    inner = " ".join(s.split(maxsplit=1)[1] if " " in s else "" for s in group)
    return bool(_FIRST_WORD.search(text) or _DETAIL.search(inner)) or len(text.split()) >= 8


def _names(text: str, subject: str) -> bool:
    if not subject.split():
        return False
    first = subject.split()[0].removesuffix("'s")
    return re.search(rf"\b{re.escape(first)}\b", text) is not None


def _conjugated(verb: str) -> str:
    lower = verb.lower()
    if lower in _IRREGULAR:
        return _IRREGULAR[lower]
    if lower.endswith(("s", "sh", "ch", "x", "o")):
        return verb + "es"
    if lower.endswith("y") and lower[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    return verb + "s"


def _subject(sentence: str, speaker: str, previous: str) -> str:
    """Whom a sentence is about: a person it introduces ("My brother Sam got…", "my sister
    is…"), the one before it for "he"/"she", else the speaker. A capitalised word alone is
    not enough: "Japan flights doubled", "Metal is life" and "Got tickets" start sentences
    about the speaker as often as "Mark left Ford" starts one about Mark: a name needs a verb
    right after it ("Mark finally left", "Ruby is", "Mark works at")."""
    text = _LABEL.sub("", sentence)
    for pattern, repl in CONTRACTIONS:
        text = re.sub(pattern, repl, text, flags=re.I)
    if PRONOUN.match(text):
        return previous
    m = SUBJECT.match(text)
    if m is None:
        return speaker
    if m["kin"] or m["rname"] or (m["name"] and _PERSON_VERB.match(text[m.end() :])):
        return clause_subject(text, speaker, previous)[0] or speaker
    return speaker


def _note(message: Message, subject: str, text: str) -> FactDraft:
    return FactDraft(
        subject=subject,
        attribute=NOTE,
        value=text,
        event_time=message.said_at,
        sources=[message.message_id],
        episode_pks=[message.episode_pk],
        confidence=0.7,
        actor="rules",
    )
