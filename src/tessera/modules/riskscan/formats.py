"""What an upload is, by its content (never by its name): PDF, DOCX, plain text, PNG or JPEG
(`tessera.protocols.documents`, the rule the AI service applies too), its size and digest,
and the name it is forwarded under.

Reads a spooled upload in place (it may be on disk).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import IO

from tessera.protocols.documents import DOCX, JPEG, PDF, PNG, TXT, sniff
from tessera.protocols.documents import MEDIA_TYPES as MEDIA_TYPES

EXTENSIONS = {PDF: ".pdf", DOCX: ".docx", TXT: ".txt", PNG: ".png", JPEG: ".jpg"}
_ALSO = {JPEG: (".jpeg", ".jpe"), TXT: (".text", ".md", ".csv")}
READ_CHUNK = 1 << 16


@dataclass(frozen=True)
class Inspected:
    kind: str | None  # None: not an accepted type
    size: int
    sha256: str


def upstream_name(filename: str | None, kind: str) -> str:
    """The name to forward: the user's, with an extension that matches the content appended
    when it has none or another (the seed's AI service picks its parser by the extension)."""
    name = filename or "document"
    suffix = name[name.rfind(".") :].lower() if "." in name else ""
    if suffix in (EXTENSIONS[kind], *_ALSO.get(kind, ())):
        return name
    return name + EXTENSIONS[kind]


def inspect(file: IO[bytes]) -> Inspected:
    """Kind (`tessera.protocols.documents.sniff`), size and SHA-256 of a seekable upload
    (synchronous: run it in a thread)."""
    digest = hashlib.sha256()
    size = 0
    file.seek(0)
    while chunk := file.read(READ_CHUNK):
        digest.update(chunk)
        size += len(chunk)
    return Inspected(sniff(file), size, digest.hexdigest())
