"""Claims from parsed messages, open vocabulary: who a statement is about, what it says in the
third person, its predicate, polarity and tense, and whether its value adds to others.

Everything structural comes from the dependency parse (spaCy): clauses are verbs with their
subjects, "my dad" is the speaker's father because "my" is his possessor, "she" is the last
person the conversation named, a question is a sentence that asks. What a parser cannot know is
a small lexicon below: which verbs end a state ("quit", "left"), which words say a value adds
to others ("also", "another"), which say it is planned ("going to", "will").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from spacy.tokens import Span, Token

Tense = Literal["current", "past", "planned", "ended"]
_SPEAKER = {"i", "me", "myself", "we", "us", "ourselves", "im"}
_SPEAKER_OF = {"my", "mine", "our", "ours"}
_LISTENER = {"you", "your", "yours", "yourself", "u", "ur", "ya"}
_THIRD = {"he", "she", "they", "him", "her", "them"}
_EMPTY_SUBJECTS = {"it", "this", "that", "there", "what", "which", "who", "everything", "nothing"}
_SUBJECT_DEPS = ("nsubj", "nsubjpass", "csubj")
# the lexicon: what ends a state, what adds a value, what plans one, what is a state (a past
# state is history; a past event, "I moved to Denver", still holds)
_ENDS = {"quit", "leave", "stop", "end", "sell", "cancel", "drop", "split", "divorce", "lose"}
_ENDS |= {"retire", "resign", "fall", "break", "scrap", "ditch", "call"}
_ADDS = {"also", "too", "another", "second", "third", "both", "addition", "additionally"}
_PLANS = {"will", "'ll", "shall", "gonna", "plan", "intend", "about"}
_STATES = {"be", "have", "live", "work", "own", "like", "love", "use", "date", "study"}
_STATES |= {"drive", "play", "prefer", "hate", "enjoy", "teach", "rent", "attend"}
_GREETINGS = {"thank", "thanks", "congrats", "congratulate", "hi", "hello", "hey", "bye"}
_ENTITY_LABELS = {"PERSON", "GPE", "LOC", "ORG", "FAC", "NORP", "PRODUCT", "EVENT"}
_ENTITY_LABELS |= {"WORK_OF_ART", "LANGUAGE"}
_MIN_TOKENS = 3
_LINKING = {"be", "sound", "seem", "look", "feel", "become", "get", "stay", "remain"}


@dataclass(slots=True)
class ClaimDraft:
    subject: str  # "Maya", "Maya's dad", "Ann"
    statement: str  # "Maya's dad drives a Volvo."
    predicate: str  # verb lemma and its particle or preposition: "drive", "work at"
    value: str  # what the predicate says of the subject: "a Volvo"
    tense: Tense
    negated: bool
    coexists: bool  # the text says the value adds to others ("also", "a second cat", a list)
    names: list[str] = field(default_factory=list)  # entities the clause names


@dataclass(slots=True)
class Conversation:
    """What pronouns refer to: the last person a conversation named; who has spoken in it
    (kept across adds), so that a short form of a speaker's name is that speaker."""

    last_person: str | None = None
    speakers: set[str] = field(default_factory=set)

    def person(self, name: str) -> str:
        """``name``, or the one speaker whose name it begins ("Mel" for Melanie, "Caro" for
        Caroline): a nickname the conversation itself shows, no table of nicknames."""
        if name in self.speakers or len(name) < 3 or " " in name:
            return name
        longer = [s for s in self.speakers if len(s) > len(name) and s.startswith(name)]
        return longer[0] if len(longer) == 1 else name


def claims_of(
    sentences: list[Span], speaker: str, said_at: datetime | None, context: Conversation
) -> list[ClaimDraft]:
    """The claims of one message's sentences, in order."""
    found: list[ClaimDraft] = []
    for sent in sentences:
        named = _people(sent, speaker)
        named = context.person(named) if named else None
        if _asks(sent):
            context.last_person = named or context.last_person
            continue
        for verb in _clauses(sent):
            claim = _claim(verb, sent, speaker, context)
            if claim is not None:
                found.append(claim)
        context.last_person = named or context.last_person
    return found


