# opsmatch: `make run` (set up + main job on the embedded default) and `make test` (set up + tests).
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
SCENARIO ?= default
DAYS   ?= 90
PORT   ?= 3000

.PHONY: run stack test install lint bench simulate clean system-deps

## The venv: uv (from PyPI, pinned in constraints.txt) installs the pinned set with parallel downloads
## (clean clone, empty uv cache: 26 s wall, 12 s CPU; pip took 141 s, 108 s); pip is the fallback.
$(STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || python3 -m venv $(VENV)
	{ $(BIN)/python -m pip install --quiet -c constraints.txt uv && \
	  $(BIN)/uv pip install --quiet --python $(BIN)/python -c constraints.txt -e '.[dev]' pip setuptools wheel; } || \
	{ $(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel && \
	  $(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'; }
	@touch $(STAMP)

install: $(STAMP)

## The main job on the embedded default: twin history -> features -> models -> service.
## The demo clock (OPSMATCH_CLOCK=demo, the default here) starts at a past working-day morning in
## Beijing, never runs ahead of the wall clock; OPSMATCH_CLOCK=wall make run keeps the wall clock.
run: $(STAMP)
	OPSMATCH_CLOCK=$${OPSMATCH_CLOCK:-demo} OPSMATCH_SCENARIO=$(SCENARIO) $(BIN)/opsmatch bootstrap --days $(DAYS) --first-champions background
	OPSMATCH_CLOCK=$${OPSMATCH_CLOCK:-demo} OPSMATCH_SCENARIO=$(SCENARIO) $(BIN)/opsmatch demo --port $(PORT)

## The same on PostgreSQL + Redis (Debian's packages, run from data/stack/) with WORKERS service workers.
WORKERS ?= 2
stack: $(STAMP) system-deps
	OPSMATCH_CLOCK=$${OPSMATCH_CLOCK:-demo} OPSMATCH_SCENARIO=$(SCENARIO) $(BIN)/opsmatch stack up --workers $(WORKERS) --days $(DAYS) --port $(PORT)

## Servers the integration tests start for real (redis-server, ...), installed when missing.
system-deps:
	bash scripts/system-deps.sh

## Unit, data, model-behaviour, service and end-to-end tests (0 skipped: servers come from system-deps).
## TEST_WORKERS pytest-xdist workers, each test file (or xdist_group of files) whole on one worker, the
## heaviest first (tests/scheduling.py): one per core. Three on 2 cores was 887 s, but the 10x live-twin
## e2e then failed (its twin starved beside two other server tests; it passes alone and with two workers).
## TEST_TMP: the tests' files (pytest's tmp_path, every tempfile, the session's world cache) in RAM when
## /dev/shm is there: each SQLite commit of the stores the tests write (MLflow, events, state, Feast)
## waits ~7 ms for the disk's fsync here, and creating one empty MLflow store took 10-14 s on disk, 2-3 s
## in RAM. The same SQLite, PostgreSQL and Redis run on it. `make test TEST_TMP=` keeps them on disk.
## One folder per checkout: pytest wipes its basetemp at start, so two clones' runs must not share it;
## the folders of checkouts that no longer exist are removed (scripts/prune-test-tmp.sh).
TEST_WORKERS ?= 2
TEST_TMP ?= $(shell test -d /dev/shm -a -w /dev/shm && echo /dev/shm/opsmatch-tests-$$(printf %s "$(CURDIR)" | cksum | cut -d" " -f1))
test: $(STAMP) system-deps
	$(if $(TEST_TMP),bash scripts/prune-test-tmp.sh "$(CURDIR)" $(TEST_TMP) && TMPDIR=$(TEST_TMP) OPSMATCH_TEST_CACHE=$(TEST_TMP)/test-worlds) \
	  OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup \
	  $(if $(TEST_TMP),--basetemp=$(TEST_TMP)/pytest)

## Style, formatting, types, layers and duplicated code.
PRODUCT := opsmatch simulator features training serving evaluation apps
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports
	$(BIN)/mypy $(PRODUCT)
	$(BIN)/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 $(PRODUCT)

bench: $(STAMP)
	for b in bench/bench_*.py; do OMP_WAIT_POLICY=PASSIVE $(BIN)/python $$b || exit 1; done

clean:
	rm -rf data mlruns/mlflow.db mlruns/artifacts .pytest_cache
