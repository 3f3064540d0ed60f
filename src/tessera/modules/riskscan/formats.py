"""What an upload is, by its content (never by its name): PDF, DOCX, plain text, PNG or JPEG.

Reads a spooled upload in place (it may be on disk): the first bytes decide, a ZIP must hold
`word/document.xml` to be a DOCX, and text must decode as UTF-8 without control characters.
"""

from __future__ import annotations

import codecs
import hashlib
import zipfile
from dataclasses import dataclass
from typing import IO

PDF, DOCX, TXT, PNG, JPEG = "pdf", "docx", "txt", "png", "jpeg"
MEDIA_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    TXT: "text/plain",
    PNG: "image/png",
    JPEG: "image/jpeg",
}
EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", TXT: ".txt", PNG: ".png", JPEG: ".jpg"}
_ALSO = {JPEG: (".jpeg", ".jpe"), TXT: (".text", ".md", ".csv")}
_CONTROL = frozenset(chr(c) for c in range(32)) - {"\t", "\n", "\x0c", "\r"}
READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Inspected:
    kind: str | None  # None: not an accepted type
    size: int
    sha256: str


def _is_text_stream(file: IO[bytes]) -> bool:
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


def upstream_name(filename: str | None, kind: str) -> str:
    """The name to forward: the user's, with an extension that matches the content appended
    when it has none or another (the seed's AI service picks its parser by the extension)."""
    name = filename or "document"
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in (EXTENSIONS[kind], *_ALSO.get(kind, ())):
        return name
    return name + EXTENSIONS[kind]


def inspect(file: IO[bytes]) -> Inspected:
    """Kind, size and SHA-256 of a seekable upload (synchronous: run it in a thread)."""
    file.seek(0)
    head = file.read(8)
    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    while chunk := file.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    kind: str | None
    if head.startswith(b"%PDF-"):
        kind = PDF
    elif head.startswith(b"\x89PNG\r\n\x1a\n"):
        kind = PNG
    elif head.startswith(b"\xff\xd8\xff"):
        kind = JPEG
    elif head.startswith(b"PK\x03\x04"):
        kind = DOCX if _is_docx(file) else None
    else:
        kind = TXT if size and _is_text_stream(file) else None
    file.seek(0)
    return Inspected(kind, size, digest.hexdigest())
