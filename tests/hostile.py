"""Hypothesis strategies for hostile input, shared by the fuzz tests of the Python API and of
the service: Unicode edge cases (lone surrogates, NUL, bidi and zero-width marks, case-folding
twins, very long strings), nested JSON up to far past the metadata limits, and dates at and
past the ends of the calendar."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

EDGE_CHARS = [
    "\ud800", "\udfff", "\x00", "\x01", "\n", "\u200f", "\u202e", "\u200b", "\u200d", "\ufeff",
    "\u0301", "\u00a0", "ſ", "K", "İ", "ı", "\U0001f600", "٣", "\uffff", "\U0010ffff",
]  # fmt: skip
DATE_WORDS = [
    "31 December 9999", "9999-12-31", "December 31, 9999", "in 9000 years", "9000 years ago",
    "0001-01-01", "January 0001", "tomorrow", "yesterday", "next year", "last week",
    "in 99999999999999999999 days", "end of the year", "last ſunday", "since 1999",
]  # fmt: skip
STAMP_TEXT = [
    "9999-12-31T23:59:59Z", "9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00",
    "0001-01-01", "9999-12-31", "1:56 pm on 31 December, 9999", "1:56 pm on 1 January, 0001",
    "2023-05-08T13:56:00Z", "never", "",
]  # fmt: skip

# any code point, surrogates included (hypothesis leaves them out unless asked)
ANY_CHAR = st.characters(codec=None, categories=None, exclude_categories=())
WORDS = st.sampled_from(["hiking", "Ann", "I moved to Paris", "my cat", "we", "is", "the"])
TEXT = st.one_of(
    st.text(ANY_CHAR, max_size=40),
    st.lists(
        st.one_of(WORDS, st.sampled_from(DATE_WORDS), st.sampled_from(EDGE_CHARS)), max_size=8
    ).map(" ".join),
    st.sampled_from(["x" * 40_000, "é" * 5_000, "\u200b" * 3_000, "a" * 300]),
)


# text a careful caller sends: still full of the edge cases that are valid (bidi and
# zero-width marks, combining accents, case-folding twins, emoji, dates at the calendar's ends)
VALID_CHARS = [c for c in EDGE_CHARS if c not in ("\ud800", "\udfff", "\x00", "\x01")]
GOOD_TEXT = st.lists(
    st.one_of(WORDS, st.sampled_from(DATE_WORDS), st.sampled_from(VALID_CHARS)),
    min_size=1,
    max_size=8,
).map(" ".join)


def mostly(good: st.SearchStrategy[Any], bad: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Nine draws in ten from ``good``: a call whose every argument is hostile only ever
    reaches the first check, so most arguments must pass for the later ones to be tested.
    (A flatmap: ``one_of(good, good, bad)`` would be one_of(good, bad), even odds.)"""
    return st.integers(0, 9).flatmap(lambda roll: good if roll else bad)


def nested(depth: int, leaf: Any = 1) -> Any:
    """``depth`` levels of objects and lists around ``leaf``."""
    value = leaf
    for level in range(depth):
        value = {"k": value} if level % 2 else [value]
    return value


SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


GOOD_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False,
              allow_infinity=False), GOOD_TEXT),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(GOOD_TEXT, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip


def metadata(max_depth: int = 2_000) -> st.SearchStrategy[Any]:
    """Metadata as a caller might send it: a small object, mostly; else nested far too deep
    (or just within the limit), wide, full of NaN and surrogates, or not an object at all."""
    return mostly(
        st.one_of(st.none(), st.dictionaries(GOOD_TEXT, GOOD_JSON, max_size=4)),
        st.one_of(
            st.dictionaries(TEXT, JSON, max_size=5),
            st.integers(1, max_depth).map(lambda depth: {"deep": nested(depth)}),
            st.integers(28, 36).map(lambda depth: {"deep": nested(depth)}),
            st.integers(990, 1_010).map(lambda n: {f"k{i}": i for i in range(n)}),
            JSON,
        ),
    )


ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.builds(timezone, st.timedeltas(timedelta(hours=-23, minutes=-59), timedelta(hours=23))),
)
DATETIMES = st.one_of(
    st.sampled_from([datetime.min, datetime.max]).flatmap(
        lambda edge: ZONES.map(lambda zone: edge.replace(tzinfo=zone))
    ),
    st.datetimes(datetime.min, datetime.max, timezones=ZONES),
)
# a timestamp in any of the forms the API takes, valid or not
STAMPS = mostly(
    st.one_of(st.none(), DATETIMES, st.sampled_from(STAMP_TEXT[:-2])),
    st.one_of(
        st.sampled_from(STAMP_TEXT[-2:]),
        st.floats(allow_nan=True, allow_infinity=True),
        st.integers(min_value=-(2**64), max_value=2**64),
        TEXT,
    ),
)