def entities(sentences: list[Span]) -> list[tuple[str, str]]:
    """(name, label) of the people, places, firms and works the text names."""
    out: list[tuple[str, str]] = []
    for sent in sentences:
        for ent in sent.ents:
            text = ent.text.strip(" .,!?'\"")
            if ent.label_ in _ENTITY_LABELS and text and (text, ent.label_) not in out:
                out.append((text.removesuffix("'s"), ent.label_))
    return out


def _asks(sent: Span) -> bool:
    """A question: it ends with "?" or opens with a verb before its subject ("do you…")."""
    text = sent.text.strip()
    if text.endswith("?"):
        return True
    first = sent[0]
    return first.tag_ in ("MD", "VBZ", "VBP", "VBD") and first.dep_ == "aux"


_CLAUSE_DEPS = ("conj", "ccomp", "parataxis", "appos", "advcl")


def _clauses(sent: Span) -> list[Token]:
    """The sentence's clauses by their verbs: the root, verbs joined to it, and verbs under
    another word with a subject of their own ("Big news: I handed in my notice")."""
    return [t for t in sent if t.pos_ in ("VERB", "AUX") and _is_clause(t)]


def _is_clause(verb: Token) -> bool:
    if verb.dep_ == "ROOT":
        return True
    if verb.dep_ not in _CLAUSE_DEPS:
        return False
    own = any(c.dep_ in _SUBJECT_DEPS for c in verb.children)
    return own or (verb.dep_ == "conj" and verb.head.pos_ in ("VERB", "AUX"))


def _subject_of(verb: Token) -> Token | None:
    for child in verb.children:
        if child.dep_ in _SUBJECT_DEPS:
            return child
    if verb.dep_ == "conj":  # "I quit Google and joined Stripe": joined shares "I"
        return _subject_of(verb.head)
    return None


def _people(sent: Span, speaker: str) -> str | None:
    names = [e.text for e in sent.ents if e.label_ == "PERSON" and e.text != speaker]
    return names[-1].removesuffix("'s") if names else None


def _claim(verb: Token, sent: Span, speaker: str, context: Conversation) -> ClaimDraft | None:
    if verb.lemma_.lower() in _GREETINGS:
        return None
    tokens = _clause_tokens(verb)
    lowered = {t.lower_ for t in tokens}
    if lowered & _LISTENER:
        return None  # about the listener, or a request to them
    if tokens and tokens[0].tag_ in ("WP", "WRB", "WDT"):
        return None  # "who I really am", "why I want to…": part of a thought, not a statement
    subject_token = _subject_of(verb)
    if subject_token is None:
        if verb.tag_ == "VB" and verb.i == sent.start:
            return None  # an imperative: a request, not a statement
        if _main(verb).pos_ == "AUX" or (tokens and tokens[0].tag_ == "TO"):
            return None  # "wasn't either", "to cherish my family": no statement without a subject
        subject, explicit = speaker, False  # chat drops "I": "Moving to Denver next month"
    else:
        resolved = _resolve(subject_token, speaker, context)
        if resolved is None:
            return None
        subject, explicit = resolved, True
    inherited = subject_token is not None and subject_token.i not in {t.i for t in tokens}
    if inherited and _main(verb).pos_ == "AUX":
        return None  # "…, wasn't either": a copula whose subject is in another clause
    if subject_token is not None and _judges_a_thing(verb, subject_token):
        return None  # "adoption sounds awesome": an opinion of a thing, not about anyone
    content = [t for t in tokens if t.pos_ in ("NOUN", "PROPN", "NUM", "ADJ", "ADV")]
    if len(tokens) < _MIN_TOKENS or not content:
        return None
    statement = _third_person(tokens, speaker, subject, subject_token, explicit)
    lemmas = {t.lemma_.lower() for t in tokens}
    negated = any(t.dep_ == "neg" for t in tokens)
    return ClaimDraft(
        subject=subject,
        statement=statement,
        predicate=_predicate(_main(verb)),
        value=_value(_main(verb), subject_token),
        tense=_tense(verb, tokens, lemmas, negated),
        negated=negated,
        coexists=bool(lowered & _ADDS) or _lists(verb),
        names=[e.text for e in sent.ents if e.start >= tokens[0].i and e.end <= tokens[-1].i + 1],
    )


