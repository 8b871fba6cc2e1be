"""One analysis of the question per search, read by every stage: its content words' lexical
plan, its vector, whether it asks for a time, the times it names, whether it asks about the
past, and the person it asks about."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from engramdb.encode.timeparse import TimeRange

if TYPE_CHECKING:
    from engramdb.retrieve.scope_index import FloatArray, ScopeIndex

# what marks a question as one about an earlier state, not the present: a small lexicon of
# English cues (a parser cannot know which adverbs point back), plus a named time range that
# ended before the question was asked
_BACK = re.compile(
    r"\b(?:before|previously|formerly|originally|used to|no longer|any more|anymore|earlier"
    r"|at first|first|old|former|ex|prior|back then|back when|last time|ago)\b",
    re.I,
)


@dataclass(slots=True)
class QueryAnalysis:
    text: str
    now: datetime
    match: Any  # the store's lexical plan; None when the query has no content word
    vector: FloatArray | None
    asks_time: bool
    ranges: list[TimeRange]
    as_of: datetime | None = None  # the time the question asks about (None: now)
    lexical: dict[str, list[tuple[Any, float]]] = field(default_factory=dict)
    _subject: tuple[int, int | None] | None = None  # (speakers known, code) once asked

    @property
    def at(self) -> float:
        """The time the question asks about, epoch seconds."""
        return (self.as_of or self.now).timestamp()

    @property
    def past(self) -> bool:
        """Whether it asks about a state before the one that held (at ``as_of`` or now):
        "where did she live before?", "in 2022" without ``as_of``."""
        if _BACK.search(self.text):
            return True
        if self.as_of is not None:
            return False
        now = self.now.timestamp()
        return any(r.end.timestamp() < now - 86_400 for r in self.ranges)

    def subject(self, index: ScopeIndex) -> int | None:
        """The code of the person asked about (retrieve/succession.py ``query_subject``),
        worked out once per search."""
        if self._subject is None or self._subject[0] != len(index.speakers):
            from engramdb.retrieve.succession import query_subject

            codes = index.speaker_code[: len(index.position)]
            self._subject = (len(index.speakers), query_subject(index, self.text, codes))
        return self._subject[1]
