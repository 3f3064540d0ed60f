"""When a recurring task falls: the seed's ISO weekdays (Mon = 1 … Sun = 7) or an RFC 5545
RRULE (python-dateutil), minus exception dates. Pure: no database, no clock.

The template row is the first occurrence (its `dueDate`, the rule's DTSTART); instances are the
later occurrences up to the end date, generated window by window.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import islice

from dateutil.rrule import rrule, rrulestr

DATE_FREQUENCIES = frozenset({"DAILY", "WEEKLY", "MONTHLY", "YEARLY"})
TIME_PARTS = frozenset({"DTSTART", "BYHOUR", "BYMINUTE", "BYSECOND"})
MAX_RULE_CHARS = 500
MAX_OCCURRENCES = 4000


@dataclass(frozen=True)
class Recurrence:
    start: date  # the template's due date
    end: date  # last possible occurrence (inclusive)
    weekdays: tuple[int, ...] = ()
    rule: str | None = None
    exdates: frozenset[date] = frozenset()

    def occurrences(self, after: date, through: date) -> list[date]:
        """Occurrence dates d with after < d <= min(through, end), never the start itself."""
        last = min(through, self.end)
        first = max(after, self.start) + timedelta(days=1)
        if first > last:
            return []
        if self.rule is not None:
            days: Iterable[date] = _rule_dates(self.rule, self.start, first, last)
        else:
            wanted = set(self.weekdays)
            span = (last - first).days + 1
            days = (
                d
                for d in (first + timedelta(days=i) for i in range(span))
                if d.isoweekday() in wanted
            )
        return [d for d in days if d not in self.exdates]


def check_weekdays(weekdays: Sequence[int]) -> tuple[int, ...]:
    if not weekdays:
        raise ValueError("weekdays must name at least one day (1 = Monday … 7 = Sunday)")
    if any(isinstance(d, bool) or d not in range(1, 8) for d in weekdays):
        raise ValueError("weekdays are ISO numbers: 1 = Monday … 7 = Sunday")
    return tuple(sorted(set(weekdays)))


def parse_rule(text: str, start: date) -> tuple[str, date | None]:
    """The normalised RRULE text and the end it names (UNTIL, or the COUNT-th occurrence).
    ValueError for anything that is not a date-level rule."""
    body = text.strip()
    if body.upper().startswith("RRULE:"):
        body = body[6:]
    if not body or len(body) > MAX_RULE_CHARS or "\n" in body:
        raise ValueError("rrule must be one RRULE line such as FREQ=MONTHLY;BYMONTHDAY=1")
    parts: dict[str, str] = {}
    for item in body.split(";"):
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise ValueError(f"rrule part {item!r} is not NAME=VALUE")
        parts[key.strip().upper()] = value.strip().upper()
    if parts.get("FREQ") not in DATE_FREQUENCIES:
        raise ValueError("rrule FREQ must be DAILY, WEEKLY, MONTHLY or YEARLY")
    if parts.keys() & TIME_PARTS:
        raise ValueError("rrule repeats days; DTSTART, BYHOUR, BYMINUTE and BYSECOND do not apply")
    if "UNTIL" in parts:  # dates are local to the family: a UTC mark means nothing here
        parts["UNTIL"] = parts["UNTIL"].rstrip("Z")
    body = ";".join(f"{key}={value}" for key, value in parts.items())
    try:
        rule = rrulestr(body, dtstart=_midnight(start))
    except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
        raise ValueError(f"rrule is not valid RFC 5545: {exc}") from None
    if not isinstance(rule, rrule):
        raise ValueError("rrule must be one RRULE line")
    end: date | None = None
    if "UNTIL" in parts or "COUNT" in parts:
        occurrences = list(islice(rule, MAX_OCCURRENCES + 1))
        if len(occurrences) > MAX_OCCURRENCES:
            raise ValueError(f"rrule names more than {MAX_OCCURRENCES} occurrences")
        end = occurrences[-1].date() if occurrences else start
    return body, end


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def _rule_dates(text: str, start: date, first: date, last: date) -> list[date]:
    rule = rrulestr(text, dtstart=_midnight(start))
    assert isinstance(rule, rrule)
    return [moment.date() for moment in rule.between(_midnight(first), _midnight(last), inc=True)]