def _judges_a_thing(verb: Token, subject: Token) -> bool:
    """A thing (a common noun no one owns) said to be like something: a linking verb whose
    complement is an adjective or a noun ("X is great", "X sounds like a plan", "X was a long
    process"); where or when a thing is ("the wedding is in June") says something."""
    doing = subject.tag_ == "VBG" or subject.dep_ == "csubj"  # "finding self-acceptance"
    if not (subject.pos_ == "NOUN" or doing) or any(c.dep_ == "poss" for c in subject.children):
        return False
    main = _main(verb)
    if main.lemma_.lower() not in _LINKING:
        return False
    return any(c.dep_ in ("acomp", "attr", "oprd") for c in main.children)


def _clause_tokens(verb: Token) -> list[Token]:
    """The verb's subtree without the other clauses joined to it; the conjunction dropped."""
    skip: set[int] = set()
    for child in verb.children:
        if child.pos_ in ("VERB", "AUX") and _is_clause(child):
            skip.update(t.i for t in child.subtree)
        elif child.dep_ == "cc" or (child.dep_ == "punct" and child.i > verb.i):
            skip.add(child.i)
    tokens = [t for t in verb.subtree if t.i not in skip]
    colon = next((i for i, t in enumerate(tokens[:5]) if t.text == ":"), None)
    if colon is not None and colon < len(tokens) - 2:  # "Big news: …", "context: …"
        tokens = tokens[colon + 1 :]
    while tokens and tokens[-1].is_punct:
        tokens.pop()
    while tokens and (tokens[0].is_punct or tokens[0].dep_ in ("cc", "mark", "intj")):
        tokens.pop(0)
    return tokens


def _resolve(token: Token, speaker: str, context: Conversation) -> str | None:
    """Who a subject is: the speaker, a named person, someone's relative; None for "it",
    "that" or a pronoun with nobody named before it."""
    word = token.lower_
    if word in _SPEAKER:
        return speaker
    if word in _THIRD:
        return context.last_person
    if word in _EMPTY_SUBJECTS or token.pos_ == "PRON":
        return None
    for child in token.children:  # "my sister Ann": Ann
        if child.dep_ == "appos" and child.pos_ == "PROPN":
            return _phrase(child)
    owner = next((c for c in token.children if c.dep_ == "poss"), None)
    noun = " ".join(t.text for t in token.subtree if t.dep_ in ("compound", "amod") or t == token)
    if owner is not None:
        if owner.lower_ in _SPEAKER_OF:
            return f"{speaker}'s {noun}"
        if owner.pos_ == "PROPN":
            return f"{context.person(_phrase(owner))}'s {noun}"
    if token.pos_ == "PROPN":
        return context.person(_phrase(token))
    return speaker  # "the wedding is in June", "work has been crazy": the speaker's life


def _phrase(token: Token) -> str:
    parts = [t for t in token.subtree if t.dep_ in ("compound", "flat") or t == token]
    return " ".join(t.text for t in parts).removesuffix("'s")


def _third_person(
    tokens: list[Token], speaker: str, subject: str, subject_token: Token | None, explicit: bool
) -> str:
    """The clause in the third person: "I'm starting at St. Mary's" → "Maya is starting at
    St. Mary's"; a dropped "I" is put back; "she" becomes whom it stands for."""
    first_person = subject_token is not None and subject_token.lower_ in ("i", "im")
    verb = subject_token.head if subject_token is not None else None
    subject_span = set(t.i for t in subject_token.subtree) if subject_token is not None else set()
    out: list[str] = [] if explicit else [subject, " "]
    if not explicit and tokens[0].tag_ == "VBG":  # "Moving to Denver" → "… is moving"
        out.append("is ")
    for n, t in enumerate(tokens):
        word, lower = t.text, t.lower_
        if t.i in subject_span and subject_token is not None:
            if t == subject_token and lower in _THIRD | _SPEAKER:
                word = subject if lower not in ("we", "us") else f"{speaker} and others"
            elif lower in _SPEAKER_OF:
                word = f"{speaker}'s"
        elif lower in ("i", "me", "myself", "im"):
            word = speaker
        elif lower in _SPEAKER_OF:
            word = f"{speaker}'s"
        elif first_person and (t == verb or (t.head == verb and t.dep_ == "aux")):
            word = _agree(t)
        if n == 0 and not explicit and t.pos_ != "PROPN":
            word = word.lower()
        gap = n + 1 < len(tokens) and tokens[n + 1].i != t.i + 1  # a skipped word between
        out.extend([word, t.whitespace_ or (" " if gap else "")])
    text = "".join(out).strip()
    return (text[0].upper() + text[1:]).rstrip(" .!,;:") + "."


