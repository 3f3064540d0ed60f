"""iCalendar (RFC 5545) documents for calendar subscriptions, built with `icalendar`. Pure:
the events come in, bytes go out. Every event is all-day (`VALUE=DATE`), with a stable UID so
that a phone updates an event instead of duplicating it."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from icalendar import Calendar, Event

PRODID = "-//Tessera//Famille//FR"


@dataclass(frozen=True)
class FeedEvent:
    uid: str
    summary: str
    start: date
    end: date  # exclusive, as DTEND of an all-day event
    description: str | None = None
    categories: tuple[str, ...] = ()


def render(name: str, events: Sequence[FeedEvent], stamp: datetime) -> bytes:
    calendar = Calendar()
    calendar.add("prodid", PRODID)
    calendar.add("version", "2.0")
    calendar.add("calscale", "GREGORIAN")
    calendar.add("x-wr-calname", name)
    for item in events:
        event = Event()
        event.add("uid", item.uid)
        event.add("dtstamp", stamp)
        event.add("dtstart", item.start)
        event.add("dtend", item.end)
        event.add("summary", item.summary)
        event.add("transp", "TRANSPARENT")
        if item.description:
            event.add("description", item.description)
        if item.categories:
            event.add("categories", list(item.categories))
        calendar.add_component(event)
    return bytes(calendar.to_ical())
