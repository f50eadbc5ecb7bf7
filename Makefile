# Gatekeeper: `make demo` runs the whole story on an embedded SQLite database; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := 1
export RAGAS_DO_NOT_TRACK := true
export PROMPTFOO_DISABLE_TELEMETRY := 1
export PROMPTFOO_DISABLE_UPDATE := 1

.PHONY: install install-node test test-fast fuzz demo demo-full serve worker dashboard lint layout bench chaos soak clean help

help:
	@echo "make demo       the whole story on a fresh embedded SQLite database (one-block routers)"
	@echo "make demo-full  the same story with six-block routers (slower, better models)"
	@echo "make test       the full test suite (needs PostgreSQL at 127.0.0.1:5432)"
	@echo "make serve      run the API on http://127.0.0.1:8000 (docs at /docs)"
	@echo "make worker     run the job worker (evaluations, trainings)"
	@echo "make dashboard  run the Streamlit app"
	@echo "make lint       ruff, import cycles, function length, repeated blocks, mypy on the pure modules"
	@echo "make layout     the layout's figures: long functions, repeated blocks, import cycles"
	@echo "make bench      print the performance figures (benchmarks/)"
	@echo "make fuzz       schemathesis on seeded Postgres, FUZZ_EXAMPLES cases per operation (default 50)"
	@echo "make chaos      kill -9 at every fault point of the promotion path, 20 times each (Postgres)"
	@echo "make soak       ten minutes of mixed load on a local API and daemons (Postgres; MINUTES=10)"

# torch first, pinned: it is a CPU wheel on local disk; an unpinned torch pulls gigabytes of CUDA.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[train,llm,dash,dev,ray]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

install: $(STAMP) $(NODE_STAMP)

install-node: $(NODE_STAMP)

test: install
	@$(PY) -m pytest -n 2 --dist loadgroup -p no:cacheprovider --durations=25; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: treating an empty run as a failure"; exit 1; fi; \
	exit $$rc

# The fuzz test of `make test` with a larger budget; it prints the request and 5xx counts.
FUZZ_EXAMPLES ?= 50
fuzz: install
	GATEKEEPER_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(PY) -m pytest -p no:cacheprovider -n 0 -q -s tests/api/test_fuzz.py

test-fast: install
	$(PY) -m pytest -n 2 --dist loadgroup -m "not slow"

demo: install
	$(PY) -m gatekeeper.demo

demo-full: install
	$(PY) -m gatekeeper.demo --full

serve: install
	$(VENV)/bin/gatekeeper db upgrade
	$(VENV)/bin/gatekeeper serve

worker: install
	$(VENV)/bin/gatekeeper worker

dashboard: install
	$(VENV)/bin/gatekeeper dashboard

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m pytest -p no:cacheprovider -n 0 -q tests/test_import_cycles.py tests/test_function_length.py
	$(DUPLICATES)
	$(VENV)/bin/mypy gatekeeper/policy gatekeeper/canary/rules gatekeeper/evaluation/stats.py gatekeeper/evaluation/resampling.py gatekeeper/drift/stats.py gatekeeper/registry/states.py

# Repeated blocks of six or more lines in gatekeeper/ (pylint's similarity checker; comments,
# docstrings, imports and signatures ignored): lint fails on one.
DUPLICATES := $(VENV)/bin/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 \
	--score=no gatekeeper

# The layout's figures (issue 14): long functions, repeated blocks, import cycles.
layout: $(STAMP)
	@$(PY) tests/test_function_length.py
	@$(DUPLICATES) && echo "repeated blocks of 6+ lines in gatekeeper/ (pylint duplicate-code): 0"
	@$(PY) -m pytest -p no:cacheprovider -n 0 -q tests/test_import_cycles.py | tail -1

bench: install
	$(PY) benchmarks/stats.py
	$(PY) benchmarks/gate_overhead.py
	$(PY) benchmarks/daemon_tick.py
	$(PY) benchmarks/drift.py
	$(PY) benchmarks/api.py
	$(PY) benchmarks/prediction_logs.py
	$(PY) benchmarks/prediction_logs_phases.py
	$(PY) benchmarks/vs_mlflow.py
	$(PY) benchmarks/bootstrap_shards.py

# Longer than the chaos run in `make test` (2 kills per fault point); prints the figures.
chaos: install
	CHAOS_ITERATIONS=$${CHAOS_ITERATIONS:-20} $(PY) -m pytest -n 0 -s -q -p no:cacheprovider tests/chaos

MINUTES ?= 10
soak: install
	$(PY) benchmarks/soak.py --minutes $(MINUTES)

clean:
	rm -rf var/demo .pytest_cache
