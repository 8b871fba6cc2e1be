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
from collections.abc import Callable

from engramdb.encode.facts.model import NOTE, FactDraft
from engramdb.encode.facts.patterns import INTRODUCES, NAME, NOT_NAMES, SUBJECT
from engramdb.encode.facts.rules import (
    PRONOUN,
    Message,
    expand_contractions,
    split_at,
)
from engramdb.encode.text import words

_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")
# requests, courtesies and greetings say nothing about anyone's life
_REQUEST = re.compile(
    r"^\W*(?:(?:can|could|would|will|should|shall)\s+(?:you|we|i)|please|remind me|help me"
    r"|tell me|let me know|any\s+(?:good\s+)?\w+\s+(?:recommendations?|ideas?|tips|suggestions?)"
    r"|thanks|thank you)\b",
    re.I,
)
_GREETING = re.compile(r"^\W*(?:hey|hi|hello|wow|oh|ha+|lol|omg|yay|aw+)\b\W*(?:\w+\W*)?$", re.I)
# about the listener ("You'd be great at that") or a question without its "?": a statement
# only where the speaker is in it ("Your advice helped, I got the job")
_ASKING = re.compile(
    r"^\W*(?:you|your|what|how|why|where|who|which|do you|did you|are you|is there)\b", re.I
)
_FIRST_PERSON_WORD = re.compile(r"\b(?:I|me|my|mine|we|us|our)\b", re.I)
_DETAIL = re.compile(r"\b[A-Z][a-z]|\d")  # a name or a number after a sentence's first word
_PERSON_VERB = re.compile(
    r"\s+(?:is|was|has|had|just|got|gets|will|would|can|never|already|also|still|now|finally"
    r"|recently|says|said|left|met|split|broke|went|came|became|took|made|bought|sold|won"
    r"|began|found|told|gave|ran|quit|\w+ed|\w{2,}s\s+(?:at|in|for|with|as|on|to|from|the|a|an|his|her|their))\b"
)
_AND_NAME = re.compile(r"\s+and\s+" + NAME)
_SPEAKER_IN = re.compile(r"\b(?:I|my)\b")
_LABEL = re.compile(r"^[^:]{1,30}:\s+")  # "Big news: I …", "Quick update: …"
_MIN_WORDS = 3
_MAX_CHARS = 400
# "I" + a common present-tense verb: conjugated for the name that replaces "I"
_VERBS = (
    "live|work|love|like|hate|want|need|drive|run|eat|drink|play|prefer|take|think|miss|feel"
    "|study|teach|own|keep|use|know|make|get|see|watch|go|do|have|say|try|enjoy|plan|read"
    "|write|volunteer|rent|share|support|train|cook|walk|bike|swim|ride|wear|spend|mean|hope"
    "|start|fix|teach|visit|buy|sell|move|stay|leave|don't|haven't"
)
_I_VERB = re.compile(rf"\bi\s+({_VERBS})\b", re.I)
_IRREGULAR = {"have": "has", "do": "does", "go": "goes", "don't": "doesn't", "haven't": "hasn't"}
# first-person forms → third person, in this order (longest first); chat writes "i" too
_FIRST_PERSON = [
    (re.compile(r"\bi'm\b|\bi am\b", re.I), "{n} is"),
    (re.compile(r"\bi've\b", re.I), "{n} has"),
    (re.compile(r"\bi'll\b", re.I), "{n} will"),
    (re.compile(r"\bi'd\b", re.I), "{n} would"),
    (re.compile(r"\bi was\b", re.I), "{n} was"),
    (re.compile(r"\bi\b(?!\.\w)", re.I), "{n}"),  # not "i.e."
    (re.compile(r"\b[Mm]y\b"), "{n}'s"),
    (re.compile(r"\b(?:me|myself|mine)\b"), "{n}"),
]


