"""Timestamps and time expressions, resolved against a fixed reference time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engramdb.encode.timeparse import TimeRange, asks_for_time, find_time_ranges, parse_timestamp
from engramdb.errors import InvalidInputError

# Saturday 20 May 2023, noon UTC
REF = datetime(2023, 5, 20, 12, 0, tzinfo=UTC)


def d(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


# --- parse_timestamp -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2023-05-08T13:56:00Z", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T13:56:00+00:00", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T15:56:00+02:00", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T08:56:00-05:00", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08T13:56:00.250Z", datetime(2023, 5, 8, 13, 56, 0, 250000, tzinfo=UTC)),
        ("2023-05-08 13:56", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("2023-05-08", d(2023, 5, 8)),
        ("  2023-05-08T13:56:00Z  ", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("1:56 pm on 8 May, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("1:56 PM on 8 may, 2023", datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        ("10:37 am on 27 June, 2023", datetime(2023, 6, 27, 10, 37, tzinfo=UTC)),
        ("12:00 am on 1 January, 2024", datetime(2024, 1, 1, 0, 0, tzinfo=UTC)),
        ("12:00 pm on 1 January, 2024", datetime(2024, 1, 1, 12, 0, tzinfo=UTC)),
        ("7:05 pm on 3 Sep 2022", datetime(2022, 9, 3, 19, 5, tzinfo=UTC)),
        (0, datetime(1970, 1, 1, tzinfo=UTC)),
        (1683554160, datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        (1683554160.5, datetime(2023, 5, 8, 13, 56, 0, 500000, tzinfo=UTC)),
        (datetime(2023, 5, 8, 13, 56), datetime(2023, 5, 8, 13, 56, tzinfo=UTC)),
        (
            datetime(2023, 5, 8, 22, 56, tzinfo=timezone(timedelta(hours=9))),
            datetime(2023, 5, 8, 13, 56, tzinfo=UTC),
        ),
    ],
)
def test_parse_timestamp(value: object, expected: datetime) -> None:
    parsed = parse_timestamp(value)
    assert parsed == expected
    assert parsed.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "value",
    ["", "   ", "yesterday", "8th of May", "2023-13-45", "25:00 pm on 8 May, 2023 extra", None,
     True, [2023, 5, 8], {"year": 2023}, b"2023-05-08"],
)  # fmt: skip
def test_parse_timestamp_rejects_garbage(value: object) -> None:
    with pytest.raises(InvalidInputError, match="when"):
        parse_timestamp(value, field="when")


@pytest.mark.parametrize(
    "value",
    ["1:56 pm on 31 February, 2023", "1:61 pm on 8 May, 2023", "1:56 pm on 0 May, 2023",
     float("nan"), float("inf"), 1e20, -1e15],
)  # fmt: skip
def test_parse_timestamp_out_of_range_is_invalid_input(value: object) -> None:
    """Shaped like a timestamp but impossible: still InvalidInputError, never a raw
    ValueError/OverflowError escaping from datetime."""
    with pytest.raises(InvalidInputError):
        parse_timestamp(value)


# --- find_time_ranges ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("I saw her yesterday", d(2023, 5, 19), d(2023, 5, 20)),
        ("we went out last night", d(2023, 5, 19), d(2023, 5, 20)),
        ("I am tired today", d(2023, 5, 20), d(2023, 5, 21)),
        ("see you tomorrow", d(2023, 5, 21), d(2023, 5, 22)),
        ("I was in Rome last week", d(2023, 5, 8), d(2023, 5, 15)),
        ("busy this week", d(2023, 5, 15), d(2023, 5, 22)),
        ("off next week", d(2023, 5, 22), d(2023, 5, 29)),
        ("we camped last weekend", d(2023, 5, 13), d(2023, 5, 15)),
        # "N units ago" is fuzzy: ± max(1 day, a seventh of the distance)
        ("we met two weeks ago", d(2023, 5, 4), d(2023, 5, 9)),
        ("a couple of weeks ago", d(2023, 5, 4), d(2023, 5, 9)),
        ("it arrived 3 days ago", d(2023, 5, 16), d(2023, 5, 19)),
        ("I graduated in 2022", d(2022, 1, 1), d(2023, 1, 1)),
        ("she lived there since 2019", d(2019, 1, 1), d(2020, 1, 1)),
        ("we married last May", d(2022, 5, 1), d(2022, 6, 1)),  # said in May: the previous one
        ("I moved last April", d(2023, 4, 1), d(2023, 5, 1)),
        ("the wedding is next May", d(2024, 5, 1), d(2024, 6, 1)),
        ("we go to Spain this June", d(2023, 6, 1), d(2023, 7, 1)),
        ("I started on 8 May 2023", d(2023, 5, 8), d(2023, 5, 9)),
        ("the 8th May, 2023 was sunny", d(2023, 5, 8), d(2023, 5, 9)),
        ("on May 8, 2023 we flew", d(2023, 5, 8), d(2023, 5, 9)),
        ("the deadline was 2023-05-08", d(2023, 5, 8), d(2023, 5, 9)),
        ("back in May 2023", d(2023, 5, 1), d(2023, 6, 1)),
        ("in December 2022 it snowed", d(2022, 12, 1), d(2023, 1, 1)),
        ("it was cold last month", d(2023, 4, 1), d(2023, 5, 1)),
        ("I quit last year", d(2022, 1, 1), d(2023, 1, 1)),
        ("we spoke last Monday", d(2023, 5, 15), d(2023, 5, 16)),
        ("dinner next Friday", d(2023, 5, 26), d(2023, 5, 27)),
        # the last stretch of the current unit: a week's weekend, a month's last seven days
        ("moving at the end of the month", d(2023, 5, 25), d(2023, 6, 1)),
        ("done by the end of this week", d(2023, 5, 20), d(2023, 5, 22)),
        ("before the end of the year", d(2023, 12, 1), d(2024, 1, 1)),
        # "in N units" ahead, as fuzzy as "N units ago"
        ("we fly in two weeks", d(2023, 6, 1), d(2023, 6, 6)),
        ("back in a month", d(2023, 6, 15), d(2023, 6, 24)),
    ],
)
def test_find_time_ranges_single_expression(text: str, start: datetime, end: datetime) -> None:
    ranges = find_time_ranges(text, REF)
    assert [(r.start, r.end) for r in ranges] == [(start, end)], ranges
    assert ranges[0].text and ranges[0].text in text


def test_relative_expressions_follow_the_reference_time() -> None:
    ref = datetime(2023, 8, 3, 9, 0, tzinfo=UTC)
    assert [(r.start, r.end) for r in find_time_ranges("yesterday", ref)] == [
        (d(2023, 8, 2), d(2023, 8, 3))
    ]
    # in August, "last May" is this year's May
    assert [(r.start, r.end) for r in find_time_ranges("last May", ref)] == [
        (d(2023, 5, 1), d(2023, 6, 1))
    ]
    # a naive or string reference is taken as UTC
    assert find_time_ranges("yesterday", "2023-08-03T09:00:00") == find_time_ranges(
        "yesterday", ref
    )


def test_year_boundaries() -> None:
    ref = datetime(2023, 1, 2, tzinfo=UTC)  # a Monday
    assert [(r.start, r.end) for r in find_time_ranges("last month", ref)] == [
        (d(2022, 12, 1), d(2023, 1, 1))
    ]
    assert [(r.start, r.end) for r in find_time_ranges("last week", ref)] == [
        (d(2022, 12, 26), d(2023, 1, 2))
    ]
    assert [(r.start, r.end) for r in find_time_ranges("yesterday", ref)] == [
        (d(2023, 1, 1), d(2023, 1, 2))
    ]


def test_several_expressions_in_one_text() -> None:
    ranges = find_time_ranges("I was in Paris in 2022 and came back yesterday", REF)
    assert {(r.text, r.start, r.end) for r in ranges} == {
        ("in 2022", d(2022, 1, 1), d(2023, 1, 1)),
        ("yesterday", d(2023, 5, 19), d(2023, 5, 20)),
    }


def test_overlapping_patterns_give_one_range() -> None:
    # "8 May 2023" also contains "May 2023": only the most specific reading is kept
    assert [(r.start, r.end) for r in find_time_ranges("on 8 May 2023", REF)] == [
        (d(2023, 5, 8), d(2023, 5, 9))
    ]


@pytest.mark.parametrize(
    "text",
    ["you may want to rest", "this may be hard", "I ate a whole melon", "nothing to see here",
     "a decade 2020 retrospective", "room 2022 is upstairs"],
)  # fmt: skip
def test_text_without_time_expressions(text: str) -> None:
    assert find_time_ranges(text, REF) == []


def test_impossible_date_falls_back_to_the_month() -> None:
    ranges = find_time_ranges("due 31 February 2023", REF)
    assert [(r.start, r.end) for r in ranges] == [(d(2023, 2, 1), d(2023, 3, 1))]


def test_time_range_words() -> None:
    assert TimeRange("x", d(2023, 5, 8), d(2023, 5, 9)).words() == "8 May 2023"
    assert TimeRange("x", d(2023, 5, 1), d(2023, 6, 1)).words() == "May 2023"
    assert TimeRange("x", d(2022, 1, 1), d(2023, 1, 1)).words() == "2022"


# --- asks_for_time ---------------------------------------------------------------------------
@pytest.mark.parametrize(
    "question",
    [
        "When did Caroline go to the LGBTQ support group?",
        "when is the party",
        "What year did Melanie paint a sunrise?",
        "What month did they move to Denver?",
        "What date is the wedding?",
        "Which year did he graduate?",
        "How long ago was the trip to Patagonia?",
        "How long has Maya been a nurse?",
        "So, when exactly did you adopt Biscuit?",
    ],
)
def test_asks_for_time_true(question: str) -> None:
    assert asks_for_time(question)


@pytest.mark.parametrize(
    "question",
    [
        "What is Maya's job?",
        "Where does Daniel's brother live?",
        "Who won the science fair?",
        "Whenever it rains, what does Luna do?",
        "What is the name of the cat?",
        "Why is she running a marathon?",
    ],
)
def test_asks_for_time_false(question: str) -> None:
    assert not asks_for_time(question)


# --- the calendar's ends ---------------------------------------------------------------------
END = datetime(9999, 12, 31, tzinfo=UTC)
LAST = datetime.max.replace(tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "ref", "expected"),
    [
        ("on 31 December 9999 we party", REF, [(END, LAST)]),
        ("the deadline is 9999-12-31", REF, [(END, LAST)]),
        ("December 31, 9999", REF, [(END, LAST)]),
        ("in December 9999", REF, [(datetime(9999, 12, 1, tzinfo=UTC), LAST)]),
        ("see you tomorrow", END, []),  # wholly past the end: nothing to resolve
        ("I am busy today", END, [(END, LAST)]),
        ("next week", END, []),
        ("next year", END, []),
        ("this month", END, [(datetime(9999, 12, 1, tzinfo=UTC), LAST)]),
        # "in N units" is fuzzy (± a seventh): the part of it still on the calendar remains
        ("in 9000 years", REF, [(d(9732, 7, 19), LAST)]),
        ("in 9000 years", d(1000, 1, 1), [(d(8709, 3, 3), LAST)]),
        ("in 90000 years", REF, []),
        ("yesterday", datetime.min, []),
        ("last year", datetime(1, 6, 1), []),
        ("9000 years ago", REF, []),
        ("in " + "9" * 5000 + " days", REF, []),
        ("last ſunday", REF, [(d(2023, 5, 14), d(2023, 5, 15))]),
        ("in Auguſt 2020", REF, [(d(2020, 8, 1), d(2020, 9, 1))]),
        ("since 0000-01-01", REF, []),
    ],
    ids=lambda v: v if isinstance(v, str) else None,
)
def test_dates_at_the_calendars_ends_clamp(text: str, ref: datetime, expected: list) -> None:
    """Dates at or past the ends of years 1-9999 once raised OverflowError (a 500 over REST)."""
    assert [(r.start, r.end) for r in find_time_ranges(text, ref)] == expected


# fragments that reach every pattern, at and past the calendar's ends, mixed with any text
FRAGMENTS = st.sampled_from(
    ["31 December 9999", "9999-12-31", "0001-01-01", "December 9999", "January 0001", "May 0",
     "in 9000 years", "9000 years ago", "in 99999999999 days", "a few weeks ago", "tomorrow",
     "yesterday", "today", "next week", "last weekend", "this month", "next year", "past year",
     "last Monday", "next ſunday", "on Friday", "end of the year", "end of this week",
     "last December", "next January", "in March", "since 1999", "by 2099", "8th May, 2023",
     "Feb 29, 2023", " ", ",", "\u200f", "\x00", "\ud800", "٣ days ago"]
)  # fmt: skip
TEXTS = st.one_of(
    st.text(max_size=80),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=4)), max_size=8).map(" ".join),
)
ZONES = st.one_of(
    st.none(),
    st.just(UTC),
    st.timezones(),
    st.builds(timezone, st.timedeltas(timedelta(hours=-23, minutes=-59), timedelta(hours=23))),
)
REFS = st.one_of(
    st.sampled_from([datetime.min, datetime.max]).flatmap(
        lambda edge: ZONES.map(lambda zone: edge.replace(tzinfo=zone))
    ),
    st.datetimes(datetime.min, datetime.max, timezones=ZONES),
)
EXAMPLES = 400


def test_find_time_ranges_is_total() -> None:
    """Any text, any reference datetime: no exception, and every range is UTC, non-empty and
    names words of the text."""
    runs: list[str] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True)
    @given(text=TEXTS, ref=REFS)
    def check(text: str, ref: datetime) -> None:
        runs.append(text)
        for found in find_time_ranges(text, ref):
            assert found.start.utcoffset() == timedelta(0) == found.end.utcoffset()
            assert found.start < found.end
            assert found.text and found.text in text
            assert found.words()

    check()
    print(f"timeparse property: {len(runs)} examples, 0 exceptions")
    assert len(runs) >= EXAMPLES
