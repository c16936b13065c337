# One entry point: `make demo` and `make test` work on a fresh clone.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Every package of the runtime and of the spark, test and bench extras, pinned with hashes:
# `make install` needs nothing but pip, and a fresh machine gets the versions the suite passed with.
LOCK := requirements/lock.txt
# The resolver that writes the lock (`make lock`, `make upgrade` only; never needed to install).
UV_REQ := uv==0.13.9
LOCK_CMD := $(BIN)/uv pip compile pyproject.toml --extra spark --extra test --extra bench \
	--universal --python-version 3.11 --generate-hashes --quiet \
	--custom-compile-command 'make lock' --output-file $(LOCK)

.PHONY: install lock upgrade demo test lint fix docs bench fuzz clean

$(STAMP): pyproject.toml $(LOCK)
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	$(BIN)/python -m pip install --quiet --no-deps -e .
	$(BIN)/python -m pip check
	touch $(STAMP)

install: $(STAMP)

$(BIN)/uv:
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet '$(UV_REQ)'

# Re-resolve after an edit to pyproject.toml, keeping every pin that still fits.
lock: $(BIN)/uv
	$(LOCK_CMD)

# Move every pin to the newest version pyproject.toml allows, install it and run the suite.
upgrade: $(BIN)/uv
	$(LOCK_CMD) --upgrade
	$(MAKE) test

demo: $(STAMP)
	$(BIN)/tracecheck demo

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m traceability.docs --check

fix: $(STAMP)
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

docs: $(STAMP)
	$(BIN)/python -m traceability.docs

# worksteal: a worker that runs out of tests takes some of the other's queue.
test: lint
	$(BIN)/pytest -n 2 --dist worksteal -q

bench: $(STAMP)
	$(BIN)/python bench/ingest.py --runs 3
	$(BIN)/python bench/reconcile.py

# Mutation fuzzing of the loaders at length (100,000 inputs; `make test` runs a few).
fuzz: $(STAMP)
	$(BIN)/python bench/fuzz.py

clean:
	rm -rf $(VENV) build dist *.egg-info
