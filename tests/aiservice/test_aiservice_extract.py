"""Extraction: text layers, DOCX, and OCR of images and image-only PDF pages (Tesseract,
eng and khm), with the fallback to eng when a language is missing."""

from __future__ import annotations

import pytest

from tessera.aiservice import ocr
from tessera.aiservice.extract import UnreadableDocument, extract
from tessera.protocols import documents
from tests.aiservice.documents import (
    ELF_EXECUTABLE,
    docx_of,
    pdf_with_text,
    png_of,
    scanned_pdf,
)

LINE = "The contractor has unlimited liability for all damages."


def test_types_are_judged_by_content() -> None:
    assert documents.sniff_bytes(pdf_with_text(LINE)) == documents.PDF
    assert documents.sniff_bytes(docx_of(LINE)) == documents.DOCX
    assert documents.sniff_bytes(png_of(LINE)) == documents.PNG
    assert documents.sniff_bytes("ថវិកា budget\n".encode()) == documents.TXT
    assert documents.sniff_bytes(ELF_EXECUTABLE) is None
    assert documents.sniff_bytes(b"PK\x03\x04 not a docx") is None


def test_pdf_pages_keep_their_text_layer() -> None:
    extracted = extract(pdf_with_text("Page one text.", LINE), documents.PDF, "eng")
    assert [p.strip() for p in extracted.pages] == ["Page one text.", LINE]
    assert extracted.ocr_pages == []


def test_docx_paragraphs() -> None:
    extracted = extract(docx_of("Title", LINE), documents.DOCX, "eng")
    assert extracted.pages == [f"Title\n{LINE}"]


def test_an_image_only_pdf_page_is_ocrd() -> None:
    extracted = extract(scanned_pdf(LINE), documents.PDF, "eng+khm")
    assert extracted.ocr_pages == [1]
    assert LINE in extracted.pages[0]


def test_a_png_is_ocrd() -> None:
    assert LINE in extract(png_of(LINE), documents.PNG, "eng+khm").text


def test_missing_languages_fall_back_to_english() -> None:
    assert ocr.languages("eng+xyz") == "eng"
    assert ocr.languages("xyz") == "eng"
    assert "khm" in ocr.languages("eng+khm")  # installed here and in CI (.ci/run)


def test_a_broken_pdf_is_unreadable_not_a_crash() -> None:
    with pytest.raises(UnreadableDocument):
        extract(b"%PDF-1.7\n garbage", documents.PDF, "eng")
