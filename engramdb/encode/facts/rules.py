"""The deterministic extractor: no model, microseconds per message. It reads clauses of the
form SUBJECT + PREDICATE ("I moved to Denver", "my brother works at Acme") for a fixed set of
life facts; anything it does not recognise stays a raw episode, which remains searchable."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from engramdb.encode.facts.model import FAVORITE, FactDraft
from engramdb.encode.text import query_terms
from engramdb.encode.timeparse import find_time_ranges

_CONTRACTIONS = [
    (r"\bI'm\b", "I am"),
    (r"\bI've\b", "I have"),
    (r"\bwe're\b", "we are"),
    (r"\bwe've\b", "we have"),
    (r"\b(he|she)'s\b", r"\1 is"),
    (r"\bcan't\b", "can not"),
    (r"\b(do|does|did|is|are|was|were|have|has|won)n't\b", r"\1 not"),
]
_KIN = (
    r"brother|sister|mom|mum|mother|dad|father|son|daughter|wife|husband|boyfriend|girlfriend"
    r"|partner|fianc[eé]e?|friend|best friend|boss|cousin|aunt|uncle|grandma|grandmother"
    r"|grandpa|grandfather|roommate|colleague|coworker|neighbou?r"
)
_NAME = r"(?-i:[A-Z][\w'’&.-]*(?:\s+(?:of|de|la|the|&|van|von)?\s*[A-Z][\w'’&.-]*)*)"
_PLACE = _NAME + r"(?:,\s*(?-i:[A-Z][\w.]*(?:\s[A-Z][\w.]*)?))?"
_PHRASE = r"(?P<v>[^.,;!?]{2,60}?)"
_STOP = r"(?=\s+(?:at|for|with|in|since|because|now|and|but|so|after|before|this|next|last|right|today|yesterday|anymore|these|here|there|too|instead|over|than)\b|\s*[.,;!?)]|\s*$)"
_SUBJECT = re.compile(
    rf"^(?:(?:so|well|oh|and|but|also|actually|now|finally|guess what|anyway|yes|yeah|btw|by the way|honestly|ok|okay|lol|hey|hi|plus)\W+)*"
    rf"(?P<subj>I|we|(?P<pair>{_NAME})\s+and\s+I"
    rf"|my\s+(?:(?:old|new|best|former|dear|little|big|older|younger)\s+)?"
    rf"(?:(?P<kin>{_KIN})(?:\s*,?\s+(?P<kname>{_NAME}))?|(?-i:[a-z]+)\s+(?P<rname>{_NAME}))"
    rf"|(?P<name>{_NAME}))\b",
    re.I,
)
_NOT_NAMES = {
    *("the", "this", "that", "today", "yesterday", "it", "there", "here", "what", "when", "my"),
    *("our", "his", "her", "their", "you", "he", "she", "they", "its", "last", "next", "how"),
    *("why", "who", "where", "hey", "hi", "hello", "thanks", "thank", "wow", "great", "good"),
    *("finally", "still", "just", "also", "actually", "honestly", "anyway", "maybe", "really"),
    *("so", "then", "now", "first", "early", "late", "big", "quick", "okay", "ok", "yes", "no"),
}


def _p(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern.replace("NAME", _NAME).replace("PLACE", _PLACE), re.I)


# (pattern, attribute, op); groups: v value, e employer, r relationship word, c category
_RULES: list[tuple[re.Pattern[str], str, str]] = [
    (
        _p(
            r"\b(?:handed in|handing in|hand in|gave|giving|give|put in)\s+(?:my\s+|his\s+|her\s+)?notice\s+(?:at|to)\s+(?P<e>NAME)"
        ),
        "employer",
        "end",
    ),
    # "took the sous chef job at Alinea", "staying on at Caltech as a research scientist"
    (
        _p(
            r"\btook\s+(?:the|a|an)\s+(?P<v>[\w\s-]{2,40}?)\s+(?:job|position|role)\s+(?:at|with)\s+(?P<e>NAME)"
        ),
        "job",
        "set",
    ),
    (
        _p(
            r"\b(?:staying on|starting|start|starts|started)\s+at\s+(?P<e>NAME)\s+as\s+(?:an?\s+)?"
            + _PHRASE
            + _STOP
        ),
        "job",
        "set",
    ),
    (
        _p(
            r"\b(?:day|days|week|weeks|shift|shifts|month|months|lab|office|team|job|position|role|internship|residency|career)\s+(?:at|with)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (
        _p(
            r"\b(?:starts|start|started|starting|begins|began)\s+(?:work\s+|working\s+)?(?:at|with)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (
        _p(
            r"\b(?:run|runs|manage|manages|own|owns|open|opened|opening)\s+(?:the\s+|a\s+|my\s+|our\s+)?[\w\s-]{0,30}?\s(?:at|called|named)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (_p(r"\bmoved\s+out\s+of\s+(?P<v>PLACE)"), "home", "end"),
    (_p(r"\b(?:moved|moving)\s+(?:up|down|over|out|across)\s+to\s+(?P<v>PLACE)"), "home", "set"),
    (_p(r"\b(?:back|staying|stay|here)\s+in\s+(?:the\s+)?(?P<v>PLACE)"), "home", "set"),
    (
        _p(
            r"\b(?:renting|rent|rented|bought|buying|unpacked|unpacking)\b[^.;!?]{0,30}?\s(?:in|on)\s+(?:the\s+)?(?P<v>PLACE)"
        ),
        "home",
        "set",
    ),
    (
        _p(
            r"\b(?:quit|left|leaving|resigned from|fired from|laid off from)\s+(?:my\s+(?:job|position)\s+(?:at|with)\s+)?(?P<e>NAME)"
        ),
        "employer",
        "end",
    ),
    (
        _p(
            r"\b(?:quit|lost|left)\s+(?:my|his|her|their)\s+job\b|\b(?:got|was|been)\s+(?:laid off|fired)\b|\bretired\b"
        ),
        "job",
        "end",
    ),
    (
        _p(
            r"\b(?:work|works|worked|working|job|position|role|career|employed|hired|start|started|starting|training|trained)\b(?:\s+[\w-]+){0,3}?\s+as\s+(?:an?\s+|the\s+)?"
            + _PHRASE
            + _STOP
        ),
        "job",
        "set",
    ),
    (_p(r"\b(?:promoted|promotion)\s+to\s+(?:an?\s+)?" + _PHRASE + _STOP), "job", "set"),
    (
        _p(
            r"\b(?:am|is|are|became|become|becoming)\s+(?:now\s+|currently\s+|still\s+|officially\s+)?(?:an?\s+)(?P<v>[\w\s-]{2,40}?)\s+(?:at|for|with)\s+(?P<e>NAME)"
        ),
        "job",
        "set",
    ),
    (
        _p(
            r"\b(?:work|works|worked|working|job|position|role|started|starting|joined|hired|employed|interning|internship|day|week)\b[^.;!?]{0,30}?\s(?:at|for|with)\s+(?P<e>NAME)"
        ),
        "employer",
        "set",
    ),
    (_p(r"\bjoin(?:ed|ing)?\s+(?P<e>NAME)"), "employer", "set"),
    (_p(r"\b(?:moved|relocated|relocating)\s+(?:back\s+)?to\s+(?P<v>PLACE)"), "home", "set"),
    (
        _p(r"\b(?:live|lives|living|based|settled|reside|resides)\s+in\s+(?:the\s+)?(?P<v>PLACE)"),
        "home",
        "set",
    ),
    (
        _p(
            r"\b(?:apartment|flat|house|home|place|condo|cottage|room)\s+(?:in|on)\s+(?:the\s+)?(?P<v>PLACE)"
        ),
        "home",
        "set",
    ),
    (_p(r"\bmoving\s+(?:back\s+)?to\s+(?P<v>PLACE)"), "plan", "move"),
    (
        _p(r"\b(?:dating|seeing|going out with|in a relationship with)\s+(?P<v>NAME)"),
        "partner",
        "set",
    ),
    (_p(r"\b(?:engaged to|married to|marrying|married)\s+(?P<v>NAME)"), "partner", "set"),
    (
        _p(
            r"\b(?:broke up|split up|separated|break up|breaking up|divorced)\b(?:\s+(?:with|from)\s+(?P<v>NAME))?"
        ),
        "partner",
        "end",
    ),
    (
        _p(
            r"\b(?:am|is|are|got|just got)\s+(?:now\s+)?(?P<v>single|married|engaged|divorced|widowed)\b"
        ),
        "relationship_status",
        "set",
    ),
    (
        _p(
            r"\b(?:got|adopted|have|bought|rescued|getting|adopting)\s+(?:a|an)\s+(?:new\s+)?(?:\w+\s+)?(?P<v>(?:dog|puppy|cat|kitten|rabbit|bunny|hamster|parrot|bird|fish|turtle|horse)(?:\s+named\s+NAME)?)"
        ),
        "pet",
        "set",
    ),
    (
        _p(
            r"\b(?:am|became|become|gone|went|turned|going)\s+(?:fully\s+)?(?P<v>vegetarian|vegan|pescatarian|keto|gluten[- ]free)\b"
        ),
        "diet",
        "set",
    ),
    (
        _p(
            r"\bfavou?rite\s+(?P<c>\w+(?:\s\w+)?)\s+(?:is|are|has become|became|these days is|now is|is now)\s+(?:now\s+)?"
            + _PHRASE
            + _STOP
        ),
        FAVORITE,
        "set",
    ),
    (
        _p(
            r"\b(?:(?:not|no longer)\s+(?:like|liking|drink|drinking|eat|eating|enjoy|enjoying|into)|stopped|gave up|give up|can not stand)\s+"
            + _PHRASE
            + _STOP
        ),
        "likes",
        "end",
    ),
    (
        _p(
            r"\b(?:love|loves|like|likes|enjoy|enjoys|adore|adores|prefer|prefers|obsessed with|really into|am into|is into|are into)\s+"
            + _PHRASE
            + _STOP
        ),
        "likes",
        "set",
    ),
    (
        _p(
            r"\b(?:cancel(?:l?ed)?|called off|call off|postponed|scrapped|fell through|falls through|not going to|no longer going to|not moving)\b"
        ),
        "plan",
        "end",
    ),
    (
        _p(
            r"\b(?:am|are|is)\s+(?:planning|going|hoping|about)\s+to\s+(?P<v>[^.;!?]{3,60}?)"
            + _STOP
        ),
        "plan",
        "set",
    ),
    (_p(r"\b(?:plan|plans|intend|intends)\s+to\s+(?P<v>[^.;!?]{3,60}?)" + _STOP), "plan", "set"),
    (
        _p(
            r"\b(?:bought|got|drive|drives|driving|leased|own)\s+(?:a|an|my)\s+(?:new\s+|used\s+)?(?P<v>(?-i:[A-Z][\w-]*)(?:\s+[\w-]+)?)"
        ),
        "car",
        "set",
    ),
    (
        _p(
            r"\b(?:study|studying|studies|enrolled|attend|attending|student|grad school|degree)\b[^.;!?]{0,30}?\s(?:at|in)\s+(?P<v>NAME)"
        ),
        "school",
        "set",
    ),
    (
        _p(r"\b(?:am|is|turned|turning)\s+(?P<v>\d{1,3})(?:\s+years?\s+old|\s+today|\s+now|\b)"),
        "age",
        "set",
    ),
    (
        _p(
            r"\b(?:took up|taken up|picked up|got into|getting into|started|learning to|learning)\s+(?P<v>(?!(?:working|going|thinking|looking|trying|getting|doing|feeling|planning|hoping|learning|taking|making|being|having|starting|wondering)\b)\w{3,}ing(?:\s+(?!(?:the|a|an|to|at|in|on|for|with|and|as|my|it|last|next|this|every|now|again|today|yesterday|lately|recently)\b)\w+)?|pottery|yoga|chess|guitar|piano|painting)\b"
        ),
        "hobby",
        "set",
    ),
    (
        _p(
            r"\b(?:am|is)\s+(?:now\s+|officially\s+|finally\s+)?an?\s+(?P<v>(?:[\w-]+\s){0,3}[\w-]+?)(?:\s+now|\s+these days)?(?=\s*[.!,;]|\s*$)"
        ),
        "job",
        "title",
    ),
]
_PARTNER_WORD = re.compile(
    r"\bmy\s+(?:new\s+)?(?P<r>boyfriend|girlfriend|partner|fianc[eé]e?|husband|wife)\s*,?\s+(?P<v>"
    + _NAME
    + ")",
    re.I,
)
_STATUS = {"husband": "married", "wife": "married", "fiance": "engaged", "fiancee": "engaged"}
_CLAUSES = re.compile(
    r"(?<=[.!?;:])\s+|\s+[-–—]+\s+|,\s+(?:and|but|so)\s+|\s+(?:but|and then|so now)\s+"
)
_ABBREVIATION = re.compile(r"(?:\b(?:St|Mr|Mrs|Ms|Dr|Jr|Sr|Mt|Inc|Co|Corp|Ltd|vs)|\b[A-Z])\.$")
_PAST_ONLY = re.compile(
    r"\b(?:(?<!getting )(?<!get )(?<!got )used to|was going to|would|if|wish|maybe|might)\b", re.I
)
_PART_OF = re.compile(
    r"\s+(?:[a-z]+\s+){0,2}?(?:team|office|lab|department|division|group|branch|store|shop"
    r"|headquarters|hq|campus|factory|plant|site|unit|kitchen|studio)\b"
)
_JOB_NOUNS = re.compile(r"\b(?:job|position|role)$", re.I)
OCCUPATION = re.compile(
    r"(?:er|or|ist|ian|ant|ent|nurse|chef|cook|student|architect|analyst|scientist|engineer"
    r"|teacher|doctor|lawyer|pilot|officer|intern|barista|paramedic|dentist|vet|clerk|agent"
    r"|designer|developer|manager|consultant|coach|professor|researcher|postdoc|surgeon)$",
    re.I,
)
_NOTOCCUPATION = re.compile(r"\b(?:fan|lover|member|beginner|bit|lot|mess|wreck|person)$", re.I)
_VERBISH = re.compile(
    r"^\s*(?:'s\b|is|was|has|had|just|got|gets|will|would|can|never|already|also|still|now|"
    r"finally|recently|and|\w+ed|\w{2,}s)\b",
    re.I,
)


@dataclass(slots=True)
class Message:
    speaker: str
    text: str
    said_at: datetime | None
    message_id: str
    episode_pk: int


def extract(message: Message) -> list[FactDraft]:
    """Every claim the rules find in one message, in order."""
    text = message.text
    for pattern, repl in _CONTRACTIONS:
        text = re.sub(pattern, repl, text, flags=re.I)
    found: list[FactDraft] = []
    other: str | None = None  # whom "he" / "she" refers to: the last person named
    for clause in clauses(text):
        facts = list(_clause_facts(clause, message, other))
        found.extend(facts)
        other = next((f.subject for f in facts if f.subject != message.speaker), other)
        named = clause_subject(clause, message.speaker, other)[0]
        if named and named != message.speaker:
            other = named
    return _dedupe(found)


def clauses(text: str) -> list[str]:
    """Clauses, without breaking after "St." or "Dr."."""
    out: list[str] = []
    for part in _CLAUSES.split(text):
        if out and _ABBREVIATION.search(out[-1]):
            out[-1] = f"{out[-1]} {part}"
        else:
            out.append(part)
    return [c.strip() for c in out if c.strip()]


def _clause_facts(clause: str, message: Message, other: str | None) -> Iterator[FactDraft]:
    if not clause or _PAST_ONLY.search(clause):
        return
    subject, rest = clause_subject(clause, message.speaker, other)
    if subject is None:
        return
    when = event_time_of(clause, message.said_at)
    for m in _PARTNER_WORD.finditer(clause):  # "my husband Tom": about the speaker
        speaker = message.speaker
        yield _draft(message, speaker, "partner", m["v"], "set", when)
        status = _STATUS.get(m["r"].lower().replace("é", "e"))
        if status:
            yield _draft(message, speaker, "relationship_status", status, "set", when)
    claimed: dict[str, list[tuple[int, int]]] = {}
    for pattern, attribute, op in _RULES:
        spans = claimed.setdefault(attribute, [])
        for m in pattern.finditer(rest):
            if any(a < m.end() and m.start() < b for a, b in spans):
                continue  # an earlier, more specific rule read this span
            found = list(_from_match(m, attribute, op, subject, message, when, rest))
            yield from found
            spans.append(m.span())


def _from_match(
    m: re.Match[str],
    attribute: str,
    op: str,
    subject: str,
    message: Message,
    when: datetime | None,
    clause: str,
) -> Iterator[FactDraft]:
    groups = m.groupdict()
    value = _clean(groups.get("v") or "")
    if op == "title":  # "I'm officially a senior architect now": only an occupation noun
        if OCCUPATION.search(value):
            yield _draft(message, subject, "job", value, "set", when)
        return
    if attribute == "plan":
        said = message.said_at  # a plan dates from when it was made, not from its target
        if op == "end":  # which plan: the words of the clause (matched by overlap)
            yield _draft(message, subject, "plan", clause, "end", said)
        else:
            value = f"move to {value}" if op == "move" else value
            yield _draft(message, subject, "plan", value, "set", said)
        return
    if attribute == FAVORITE:
        attribute = FAVORITE + "_".join(groups["c"].lower().split())
    if groups.get("e"):
        employer = _clean(groups["e"])
        if _PART_OF.match(m.string[m.end("e") :]):  # "Tesla's battery team": Tesla
            employer = re.sub(r"['’]s$", "", employer)
        yield _draft(message, subject, "employer", employer, op, when)
        if op == "end":
            yield _draft(message, subject, "job", "", "end", when)
    if attribute == "job" and op == "end":
        yield _draft(message, subject, "job", "", "end", when)
        yield _draft(message, subject, "employer", "", "end", when)
        return
    if attribute == "employer" or (attribute == "job" and _JOB_NOUNS.search(value)):
        return
    if attribute == "partner" and op == "end":
        yield _draft(message, subject, "partner", value, "end", when)
        yield _draft(message, subject, "relationship_status", "single", "set", when)
        return
    if op == "end" or query_terms(value):  # "love it", "like that": no fact in a pronoun
        yield _draft(message, subject, attribute, value, op, when)


def relative_subject(clause: str, speaker: str) -> str | None:
    """ "my brother Tom works…" → "Tom"; "my sister lives…" → "Maya's sister"; else None."""
    m = _SUBJECT.match(clause)
    if m is None or not m["kin"]:
        return None
    return m["kname"] or f"{speaker}'s {m['kin'].lower()}"


_PRONOUN = re.compile(r"^(?:\W*\w+\W+){0,2}?(?:he|she|they)\b(?:'s|'ll| is| was| has)?", re.I)
_ABOUT_YOU = re.compile(r"^\W*(?:you|your|can you|could you|would you|do you|did you)\b", re.I)


def clause_subject(clause: str, speaker: str, other: str | None = None) -> tuple[str | None, str]:
    """Who a clause is about, and the rest of it. No subject ("Moved to Munich", "Got a
    place in Neukölln") is the speaker, as chat drops "I"; "he"/"she" is ``other``."""
    pronoun = _PRONOUN.match(clause)
    if pronoun:
        return other, clause[pronoun.end() :]
    m = _SUBJECT.match(clause)
    if m is None or (m["name"] and not _VERBISH.match(clause[m.end() :])):
        if _ABOUT_YOU.match(clause):
            return None, clause
        return speaker, clause
    rest = clause[m.end() :]
    if m["pair"]:  # "Sam and I broke up": about the speaker, Sam as the other party
        return speaker, f"{rest} with {m['pair']}"
    if m["rname"]:
        return m["rname"], rest
    if m["kin"]:
        return (m["kname"] or f"{speaker}'s {m['kin'].lower()}"), rest
    if m["name"]:
        name = m["name"]
        first_person = re.search(r"\b(?:I|my)\b", rest)
        head = re.sub(r"['’]s$", "", name.split()[0].lower())
        if first_person or name.lower() in _NOT_NAMES or head in _NOT_NAMES:
            return speaker, clause
        return name, rest
    return speaker, rest


def _clean(value: str) -> str:
    return value.strip().strip("'\"").rstrip(".,").strip()


def event_time_of(clause: str, said_at: datetime | None) -> datetime | None:
    """When the claim became true: a past date the clause names, else when it was said."""
    if said_at is None:
        return None
    ranges = [r for r in find_time_ranges(clause, said_at) if r.start <= said_at]
    return ranges[0].start if ranges else said_at


def _draft(
    message: Message, subject: str, attribute: str, value: str, op: str, when: datetime | None
) -> FactDraft:
    return FactDraft(
        subject=subject.strip(),
        attribute=attribute,
        value=value.strip(),
        event_time=when,
        sources=[message.message_id],
        episode_pks=[message.episode_pk],
        op="end" if op == "end" else "set",
        confidence=0.8,
        actor="rules",
    )


def _dedupe(found: list[FactDraft]) -> list[FactDraft]:
    seen: set[tuple[str, str, str]] = set()
    out = []
    for fact in found:
        mark = (fact.key(), fact.op, fact.value.lower())
        if mark not in seen:
            seen.add(mark)
            out.append(fact)
    return out
