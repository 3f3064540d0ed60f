"""Documents made in the test: PDF with a text layer (fpdf2), an image-only PDF page and a
PNG (Pillow, rendered text for OCR), DOCX (python-docx). OCR inputs are kept small."""

from __future__ import annotations

import io

import docx
from fpdf import FPDF
from PIL import Image, ImageDraw, ImageFont


def pdf_with_text(*pages: str) -> bytes:
    pdf = FPDF()
    pdf.set_font("helvetica", size=12)
    for text in pages:
        pdf.add_page()
        pdf.multi_cell(0, 8, text)
    return bytes(pdf.output())


def text_image(text: str, width: int = 900) -> Image.Image:
    font = ImageFont.load_default(size=28)
    image = Image.new("L", (width, 60), 255)
    ImageDraw.Draw(image).text((10, 12), text, font=font, fill=0)
    return image


def png_of(text: str) -> bytes:
    out = io.BytesIO()
    text_image(text).save(out, format="PNG")
    return out.getvalue()


def scanned_pdf(text: str) -> bytes:
    """One page that is only an image of `text`: no text layer at all."""
    out = io.BytesIO()
    text_image(text).convert("RGB").save(out, format="PDF", resolution=100)
    return out.getvalue()


def docx_of(*paragraphs: str) -> bytes:
    document = docx.Document()
    for paragraph in paragraphs:
        document.add_paragraph(paragraph)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# A Linux executable's first bytes, whatever its file is called.
ELF_EXECUTABLE = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 8 + b"\x02\x00\x3e\x00" + b"\x90" * 512
