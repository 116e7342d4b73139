# capacity-planner: the two commands a new user runs are `make demo` and `make test`.
# Every target creates .venv when it is missing and (re)installs when pyproject.toml changes.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DB     ?= .demo/capacity.db
PORT   ?= 8000
# uv installs the ~60 wheels in a fraction of pip's time (the demo's 3 minutes include the install);
# plain pip is the fallback when uv cannot be had.
PIP     := $(BIN)/python -m pip --disable-pip-version-check -q
INSTALL := $(BIN)/uv pip install -q --python $(BIN)/python

.PHONY: demo test test-slow test-all test-fast serve bench lint format reliability fleet docs clean help

help:
	@echo "make demo         sample fleet -> forecasts -> ranked risk table and readiness report (SQLite in $(DB))"
	@echo "make test         install with test extras and run the suite but its slow tests (starts PostgreSQL/Prometheus itself)"
	@echo "make test-slow    the slow tests: end-to-end benchmark runs, the Prometheus soak, the full fuzzers (CI runs both)"
	@echo "make serve        the API on http://127.0.0.1:$(PORT) over the demo database"
	@echo "make bench        accuracy, breach, events, scale and API benchmarks (writes bench-results/)"
	@echo "make lint         ruff check, ruff format --check, mypy, lint-imports (layers, no cycles), layout rules"
	@echo "make reliability  kill loop, concurrency run and fuzzers (capacity bench reliability)"
	@echo "make docs         the documentation site into site/ (mkdocs build --strict: a broken link fails)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install uv || true

$(VENV)/.installed-runtime: pyproject.toml | $(BIN)/python
	$(INSTALL) -e . || $(PIP) install -e .
	@touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(INSTALL) -e '.[dev,postgres,dask,bench,docs]' || $(PIP) install -e '.[dev,postgres,dask,bench,docs]'
	@touch $@ $(VENV)/.installed-runtime

data/fleet/history.csv: data/generate_fleet.py data/fleet.toml | $(VENV)/.installed-runtime
	$(BIN)/python data/generate_fleet.py --out data/fleet

fleet: data/fleet/history.csv

demo: $(VENV)/.installed-runtime data/fleet/history.csv
	$(BIN)/capacity demo --db $(DB) --out .demo/report

# The suite runs in $(TEST_PROCS) pytest-xdist processes: most tests wait on servers and subprocesses, so two
# processes finish sooner even on two busy cores. Tests marked `slow` (end-to-end benchmark runs, the real-Prometheus
# soak, the full fuzzers) are what a newcomer need not run: `make test-slow` runs them, and CI runs both.
TEST_PROCS ?= 2

test: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n $(TEST_PROCS) -m "not slow"

test-slow: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -n $(TEST_PROCS) -m slow

test-all: test test-slow

test-fast: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -q -x -m "not slow"

serve: $(VENV)/.installed-runtime
	@test -f $(DB) || $(MAKE) demo
	$(BIN)/capacity serve --db $(DB) --port $(PORT)

bench: $(VENV)/.installed-dev
	mkdir -p bench-results
	nice -n 10 $(BIN)/capacity bench accuracy --data ../shared/data/real --horizon 24h --folds 3 --peers prophet,statsforecast \
		--json bench-results/accuracy-24h.json --markdown bench-results/accuracy-24h.md
	nice -n 10 $(BIN)/capacity bench accuracy --data ../shared/data/real --horizon 7d --folds 3 --peers prophet,statsforecast \
		--json bench-results/accuracy-7d.json --markdown bench-results/accuracy-7d.md
	nice -n 10 $(BIN)/capacity bench breach --data ../shared/data/real --horizon 7d --folds 3 --agg max \
		--json bench-results/breach.json --markdown bench-results/breach.md
	nice -n 10 $(BIN)/capacity bench events --data ../shared/data/real --events ../shared/data/events-us.csv --lead 7d \
		--json bench-results/events.json
	nice -n 10 $(BIN)/capacity bench scale --series 1000 --weeks 8 --horizon 14d --json bench-results/scale.json
	nice -n 10 $(BIN)/capacity bench api --duration 60s --json bench-results/api.json

reliability: $(VENV)/.installed-dev
	nice -n 10 $(BIN)/capacity bench reliability --json bench-results/reliability.json

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/architecture

$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(INSTALL) -e '.[docs]' || $(PIP) install -e '.[docs]'
	@touch $@

docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

format: $(VENV)/.installed-dev
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf .demo bench-results .pytest_cache .mypy_cache .ruff_cache data/fleet
