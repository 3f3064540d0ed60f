"""Text out of a document, page by page: PDF text layers (pypdf), image-only PDF pages and
images through OCR, DOCX paragraphs and tables (python-docx), and plain text.

Every function is synchronous and CPU-bound; the app runs them in a worker thread.
"""

from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field

import docx
from PIL import Image, UnidentifiedImageError
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from tessera.aiservice import ocr
from tessera.protocols import documents

log = logging.getLogger("tessera.aiservice.extract")

# A page whose text layer has fewer visible characters than this is treated as a scan.
MIN_TEXT_LAYER_CHARS = 16
MAX_PDF_PAGES = 500


class UnreadableDocument(ValueError):
    """The bytes are of an accepted type but cannot be read (a broken PDF, say)."""


@dataclass
class Extracted:
    pages: list[str]
    kind: str
    ocr_pages: list[int] = field(default_factory=list)  # 1-based numbers of OCR'd pages

    @property
    def text(self) -> str:
        return "\n\n".join(self.pages)


def normalise(text: str) -> str:
    """Unify line ends and drop NULs and trailing spaces; offsets refer to this form."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")
    text = re.sub(r"[ \t]+\n", "\n", text)
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def extract(content: bytes, kind: str, ocr_languages: str) -> Extracted:
    if kind == documents.TXT:
        return Extracted([normalise(content.decode("utf-8-sig", errors="replace"))], kind)
    if kind == documents.DOCX:
        return Extracted([_docx_text(content)], kind)
    if kind in (documents.PNG, documents.JPEG):
        try:
            image = Image.open(io.BytesIO(content))
            image.load()
        except (UnidentifiedImageError, OSError) as exc:
            raise UnreadableDocument("The image could not be read") from exc
        return Extracted([normalise(ocr.image_to_text(image, ocr_languages))], kind, [1])
    if kind == documents.PDF:
        return _pdf(content, ocr_languages)
    raise UnreadableDocument(f"Unsupported document type {kind}")


def _docx_text(content: bytes) -> str:
    try:
        document = docx.Document(io.BytesIO(content))
    except Exception as exc:  # python-docx raises several kinds for a broken package
        raise UnreadableDocument("The DOCX file could not be read") from exc
    lines = [paragraph.text for paragraph in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            lines.append(" | ".join(cell.text for cell in row.cells))
    return normalise("\n".join(lines))


def _pdf(content: bytes, ocr_languages: str) -> Extracted:
    try:
        reader = PdfReader(io.BytesIO(content))
        if reader.is_encrypted and reader.decrypt("") == 0:
            raise UnreadableDocument("The PDF is password-protected")
        pdf_pages = list(reader.pages)[:MAX_PDF_PAGES]
    except PyPdfError as exc:
        raise UnreadableDocument("The PDF file could not be read") from exc
    pages: list[str] = []
    ocr_pages: list[int] = []
    for number, page in enumerate(pdf_pages, start=1):
        try:
            text = normalise(page.extract_text() or "")
        except Exception:  # a damaged page must not lose the others
            log.warning("pdf page %d has an unreadable text layer", number)
            text = ""
        if len(re.sub(r"\s", "", text)) < MIN_TEXT_LAYER_CHARS:
            scanned = _ocr_page_images(page, ocr_languages)
            if scanned:
                text = scanned
                ocr_pages.append(number)
        pages.append(text)
    return Extracted(pages, documents.PDF, ocr_pages)


def _ocr_page_images(page: object, ocr_languages: str) -> str:
    """OCR the images embedded in an image-only page (a scanner's page is one image)."""
    texts = []
    try:
        images = list(page.images)  # type: ignore[attr-defined]
    except Exception:
        return ""
    for embedded in images:
        try:
            image = embedded.image
        except Exception as exc:  # an image codec Pillow cannot read
            log.warning("skipping an unreadable image on a PDF page: %s", type(exc).__name__)
            continue
        if image is None:
            continue
        texts.append(ocr.image_to_text(image, ocr_languages))
    return normalise("\n".join(texts))
