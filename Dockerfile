# One image for the API, the worker and the reference AI service.
FROM python:3.11-slim AS build
ENV UV_PYTHON_DOWNLOADS=never UV_PROJECT_ENVIRONMENT=/app/.venv UV_COMPILE_BYTECODE=1
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /app
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --locked --no-dev --no-install-project
COPY src ./src
RUN uv sync --locked --no-dev

FROM python:3.11-slim
# Tesseract OCR (English and Khmer) for the reference AI service's scanned pages and photos.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng tesseract-ocr-khm \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --system --uid 10001 --home /app tessera
WORKDIR /app
COPY --from=build /app /app
ENV PATH=/app/.venv/bin:$PATH TESSERA_ENV=production TESSERA_HOST=0.0.0.0 TESSERA_DATA_DIR=/app/var
USER tessera
EXPOSE 8000
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz')"
CMD ["tessera", "serve"]
