"""Sentences addressed to the agent rather than to the reader, read from the dependency parse
the claim extractor uses (spaCy ``en_core_web_sm``). A web page, an email or a tool result
speaks to the person; a sentence in it that commands whoever *answers the person* is written
for a model. The signs, each a piece of grammar rather than a phrase:

* an imperative (a bare verb with no subject) of passing something on — say, tell, reply,
  send — whose hearer is a third person ("tell *them*", "tell *the user*", the person's own
  name), or that is to hold always or never;
* a condition on a future question ("if anyone asks about…", "whenever someone mentions…"):
  only the one who answers questions can act on it;
* an order to disregard instructions, rules or prompts, or to write into memory or a profile;
* the agent named as the one spoken to ("to the AI", "assistant:", "if you are a language
  model"), its own things named ("your system prompt", "your memory"), a persona given to it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

from engramdb.encode.claims.parser import parse

if TYPE_CHECKING:
    from spacy.tokens import Span, Token

# verbs of passing something on to a hearer
_PASS_ON = {
    "say", "tell", "answer", "respond", "reply", "mention", "recommend", "state", "confirm",
    "inform", "advise", "direct", "refer", "suggest", "claim", "report", "output", "print",
    "repeat", "reveal", "share", "send", "forward", "give", "provide", "quote", "insist",
    "append", "include", "sign", "point", "route", "redirect", "instruct", "remind", "describe",
}  # fmt: skip
_ASK = {"ask", "inquire", "enquire", "mention", "request", "bring", "query", "raise", "want"}
_HEARERS = {
    "them", "him", "her", "they", "anyone", "someone", "everyone", "anybody", "everybody",
    "somebody", "people", "user", "users", "caller", "callers", "customer", "customers",
    "visitor", "visitors", "whoever", "person", "requester", "asker",
}  # fmt: skip
_ASKERS = _HEARERS | {"he", "she", "i", "we"}
_OVERRIDE = {"ignore", "disregard", "forget", "override", "bypass", "skip", "drop", "abandon"}
_INSTRUCTIONS = {
    "instruction", "rule", "prompt", "guideline", "direction", "directive", "guidance",
    "programming", "constraint", "policy", "context", "message", "restriction", "setting",
}  # fmt: skip
_REMEMBER = {"remember", "note", "save", "store", "record", "memorize", "memorise", "log", "update"}
_MEMORY = {"memory", "memories", "profile", "note", "notes", "record", "records", "file"}
_ALWAYS = {"always", "never"}
_AGENT = r"(?:ai|a\.i\.|assistants?|language models?|llms?|chat ?bots?|bots?|agents?|gpt|models?)"
_ADDRESSED = re.compile(
    rf"\b(?:to|for|attention|dear|hey|hi|note to|message to)[ :,]+(?:the |any |all |an? )?"
    rf"(?:ai |automated )?{_AGENT}\b"
    rf"|\bif you(?:'re| are) an? (?:ai|assistant|language model|llm|bot|agent|model)\b"
    rf"|^\W*{_AGENT}\W*[,:]"
    rf"|\b{_AGENT} (?:reading|processing|summari[sz]ing|parsing|handling) this\b",
    re.IGNORECASE | re.MULTILINE,
)
_YOURS = re.compile(
    r"\byour (?:previous |prior |original |current |new |core )?(?:instructions|system prompt|"
    r"prompt|memory|memories|guidelines|rules|programming|training|context window|persona|"
    r"directives)\b",
    re.IGNORECASE,
)
_PERSONA = re.compile(
    r"\byou are now\b|\bfrom now on,? you\b|\bact as (?:an?|the|my)\b|\bpretend (?:to be|you)\b"
    r"|\brole-?play as\b|\byou will now (?:act|behave|respond|answer)\b|\bnew persona\b",
    re.IGNORECASE,
)
_STANDING = re.compile(
    r"\bfrom now on\b|\bgoing forward\b|\bin (?:the )?future\b|\bevery time\b|\bfor later\b",
    re.I,
)
_TRIGGER = re.compile(r"\b(?:next time|any ?time|each time|every time)\b", re.IGNORECASE)


def directives(texts: Sequence[str], person: str | None = None) -> list[list[str]]:
    """For each text, why it speaks to the agent (empty: it does not)."""
    out: list[list[str]] = []
    docs = parse([t[:20_000] for t in texts], without=("ner",))  # clauses, not names
    for text, doc in zip(texts, docs, strict=True):
        found: list[str] = []
        if _ADDRESSED.search(text):
            found.append("addresses the AI")
        if _YOURS.search(text):
            found.append("names the agent's instructions or memory")
        if _PERSONA.search(text):
            found.append("gives the agent a persona")
        for sentence in doc.sents:
            found += _sentence(sentence, person)
        out.append(list(dict.fromkeys(found)))
    return out


def _sentence(sentence: Span, person: str | None) -> list[str]:
    found: list[str] = []
    text = sentence.text
    standing = bool(_STANDING.search(text))
    for verb in _commands(sentence):
        lemma = verb.lemma_.lower()
        words = {t.lemma_.lower() for t in verb.subtree}
        if lemma in _OVERRIDE and words & _INSTRUCTIONS:
            found.append("tells the agent to disregard its instructions")
        if lemma in _REMEMBER and (words & _MEMORY or standing):
            found.append("tells the agent what to keep in memory")
        if lemma in _PASS_ON:
            always = any(c.lemma_.lower() in _ALWAYS for c in verb.children)
            if always or standing:
                found.append(f"a standing order to {lemma}")
            if any(_third_person(t, person) for t in _hearers(verb)):
                found.append(f"tells the agent to {lemma} something to someone else")
    if _asked_later(sentence):
        found.append("a condition on a later question")
    return found


def _commands(sentence: Span) -> list[Token]:
    """Imperative verbs (no subject, not a question) and "you must/should/will" verbs."""
    if sentence.text.rstrip().endswith("?"):
        return []
    out = []
    for token in sentence:
        if token.pos_ not in ("VERB", "AUX") and token.tag_ != "VB":
            continue
        deps = {c.dep_ for c in token.children}
        subjects = [c for c in token.children if c.dep_ in ("nsubj", "nsubjpass")]
        if token.tag_ == "VB" and not subjects and not deps & {"aux", "auxpass", "mark"}:
            head = token
            while head.dep_ == "conj" and head.head is not head:
                head = head.head
            clause = head.dep_ in ("ROOT", "advcl", "ccomp", "parataxis") or head is token
            if clause and (head.dep_ != "advcl" or token.dep_ == "ROOT"):
                out.append(token)
        elif any(s.lower_ == "you" for s in subjects):
            modals = {c.lower_ for c in token.children if c.dep_ == "aux"}
            if modals & {"must", "should", "will", "shall", "need", "have", "'ll"}:
                out.append(token)
    return out


def _hearers(verb: Token) -> list[Token]:
    out = []
    for child in verb.children:
        if child.dep_ in ("dobj", "dative", "iobj"):
            out.append(child)
        elif child.dep_ == "prep" and child.lower_ in ("to", "with"):
            out += [g for g in child.children if g.dep_ == "pobj"]
    return out


def _third_person(token: Token, person: str | None) -> bool:
    if any(c.dep_ == "poss" and c.lower_ in ("your", "my", "our") for c in token.children):
        return False  # "tell your child": the reader is spoken to
    if token.lower_ in _HEARERS or token.lemma_.lower() in _HEARERS:
        return True
    if person and token.pos_ == "PROPN":
        first = person.split()[0].casefold() if person.split() else ""
        return token.lower_ == first
    return False


def _asked_later(sentence: Span) -> bool:
    """ "if anyone asks about…", "whenever the user mentions…": a clause about a question that
    has not been asked yet (present tense, someone other than "you" asking)."""
    for token in sentence:
        if token.lemma_.lower() not in _ASK or token.tag_ not in ("VBZ", "VBP", "VB"):
            continue
        marks = {c.lower_ for c in token.children if c.dep_ in ("mark", "advmod")}
        timed = bool(marks & {"if", "when", "whenever", "once"}) or bool(
            _TRIGGER.search(sentence.text)
        )
        askers = [c for c in token.children if c.dep_ == "nsubj"]
        if not (timed and askers):
            continue
        if all(a.lower_ in _ASKERS or a.pos_ == "PROPN" for a in askers) and (
            not any(a.lower_ in ("i", "we") for a in askers) or _to_agent(token)
        ):
            return True
    return False


def _to_agent(token: Token) -> bool:
    """ "when I ask you about…" is said to the agent; "when I asked the bank" is not."""
    return any(c.dep_ in ("dobj", "dative") and c.lower_ == "you" for c in token.children)
