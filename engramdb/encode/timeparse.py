"""Time: parse timestamps, and resolve time expressions ("yesterday", "last May", "in 2022")
against a reference time into absolute ranges. Rule-based, fast, no model.

``find_time_ranges`` is total: it reads text that anyone may send (messages, edits, queries),
so no text and no reference time makes it raise. Arithmetic that would leave the calendar
(years 1 to 9999) stops at its ends, and an expression wholly past them ("tomorrow" on 31
December 9999) resolves to nothing."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from engramdb.errors import InvalidInputError

MONTHS = {name.lower(): i for i, name in enumerate(calendar.month_name) if name}
MONTHS.update({name.lower(): i for i, name in enumerate(calendar.month_abbr) if name})
MONTHS.pop("may", None)
MONTHS["may"] = 5
WEEKDAYS = {name.lower(): i for i, name in enumerate(calendar.day_name)}
NUMBER_WORDS = {
    "a": 1,
    "an": 1,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "couple of": 2,
    "few": 3,
    "several": 3,
}
UNIT_DAYS = {"day": 1, "week": 7, "weekend": 7, "month": 30, "year": 365}
EARLIEST = datetime.min.replace(tzinfo=UTC)
LATEST = datetime.max.replace(tzinfo=UTC)
# the calendar spans 3,652,059 days: any shift longer than that leaves it from anywhere
_CALENDAR_DAYS = 3_652_059
# re.IGNORECASE matches these four non-ASCII letters to ASCII ones ("ſunday" to "sunday"),
# so the words a pattern found are folded the same way before they are looked up
_ASCII_TWINS = str.maketrans({"İ": "i", "ı": "i", "ſ": "s", "K": "k"})

_LOCOMO = re.compile(
    r"^\s*(\d{1,2}):(\d{2})\s*(am|pm)\s+on\s+(\d{1,2})\s+([A-Za-z]+),?\s+(\d{4})\s*$", re.I
)


def parse_timestamp(value: object, *, field: str = "timestamp") -> datetime:
    """A timestamp from a datetime, an ISO-8601 string, epoch seconds or "1:56 pm on 8 May, 2023".

    Naive values are taken as UTC; the result is always timezone-aware UTC.
    """
    try:
        if isinstance(value, datetime):
            stamp = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            stamp = datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str):
            stamp = _parse_text_timestamp(value.strip(), field)
        else:
            raise InvalidInputError(
                f"{field} must be an ISO-8601 string, a datetime or epoch seconds"
            )
        if stamp.tzinfo is None:
            stamp = stamp.replace(tzinfo=UTC)
        return stamp.astimezone(UTC)
    except (ValueError, OverflowError, OSError) as exc:
        if isinstance(exc, InvalidInputError):
            raise
        raise InvalidInputError(f"{field} {str(value)[:60]!r} is not a valid date/time") from exc


def _parse_text_timestamp(text: str, field: str) -> datetime:
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        pass
    match = _LOCOMO.match(text)
    if match:
        hour, minute, half, day, month_name, year = match.groups()
        month = MONTHS.get(month_name.lower())
        if month and 1 <= int(hour) <= 12:
            hour_24 = int(hour) % 12 + (12 if half.lower() == "pm" else 0)
            return datetime(int(year), month, int(day), hour_24, int(minute))
    raise InvalidInputError(f"{field} {text[:60]!r} is not a date/time engramdb understands")


@dataclass(frozen=True, slots=True)
class TimeRange:
    """A resolved time expression: [start, end) in UTC, with the words it came from."""

    text: str
    start: datetime
    end: datetime

    def words(self) -> str:
        """Searchable words for the range ("7 May 2023", "May 2023", "2023")."""
        days = (self.end - self.start).days
        if days <= 1:
            return f"{self.start.day} {calendar.month_name[self.start.month]} {self.start.year}"
        if days <= 31:
            return f"{calendar.month_name[self.start.month]} {self.start.year}"
        return str(self.start.year)


def _day(ref: datetime) -> datetime:
    return ref.replace(hour=0, minute=0, second=0, microsecond=0)


def _fold(word: str) -> str:
    return word.translate(_ASCII_TWINS).lower()


def _at(year: int, month: int = 1, day: int = 1) -> datetime:
    """Midnight UTC of a date; a year before 1 or after 9999 is the calendar's end. A day
    that the month lacks still raises ValueError ("31 February" is not a date)."""
    if year < 1:
        return EARLIEST
    if year > 9999:
        return LATEST
    return datetime(year, month, day, tzinfo=UTC)


def _add_days(moment: datetime, days: int) -> datetime:
    """``moment`` shifted by whole days, stopping at the calendar's ends."""
    if abs(days) <= _CALENDAR_DAYS:
        try:
            return moment + timedelta(days=days)
        except OverflowError:
            pass
    return LATEST if days > 0 else EARLIEST


