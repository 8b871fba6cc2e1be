"""Text helpers shared by ingest and search: lexical terms and the documents the index holds."""

from __future__ import annotations

import hashlib
import re

# A compact English stopword list: words that carry no topic in a question or a chat turn.
STOPWORDS = frozenset(
    [
        "a",
        "about",
        "above",
        "after",
        "again",
        "against",
        "all",
        "am",
        "an",
        "and",
        "any",
        "are",
        "aren't",
        "as",
        "at",
        "be",
        "because",
        "been",
        "before",
        "being",
        "below",
        "between",
        "both",
        "but",
        "by",
        "can",
        "could",
        "did",
        "didn't",
        "do",
        "does",
        "doesn't",
        "doing",
        "don't",
        "down",
        "during",
        "each",
        "few",
        "for",
        "from",
        "further",
        "had",
        "has",
        "have",
        "having",
        "he",
        "he'd",
        "he'll",
        "he's",
        "her",
        "here",
        "hers",
        "herself",
        "him",
        "himself",
        "his",
        "how",
        "i",
        "i'd",
        "i'll",
        "i'm",
        "i've",
        "if",
        "in",
        "into",
        "is",
        "isn't",
        "it",
        "it's",
        "its",
        "itself",
        "just",
        "let's",
        "me",
        "more",
        "most",
        "my",
        "myself",
        "no",
        "nor",
        "not",
        "now",
        "of",
        "off",
        "on",
        "once",
        "only",
        "or",
        "other",
        "ought",
        "our",
        "ours",
        "ourselves",
        "out",
        "over",
        "own",
        "same",
        "she",
        "she'd",
        "she'll",
        "she's",
        "should",
        "so",
        "some",
        "such",
        "than",
        "that",
        "that's",
        "the",
        "their",
        "theirs",
        "them",
        "themselves",
        "then",
        "there",
        "there's",
        "these",
        "they",
        "they'd",
        "they'll",
        "they're",
        "they've",
        "this",
        "those",
        "through",
        "to",
        "too",
        "under",
        "until",
        "up",
        "very",
        "was",
        "wasn't",
        "we",
        "we'd",
        "we'll",
        "we're",
        "we've",
        "were",
        "weren't",
        "what",
        "what's",
        "when",
        "when's",
        "where",
        "where's",
        "which",
        "while",
        "who",
        "who's",
        "whom",
        "why",
        "why's",
        "will",
        "with",
        "won't",
        "would",
        "you",
        "you'd",
        "you'll",
        "you're",
        "you've",
        "your",
        "yours",
        "yourself",
        "yourselves",
        "also",
        "really",
        "yeah",
        "oh",
        "ok",
        "okay",
        "hey",
        "hi",
        "lol",
        "just",
        "like",
        "get",
        "got",
        "gonna",
        "wanna",
        "thing",
        "things",
        "much",
        "many",
        "well",
        "one",
        "would",
    ]
)

_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)?", re.UNICODE)


def words(text: str) -> list[str]:
    """Lower-cased word tokens (letters and digits, apostrophes inside words kept)."""
    return _WORD.findall(text.lower())


def query_terms(text: str, limit: int = 32) -> list[str]:
    """Distinct content words of a query, in order; stopwords dropped."""
    seen: dict[str, None] = {}
    for word in words(text):
        base = word.split("'")[0]
        if base and base not in STOPWORDS and word not in STOPWORDS:
            seen.setdefault(base, None)
    return list(seen)[:limit]


def content_hash(*parts: str | None) -> str:
    digest = hashlib.blake2b(digest_size=16)
    for part in parts:
        digest.update((part or "").encode("utf-8", "surrogatepass"))
        digest.update(b"\x1f")
    return digest.hexdigest()


def speaker_prefixed(speaker: str | None, text: str) -> str:
    return f"{speaker}: {text}" if speaker else text


_ARTICLE = re.compile(r"^(?:the|a|an|my|our)\s+")


def normalise_name(name: str) -> str:
    """The comparable form of an entity name or a fact value: lower case, words only, no
    leading article ("The Blue Note" and "blue note" are one entity)."""
    joined = " ".join(words(name))
    return _ARTICLE.sub("", joined).strip()
