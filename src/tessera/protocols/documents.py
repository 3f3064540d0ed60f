"""What a document is, by its content (never by its name): PDF, DOCX, plain text, PNG or JPEG.

The one rule shared by the riskscan module (which checks an upload before anything else) and
the AI service (which picks its extractor): the first bytes decide (`%PDF-`, the PNG and JPEG
magic numbers), a ZIP must hold `word/document.xml` to be a DOCX, and text must decode as
UTF-8 (a BOM allowed) without control characters. Anything else (an executable renamed
`.pdf`, say) is None. Reads a seekable file in chunks, so a spooled upload on disk is never
loaded whole.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from typing import IO

PDF, DOCX, TXT, PNG, JPEG = "pdf", "docx", "txt", "png", "jpeg"
MEDIA_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    TXT: "text/plain",
    PNG: "image/png",
    JPEG: "image/jpeg",
}
_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\x0c", "\r"}
READ_CHUNK = 1 << 16


def sniff(file: IO[bytes]) -> str | None:
    """The kind of a seekable file's content, or None; the file is left at its start."""
    file.seek(0)
    head = file.read(8)
    kind: str | None
    if not head:
        kind = None
    elif head.startswith(b"%PDF-"):
        kind = PDF
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = PNG
    elif head.startswith(b"\xff\xd8\xff"):
        kind = JPEG
    elif head.startswith(b"PK\x03\x04"):
        kind = DOCX if _is_docx(file) else None
    else:
        kind = TXT if _is_text(file) else None
    file.seek(0)
    return kind


def sniff_bytes(content: bytes) -> str | None:
    return sniff(io.BytesIO(content))


def _is_text(file: IO[bytes]) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8-sig")()
    file.seek(0)
    try:
        while chunk := file.read(READ_CHUNK):
            if any(ch in _CONTROL for ch in decoder.decode(chunk)):
                return False
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _is_docx(file: IO[bytes]) -> bool:
    file.seek(0)
    try:
        with zipfile.ZipFile(file) as archive:
            return "word/document.xml" in archive.namelist()
    except (zipfile.BadZipFile, OSError, EOFError):
        return False