def notes(message: Message) -> list[FactDraft]:
    """The message's statements, consecutive ones about one subject joined. Chat drops "I"
    ("Moving in next month") and changes come impersonal ("the wedding is now in
    September"), so a statement needs no pronoun to count."""
    groups: list[tuple[str, list[str]]] = []
    introduced: str | None = None  # "Bumped into Joel, my old flatmate. He's still…": Joel
    for sentence in sentences(message.text.replace("’", "'")):
        if not is_statement(sentence):
            continue
        previous = introduced or (groups[-1][0] if groups else message.speaker)
        subject = _subject(sentence, message.speaker, previous)
        named = INTRODUCES.search(sentence)
        introduced = _introduced(named) if named else None
        if groups and groups[-1][0] == subject:
            groups[-1][1].append(sentence)
        else:
            groups.append((subject, [sentence]))
    found = []
    for subject, group in groups:
        text = _cut(third_person(" ".join(group), message.speaker))
        if len(words(text)) >= _MIN_WORDS:
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
        text = pattern.sub(_literal(replacement.format(n=speaker)), text)
    return text


def _literal(text: str) -> Callable[[re.Match[str]], str]:
    """A replacement taken as it is: a name with a backslash is no regex template."""
    return lambda _: text


def is_statement(sentence: str) -> bool:
    """Not a question, a request or a greeting: a sentence that tells something."""
    if sentence.endswith("?") or _REQUEST.match(sentence) or _GREETING.match(sentence):
        return False
    return not _ASKING.match(sentence) or bool(_FIRST_PERSON_WORD.search(sentence))


def _cut(text: str) -> str:
    """At most ``_MAX_CHARS``, cut between words."""
    if len(text) <= _MAX_CHARS:
        return text.strip()
    return text[:_MAX_CHARS].rsplit(" ", 1)[0].strip()


def _telling(group: list[str]) -> bool:
    """Whether statements that name nobody still say something: a first-person word, a name
    or a number, or some length ("Happy new year!" and "They do!" say nothing)."""
    text = " ".join(group)
    inner = " ".join(s.split(maxsplit=1)[1] if " " in s else "" for s in group)
    return bool(_FIRST_PERSON_WORD.search(text) or _DETAIL.search(inner)) or len(words(text)) >= 8


def _names(text: str, subject: str) -> bool:
    first = words(subject)[:1]
    return bool(first) and first[0].removesuffix("'s") in {
        w.removesuffix("'s") for w in words(text)
    }


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
    text = expand_contractions(_LABEL.sub("", sentence))
    m = SUBJECT.match(text)
    if m is not None:  # a person before any "he" ("Sam says he got the job": Sam)
        if m["kin"]:
            return m["kname"] or f"{speaker}'s {m['kin'].lower()}"
        if m["rname"]:
            return str(m["rname"])
        name, rest = m["name"], text[m.end() :]
        pair = _AND_NAME.match(rest)  # "Hana and Lorenzo split up": about Hana (and Lorenzo)
        if name and pair:
            rest = rest[pair.end() :]
        # "Mel is right, I should go": the speaker's own statement, a name in passing
        if name and _PERSON_VERB.match(rest) and _a_name(name) and not _SPEAKER_IN.search(rest):
            return str(name)
    return previous if PRONOUN.match(text) else speaker


def _introduced(m: re.Match[str]) -> str | None:
    """The person "Joel, my old flatmate" or "my flatmate Joel" introduces; "Anyway, my
    brother" and "Sadly, my grandma" introduce nobody by name."""
    name = m["n1"] or m["n2"]
    if not _a_name(name) or name.lower().endswith("ly"):
        return None
    return str(name)


def _a_name(word: str) -> bool:
    """Not a word that cannot be a name: a stop word, or an abstract noun ("Retirement is
    great", "Graduation was long")."""
    head = word.split()[0].lower().removesuffix("'s")
    if _ABSTRACT.search(head):
        return False
    return word.lower() not in NOT_NAMES and head not in NOT_NAMES


_ABSTRACT = re.compile(r".{4,}(?:ment|tion|sion|ness|ism|ship|hood)$")  # not "Clement"


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
