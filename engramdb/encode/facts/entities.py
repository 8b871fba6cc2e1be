"""Named entities without a model: runs of capitalised words that are not sentence-initial
common words ("Caroline", "St. Mary's", "New York"). Cheap enough to run on every message."""

from __future__ import annotations

import re

from engramdb.encode.text import STOPWORDS, normalise_name
from engramdb.encode.timeparse import MONTHS, WEEKDAYS

_RUN = re.compile(
    r"(?<![\w'’])[A-Z][\w'’&-]*(?:(?<=\b(?:St|Mt|Dr|Mr|Ms|Jr|Sr))\.(?=\s[A-Z]))?"
    r"(?:\s+(?:of|de|la|van|von)?\s*[A-Z][\w'’&-]*(?:(?<=\b(?:St|Mt))\.(?=\s[A-Z]))?)*"
)
_COMMON = {
    *STOPWORDS,
    *MONTHS,
    *WEEKDAYS,
    *(f"{day}s" for day in WEEKDAYS),
    *("hey", "hi", "hello", "thanks", "thank", "wow", "yeah", "yes", "no", "ok", "okay", "oh"),
    *("sure", "great", "good", "awesome", "cool", "lol", "haha", "omg", "btw", "today"),
    *("tomorrow", "yesterday", "mr", "mrs", "ms", "dr", "i'm", "i've", "i'll", "i'd"),
}
MAX_ENTITIES = 8


def find_entities(text: str) -> list[str]:
    """Distinct entity names in a text, in order of appearance."""
    found: dict[str, str] = {}
    for m in _RUN.finditer(text):
        words = m.group(0).split()
        if len(words) == 1 and _sentence_start(text, m.start()):
            continue  # "Mostly", "Sundays": capitalised by position, not because it is a name
        while words and words[0].lower().strip(".") in _COMMON:
            words = words[1:]  # "Hey Mel" → "Mel"; a sentence-initial "The" or "Today"
        if not words:
            continue
        name = " ".join(words).rstrip(".'’")
        norm = normalise_name(name)
        if len(norm) >= 2 and norm not in _COMMON and norm not in found:
            found[norm] = name
        if len(found) >= MAX_ENTITIES:
            break
    return list(found.values())


def _sentence_start(text: str, at: int) -> bool:
    before = text[:at].rstrip(" \t\"'“‘(")
    return not before or before[-1] in ".!?:\n"
