"""Time: parse timestamps, and resolve time expressions ("yesterday", "last May", "in 2022")
against a reference time into absolute ranges. Rule-based, fast, no model."""

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


def _month_range(year: int, month: int) -> tuple[datetime, datetime]:
    start = datetime(year, month, 1, tzinfo=UTC)
    end = datetime(year + (month == 12), month % 12 + 1, 1, tzinfo=UTC)
    return start, end


def _week_start(ref: datetime) -> datetime:
    return _day(ref) - timedelta(days=ref.weekday())


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
    """Every time expression in ``text`` resolved against ``ref`` (the time it was said)."""
    ref = parse_timestamp(ref)
    found: list[TimeRange] = []
    taken: list[tuple[int, int]] = []
    for kind, pattern in _PATTERNS:
        for match in pattern.finditer(text):
            span = match.span()
            if any(span[0] < end and start < span[1] for start, end in taken):
                continue
            resolved = _resolve(kind, match, ref)
            if resolved is not None:
                taken.append(span)
                found.append(TimeRange(match.group(0), *resolved))
    return found


def _number(word: str) -> int:
    word = word.lower()
    return int(word) if word.isdigit() else NUMBER_WORDS.get(word, 1)


def _resolve(kind: str, m: re.Match[str], ref: datetime) -> tuple[datetime, datetime] | None:
    day = _day(ref)
    try:
        if kind == "date":
            start = datetime(int(m[3]), MONTHS[m[2].lower()], int(m[1]), tzinfo=UTC)
            return start, start + timedelta(days=1)
        if kind == "mdy":
            start = datetime(int(m[3]), MONTHS[m[1].lower()], int(m[2]), tzinfo=UTC)
            return start, start + timedelta(days=1)
        if kind == "iso":
            start = datetime(int(m[1]), int(m[2]), int(m[3]), tzinfo=UTC)
            return start, start + timedelta(days=1)
        if kind == "month_year":
            return _month_range(int(m[2]), MONTHS[m[1].lower()])
    except ValueError:
        return None  # "31 February 2023": not a date
    try:
        return _resolve_relative(kind, m, day)
    except (OverflowError, ValueError):
        return None  # "in 9000 years": past the calendar


def _resolve_relative(
    kind: str, m: re.Match[str], day: datetime
) -> tuple[datetime, datetime] | None:
    if kind == "ago":
        days = _number(m[1]) * UNIT_DAYS[m[2].lower()]
        start = day - timedelta(days=days)
        slack = timedelta(days=max(1, days // 7))
        return start - slack, start + slack + timedelta(days=1)
    if kind == "yesterday":
        return day - timedelta(days=1), day
    if kind == "today":
        return day, day + timedelta(days=1)
    if kind == "tomorrow":
        return day + timedelta(days=1), day + timedelta(days=2)
    if kind == "end_of":  # the last stretch of the current week (its weekend), month, year
        start, end = _relative_unit("this", m[1].lower(), day)
        return max(start, end - timedelta(days={"week": 2, "month": 7}.get(m[1].lower(), 31))), end
    if kind == "in_units":  # "in two weeks": from now on, as loosely as "two weeks ago"
        days = _number(m[1]) * UNIT_DAYS[m[2].lower()]
        start = day + timedelta(days=days)
        slack = timedelta(days=max(1, days // 7))
        return start - slack, start + slack + timedelta(days=1)
    if kind == "rel_unit":
        return _relative_unit(m[1].lower(), m[2].lower(), day)
    if kind == "rel_weekday":
        return _relative_weekday(m[1].lower(), WEEKDAYS[m[2].lower()], day)
    if kind == "rel_month":
        if m[2] == "may" or m[2] == "MAY":
            return None  # the verb, not the month
        month = MONTHS[m[2].lower()]
        word = m[1].lower()
        year = day.year
        if word == "last" or (word == "in" and month > day.month):
            year -= month >= day.month
        elif word == "next":
            year += month <= day.month
        return _month_range(year, month)
    if kind == "year":
        year = int(m[1])
        return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    return None


def _relative_unit(word: str, unit: str, day: datetime) -> tuple[datetime, datetime]:
    shift = {"last": -1, "past": -1, "this": 0, "next": 1}[word]
    if unit in ("week", "weekend"):
        start = _week_start(day) + timedelta(weeks=shift)
        if unit == "weekend":
            start += timedelta(days=5)
            return start, start + timedelta(days=2)
        return start, start + timedelta(weeks=1)
    if unit == "month":
        index = day.year * 12 + day.month - 1 + shift
        return _month_range(index // 12, index % 12 + 1)
    year = day.year + shift
    return datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)


def _relative_weekday(word: str, weekday: int, day: datetime) -> tuple[datetime, datetime]:
    delta = weekday - day.weekday()
    if word in ("last", "on"):
        delta = delta - 7 if delta >= 0 else delta
    elif word == "next":
        delta = delta + 7 if delta <= 0 else delta
    start = day + timedelta(days=delta)
    return start, start + timedelta(days=1)


_WHEN = re.compile(
    r"^\s*(when|what (?:time|date|day|year|month)|which (?:year|month|day)|how long ago)\b"
    r"|\b(when|what year|what month|what date|how long)\b",
    re.I,
)


def asks_for_time(question: str) -> bool:
    """Whether a question asks when something happened."""
    return bool(_WHEN.search(question))
