# Two commands for a newcomer: `make run` and `make test`. Everything else is optional.
PYTHON ?= python3
VENV   := .venv
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
BIN    := $(VENV)/bin
export UV_PYTHON_DOWNLOADS := never
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: install run test test-slow test-all lint fmt migrate bench bench-all clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==0.13.9

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --locked --quiet
	@touch $@

install: $(VENV)/.installed  ## create the virtual environment from the lock file

migrate: install  ## bring the database schema up to date
	$(BIN)/tessera migrate

run: install  ## set up an embedded SQLite database under ./var; serve the API and the AI service (8082)
	$(BIN)/tessera migrate
	$(BIN)/tessera bootstrap
	@command -v tesseract >/dev/null || echo "note: tesseract-ocr is missing, so images and scanned PDFs cannot be read (apt-get install tesseract-ocr tesseract-ocr-eng tesseract-ocr-khm)"
	$(BIN)/tessera ai-service & ai=$$!; trap 'kill $$ai 2>/dev/null' EXIT INT TERM; $(BIN)/tessera serve

# pytest exits 5 when a selection has no tests; that is not a failure here.
test: install  ## the default suite (SQLite always; PostgreSQL + Redis when reachable, required under CI=true)
	$(BIN)/pytest -m "not slow" $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-slow: install  ## chaos, soak and load tests
	$(BIN)/pytest -m slow $(PYTEST_ARGS) || [ $$? -eq 5 ]

test-all: install
	$(BIN)/pytest $(PYTEST_ARGS) || [ $$? -eq 5 ]

lint: install  ## ruff, mypy and the import contracts
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix src tests bench
	$(BIN)/ruff format src tests bench

bench: install  ## the request path against its ceilings, 1 and 2 workers (~6 min; bench/results/http.*)
	$(BIN)/python bench/bench_http.py

bench-all: install  ## every benchmark under bench/ (results saved to bench/results/)
	@for script in bench/bench_*.py; do $(BIN)/python $$script || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) var .mypy_cache .ruff_cache
