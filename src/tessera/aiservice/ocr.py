"""Tesseract OCR (Debian `tesseract-ocr`, languages `eng` and `khm`).

The languages asked for are checked once against what is installed: a missing `khm` falls
back to `eng` with a warning instead of failing every scan, and a missing Tesseract makes OCR
report itself unavailable (the service still reads text layers, DOCX and text).
"""

from __future__ import annotations

import functools
import logging

import pytesseract
from PIL import Image

log = logging.getLogger("tessera.aiservice.ocr")

FALLBACK_LANGUAGE = "eng"
# Small scans OCR badly; very large ones cost seconds per megapixel for nothing.
MIN_WIDTH = 1000
MAX_PIXELS = 12_000_000


class OcrUnavailable(RuntimeError):
    """Tesseract (or every requested language) is not installed."""


@functools.lru_cache(maxsize=8)
def languages(requested: str) -> str:
    """`requested` ("eng+khm") reduced to the installed languages; raises if none is."""
    try:
        installed = set(pytesseract.get_languages(config=""))
    except (pytesseract.TesseractNotFoundError, OSError) as exc:
        raise OcrUnavailable(
            "Tesseract OCR is not installed (apt-get install tesseract-ocr)"
        ) from exc
    wanted = [lang for lang in requested.split("+") if lang]
    usable = [lang for lang in wanted if lang in installed]
    missing = [lang for lang in wanted if lang not in installed]
    if missing:
        log.warning("ocr languages missing, falling back: %s", ",".join(missing))
    if not usable and FALLBACK_LANGUAGE in installed:
        usable = [FALLBACK_LANGUAGE]
    if not usable:
        raise OcrUnavailable(f"no Tesseract language of {requested!r} is installed")
    return "+".join(usable)


def available(requested: str) -> bool:
    try:
        languages(requested)
    except OcrUnavailable:
        return False
    return True


def _prepared(image: Image.Image) -> Image.Image:
    image = image.convert("L")
    width, height = image.size
    if width * height > MAX_PIXELS:
        scale = (MAX_PIXELS / (width * height)) ** 0.5
        image = image.resize((max(1, int(width * scale)), max(1, int(height * scale))))
    elif width < MIN_WIDTH:
        scale = MIN_WIDTH / max(1, width)
        image = image.resize((MIN_WIDTH, max(1, int(height * scale))))
    return image


def image_to_text(image: Image.Image, requested: str) -> str:
    text: str = pytesseract.image_to_string(_prepared(image), lang=languages(requested))
    return text