_AGREE = {"am": "is", "'m": " is", "m": " is", "have": "has", "'ve": " has", "ve": " has"}
_AGREE |= {"do": "does"}
_AGREE |= {"was": "was", "'d": " would", "'ll": " will", "are": "is"}


def _agree(verb: Token) -> str:
    """The verb of "I" in the third person singular ("drive" → "drives")."""
    lower = verb.lower_
    if lower in _AGREE:
        return _AGREE[lower]
    if verb.tag_ != "VBP":
        return verb.text
    if lower.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb.text + "es"
    if lower.endswith("y") and len(lower) > 1 and lower[-2] not in "aeiou":
        return verb.text[:-1] + "ies"
    return verb.text + "s"


def _predicate(verb: Token) -> str:
    extra = [c.lower_ for c in verb.children if c.dep_ in ("prt", "prep", "dative")][:1]
    lemma = verb.lemma_.lower()
    if lemma == "be":  # "is a nurse", "is vegetarian": the complement says what it is about
        extra = [c.lemma_.lower() for c in verb.children if c.dep_ in ("attr", "acomp")][:1]
    return " ".join([lemma, *extra])


def _value(verb: Token, subject: Token | None) -> str:
    skip = set(t.i for t in subject.subtree) if subject is not None else set()
    parts = [
        t
        for c in verb.children
        if c.dep_ in ("dobj", "attr", "acomp", "prep", "prt", "oprd", "xcomp", "pobj")
        for t in c.subtree
        if t.i not in skip
    ]
    return " ".join(t.text for t in sorted(parts, key=lambda t: t.i))


def _lists(verb: Token) -> bool:
    """Its object is a list ("a cat and two dogs")."""
    return any(
        c.dep_ in ("dobj", "pobj", "attr") and any(g.dep_ == "conj" for g in c.children)
        for c in (*verb.children, *(g for c in verb.children for g in c.children))
    )


def _tense(verb: Token, tokens: list[Token], lemmas: set[str], negated: bool) -> Tense:
    lowered = {t.lower_ for t in tokens}
    particle = {c.lower_ for c in verb.children if c.dep_ == "prt"}
    ends = verb.lemma_.lower() in _ENDS and not (verb.lemma_ == "end" and "up" in particle)
    if ends or (negated and lowered & {"anymore", "longer"}):
        return "ended"
    if lowered & _PLANS or lemmas & {"plan", "intend"} or _going_to(verb):
        return "planned"
    if "used" in lowered and "to" in lowered:
        return "past"
    # "lived", "was": the simple past; "has been" is the present perfect (a state that holds)
    auxes = [t for t in verb.children if t.dep_ in ("aux", "auxpass")]
    past = verb.tag_ == "VBD" or any(t.tag_ == "VBD" for t in auxes)
    if past and verb.lemma_.lower() in _STATES and "now" not in lowered:
        return "past"
    return "current"


def _going_to(verb: Token) -> bool:
    """ "going to move": "go" in its -ing form with an infinitive."""
    return _main(verb) is not verb


def _main(verb: Token) -> Token:
    """The verb a clause is about: "move" in "going to move"."""
    if verb.lemma_ == "go" and verb.tag_ == "VBG":
        for child in verb.children:
            if child.dep_ == "xcomp":
                return child
    return verb
