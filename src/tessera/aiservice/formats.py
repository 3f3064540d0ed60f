"""What a file is, by its first bytes (never by its name).

A few explicit signatures are enough for the five accepted types: `%PDF-`, the PNG and JPEG
magic numbers, a ZIP holding `word/document.xml` (DOCX), and text that decodes as UTF-8
without control characters. Anything else (an executable renamed `.pdf`, say) is None.
"""

from __future__ import annotations

import io
import zipfile

PDF, DOCX, TXT, PNG, JPEG = "pdf", "docx", "txt", "png", "jpeg"
KINDS = (PDF, DOCX, TXT, PNG, JPEG)
MEDIA_TYPES = {
    PDF: "application/pdf",
    DOCX: "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    TXT: "text/plain",
    PNG: "image/png",
    JPEG: "image/jpeg",
}
_TEXT_CONTROL = set(range(0, 32)) - {9, 10, 12, 13}


def sniff_head(head: bytes) -> str | None:
    """The kind from the first bytes alone; DOCX is reported as "zip" (needs the whole file)."""
    if head.startswith(b"%PDF-"):
        return PDF
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return PNG
    if head.startswith(b"\xff\xd8\xff"):
        return JPEG
    if head.startswith(b"PK\x03\x04"):
        return "zip"
    return TXT if looks_like_text(head) else None


def looks_like_text(sample: bytes) -> bool:
    if not sample:
        return False
    if sample.startswith(b"\xef\xbb\xbf"):
        sample = sample[3:]
    try:
        text = sample.decode("utf-8")
    except UnicodeDecodeError as exc:
        # A sample cut in the middle of a multi-byte character is still text.
        if exc.start < len(sample) - 3:
            return False
        text = sample[: exc.start].decode("utf-8")
    return not any(ord(ch) in _TEXT_CONTROL for ch in text)


def is_docx(content: bytes) -> bool:
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            return "word/document.xml" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def sniff(content: bytes) -> str | None:
    kind = sniff_head(content[:4096])
    if kind == "zip":
        return DOCX if is_docx(content) else None
    if kind == TXT and not looks_like_text(content):
        return None
    return kind
