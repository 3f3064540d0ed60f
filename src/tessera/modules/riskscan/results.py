"""The AI service's answer made safe to store and show: validated items, the seven
categories, and spans checked against the extracted text.

Whatever service answers (ours, the seed's, another), its reply is untrusted: items with an
empty `risk`, `category` or `context` are dropped, a category outside the seven becomes
`Other`, and a span is shown as a citation only if its quote is really in the text — at the
offsets given, or found there again; otherwise it is dropped and the risk is marked
`grounded: false`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

CATEGORIES = ("Financial", "Schedule", "Technical", "Legal", "Operational", "Compliance", "Other")
_BY_LOWER = {c.lower(): c for c in CATEGORIES}
SEVERITIES = ("low", "medium", "high")
MAX_ITEMS = 500
MAX_FIELD_CHARS = 4000
MAX_SPANS = 10


class MalformedReply(ValueError):
    """The reply does not carry a `data` list."""


@dataclass(frozen=True)
class Chunk:
    page: int  # 1-based
    start: int
    end: int
    text: str


def category_of(value: str) -> str:
    return _BY_LOWER.get(value.strip().lower(), "Other")


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value[:MAX_FIELD_CHARS] if value else None


def _confidence(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return round(min(1.0, max(0.0, float(value))), 3)


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _locate(quote: str, pages: list[str], hint_page: int | None) -> dict[str, Any] | None:
    order = list(range(len(pages)))
    if hint_page is not None and 0 <= hint_page - 1 < len(pages):
        order.remove(hint_page - 1)
        order.insert(0, hint_page - 1)
    for index in order:
        at = pages[index].find(quote)
        if at >= 0:
            return {"page": index + 1, "start": at, "end": at + len(quote), "quote": quote}
    return None


def ground(item: dict[str, Any], context: str, pages: list[str]) -> list[dict[str, Any]]:
    """The item's spans that hold in `pages` (corrected where only the offsets were off)."""
    spans: list[dict[str, Any]] = []
    raw = item.get("spans")
    for span in raw[:MAX_SPANS] if isinstance(raw, list) else []:
        if not isinstance(span, dict):
            continue
        quote = span.get("quote")
        page, start, end = _int(span.get("page")), _int(span.get("start")), _int(span.get("end"))
        if not isinstance(quote, str) or not quote.strip():
            continue
        if (
            page is not None
            and start is not None
            and end is not None
            and 1 <= page <= len(pages)
            and pages[page - 1][start:end] == quote
            and 0 <= start < end
        ):
            spans.append({"page": page, "start": start, "end": end, "quote": quote})
            continue
        found = _locate(quote, pages, page)
        if found is not None:
            spans.append(found)
    if not spans and pages:
        found = _locate(context, pages, None)
        if found is not None:
            spans.append(found)
    return spans


def shift_spans(items: list[Any], chunk: Chunk) -> list[Any]:
    """Spans of an answer about one chunk (page 1 = the chunk) moved into the document."""
    for item in items:
        raw = item.get("spans") if isinstance(item, dict) else None
        for span in raw if isinstance(raw, list) else []:
            if isinstance(span, dict):
                span["page"] = chunk.page
                for key in ("start", "end"):
                    value = _int(span.get(key))
                    if value is not None:
                        span[key] = value + chunk.start
    return items


def normalise_items(raw: Any, pages: list[str]) -> list[dict[str, Any]]:
    if not isinstance(raw, list):
        raise MalformedReply("The AI service's reply has no data list")
    risks = []
    for item in raw[:MAX_ITEMS]:
        if not isinstance(item, dict):
            continue
        risk, category, context = (_text(item.get(k)) for k in ("risk", "category", "context"))
        if risk is None or category is None or context is None:
            continue
        severity = item.get("severity")
        spans = ground(item, context, pages)
        risks.append(
            {
                "risk": risk,
                "category": category_of(category),
                "context": context,
                "severity": severity.lower()
                if isinstance(severity, str) and severity.lower() in SEVERITIES
                else "medium",
                "confidence": _confidence(item.get("confidence")),
                "spans": spans,
                "grounded": bool(spans),
            }
        )
    return risks


def source_of(reply: dict[str, Any]) -> str:
    return "llm" if reply.get("source") == "llm" else "model"


def pages_of(reply: dict[str, Any], sent_text: str | None) -> list[str]:
    """The extracted text the reply refers to: its `pages` (the reference service sends
    them), else the text that was sent."""
    pages = reply.get("pages")
    if isinstance(pages, list) and all(isinstance(p, str) for p in pages):
        return pages
    return [sent_text] if sent_text else []


_BREAK = re.compile(r"(?<=[.!?។៕])\s+|\n+")


def chunk_pages(pages: list[str], max_chars: int) -> list[Chunk]:
    """Pieces of at most `max_chars`, cut after a sentence or a line where one is near."""
    out: list[Chunk] = []
    for number, text in enumerate(pages, start=1):
        position = 0
        while position < len(text):
            end = min(len(text), position + max_chars)
            if end < len(text):
                cuts = [m.end() for m in _BREAK.finditer(text, position + max_chars // 2, end)]
                if cuts:
                    end = cuts[-1]
            piece = text[position:end]
            stripped = piece.strip()
            if stripped:
                start = position + (len(piece) - len(piece.lstrip()))
                out.append(Chunk(number, start, start + len(stripped), stripped))
            position = end
    return out