def _month_range(year: int, month: int) -> tuple[datetime, datetime]:
    return _at(year, month), _at(year + (month == 12), month % 12 + 1)


def _week_start(ref: datetime) -> datetime:
    return _add_days(_day(ref), -ref.weekday())


_MONTH_RE = "|".join(sorted(MONTHS, key=len, reverse=True))
_NUM_RE = r"\d+|" + "|".join(sorted(NUMBER_WORDS, key=len, reverse=True))
_PATTERNS: list[tuple[str, re.Pattern[str]]] = [
    (
        "date",
        re.compile(rf"\b(\d{{1,2}})(?:st|nd|rd|th)?\s+({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I),
    ),
    ("mdy", re.compile(rf"\b({_MONTH_RE})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})\b", re.I)),
    ("month_year", re.compile(rf"\b({_MONTH_RE})\.?,?\s+(\d{{4}})\b", re.I)),
    ("iso", re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")),
    ("ago", re.compile(rf"\b({_NUM_RE})\s+(day|week|weekend|month|year)s?\s+ago\b", re.I)),
    ("yesterday", re.compile(r"\b(yesterday|last night)\b", re.I)),
    ("today", re.compile(r"\b(today|tonight|this morning|this afternoon|this evening)\b", re.I)),
    ("tomorrow", re.compile(r"\btomorrow\b", re.I)),
    ("end_of", re.compile(r"\bend\s+of\s+(?:the|this)\s+(week|month|year)\b", re.I)),
    ("in_units", re.compile(rf"\bin\s+({_NUM_RE})\s+(day|week|month|year)s?\b", re.I)),
    ("rel_unit", re.compile(r"\b(last|this|next|past)\s+(week|weekend|month|year)\b", re.I)),
    ("rel_weekday", re.compile(r"\b(last|this|next|on)\s+(" + "|".join(WEEKDAYS) + r")\b", re.I)),
    ("rel_month", re.compile(rf"\b(last|this|next|in)\s+({_MONTH_RE})\b(?!\s+\d)", re.I)),
    ("year", re.compile(r"\b(?:in|since|during|of|by)\s+((?:19|20)\d{2})\b", re.I)),
]


def find_time_ranges(text: str, ref: datetime) -> list[TimeRange]:
    """Every time expression in ``text`` resolved against ``ref`` (the time it was said).
    Each range is UTC with ``start < end``; this never raises for a datetime ``ref``."""
    ref = _reference(ref)
    found: list[TimeRange] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            resolved = _resolve(kind, match, ref)
            # empty once clamped: the expression lies wholly past the calendar's end
            if resolved is not None and resolved[0] < resolved[1]:
                taken.append(span)
                found.append(TimeRange(match.group(0), *resolved))
    return found


def _reference(ref: object) -> datetime:
    """The reference time in UTC; an aware time whose UTC reading is off the calendar (the
    last hours of 9999 in a zone west of UTC) is the calendar's end it passed."""
    if not isinstance(ref, datetime):
        return parse_timestamp(ref)
    if ref.tzinfo is None or ref.utcoffset() is None:
        return ref.replace(tzinfo=UTC)
    try:
        return ref.astimezone(UTC)
    except (OverflowError, ValueError, OSError):
        return LATEST if ref.year > 1 else EARLIEST


def _number(word: str) -> int:
    word = _fold(word)
    if word.isdecimal():
        # past the calendar's span every count means the same: no need to read 5,000 digits
        return int(word) if len(word) <= 9 else _CALENDAR_DAYS + 1
    return NUMBER_WORDS.get(word, 1)


def _resolve(kind: str, m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    day = _day(ref)
    try:
        if kind == "date":
            start = datetime(int(m[3]), MONTHS[_fold(m[2])], int(m[1]), tzinfo=UTC)
            return start, _add_days(start, 1)
        if kind == "mdy":
            start = datetime(int(m[3]), MONTHS[_fold(m[1])], int(m[2]), tzinfo=UTC)
            return start, _add_days(start, 1)
        if kind == "iso":
            start = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
            return start, _add_days(start, 1)
        if kind == "month_year":  # "May 0000" clamps to an empty range, dropped by the caller
            return _month_range(int(m[2]), MONTHS[_fold(m[1])])
    except ValueError:
        return None  # "31 February 2023", "0000-01-01": not a date
    return _resolve_relative(kind, m, day)


def _resolve_relative(
    kind: str, m: re.Match[str], day: datetime
) -> tuple[datetime, datetime] | None:
    if kind in ("ago", "in_units"):  # "two weeks ago", "in two weeks": loosely, ± a seventh
        days = _number(m[1]) * UNIT_DAYS[_fold(m[2])] * (-1 if kind == "ago" else 1)
        slack = max(1, abs(days) // 7)
        return _add_days(day, days - slack), _add_days(day, days + slack + 1)
    if kind == "yesterday":
        return _add_days(day, -1), day
    if kind == "today":
        return day, _add_days(day, 1)
    if kind == "tomorrow":
        return _add_days(day, 1), _add_days(day, 2)
    if kind == "end_of":  # the last stretch of the current week (its weekend), month, year
        unit = _fold(m[1])
        start, end = _relative_unit("this", unit, day)
        return max(start, _add_days(end, -{"week": 2, "month": 7}.get(unit, 31))), end
    if kind == "rel_unit":
        return _relative_unit(_fold(m[1]), _fold(m[2]), day)
    if kind == "rel_weekday":
        return _relative_weekday(_fold(m[1]), WEEKDAYS[_fold(m[2])], day)
    if kind == "rel_month":
        if m[2] == "may" or m[2] == "MAY":
            return None  # the verb, not the month
        month = MONTHS[_fold(m[2])]
        word = _fold(m[1])
        year = day.year
        if word == "last" or (word == "in" and month > day.month):
            year -= month >= day.month
        elif word == "next":
            year += month <= day.month
        return _month_range(year, month)
    if kind == "year":
        year = int(m[1])
        return _at(year), _at(year + 1)
    return None


def _relative_unit(word: str, unit: str, day: datetime) -> tuple[datetime, datetime]:
    shift = {"last": -1, "past": -1, "this": 0, "next": 1}[word]
    if unit in ("week", "weekend"):
        start = _add_days(_week_start(day), 7 * shift)
        if unit == "weekend":
            start = _add_days(start, 5)
            return start, _add_days(start, 2)
        return start, _add_days(start, 7)
    if unit == "month":
        index = day.year * 12 + day.month - 1 + shift
        return _month_range(index // 12, index % 12 + 1)
    year = day.year + shift
    return _at(year), _at(year + 1)


def _relative_weekday(word: str, weekday: int, day: datetime) -> tuple[datetime, datetime]:
    delta = weekday - day.weekday()
    if word in ("last", "on"):
        delta = delta - 7 if delta >= 0 else delta
    elif word == "next":
        delta = delta + 7 if delta <= 0 else delta
    start = _add_days(day, delta)
    return start, _add_days(start, 1)


_WHEN = re.compile(
    r"^\s*(when|what (?:time|date|day|year|month)|which (?:year|month|day)|how long ago)\b"
    r"|\b(when|what year|what month|what date|how long)\b",
    re.I,
)


def asks_for_time(question: str) -> bool:
    """Whether a question asks when something happened."""
    return bool(_WHEN.search(question))
