"""Sentences and chunks with their offsets in the page they came from.

Offsets are into the extracted page text, so a span `(page, start, end)` can be checked by
anyone holding that text: `pages[page - 1][start:end] == quote`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

# A sentence ends at . ! ? or the Khmer khan (។ ៕) followed by space or the end, or at a
# blank line; a single line break inside a paragraph does not end it.
_SENTENCE = re.compile(r"(?:[^\n]|\n(?![ \t]*\n))*?(?:[.!?]+(?=\s|$)|[។៕]+|\n[ \t]*\n|$)")


@dataclass(frozen=True)
class Piece:
    page: int  # 1-based
    start: int
    end: int
    text: str


def sentences(page_text: str, page: int = 1) -> Iterator[Piece]:
    position = 0
    length = len(page_text)
    while position < length:
        match = _SENTENCE.match(page_text, position)
        end = match.end() if match and match.end() > position else length
        raw = page_text[position:end]
        stripped = raw.strip()
        if stripped:
            start = position + (len(raw) - len(raw.lstrip()))
            yield Piece(page, start, start + len(stripped), stripped)
        position = end


def chunks(pages: list[str], max_chars: int) -> list[Piece]:
    """Consecutive sentences of a page grouped into pieces of at most about `max_chars`."""
    out: list[Piece] = []
    for number, text in enumerate(pages, start=1):
        current: list[Piece] = []
        size = 0
        for sentence in _bounded(sentences(text, number), max_chars):
            if current and size + len(sentence.text) > max_chars:
                out.append(_join(text, current))
                current, size = [], 0
            current.append(sentence)
            size += len(sentence.text) + 1
        if current:
            out.append(_join(text, current))
    return out


def _bounded(pieces: Iterator[Piece], max_chars: int) -> Iterator[Piece]:
    """A run-on "sentence" longer than a chunk (a table, a list without stops) is cut."""
    for piece in pieces:
        for at in range(0, len(piece.text), max_chars):
            text = piece.text[at : at + max_chars]
            yield Piece(piece.page, piece.start + at, piece.start + at + len(text), text)


def _join(page_text: str, pieces: list[Piece]) -> Piece:
    start, end = pieces[0].start, pieces[-1].end
    return Piece(pieces[0].page, start, end, page_text[start:end])
