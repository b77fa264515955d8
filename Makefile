# The two set-up commands: `make run` (the app on its embedded defaults) and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# E2E=0 leaves out the browser tests and the Celery worker tests (Chromium, Redis) locally; CI runs them.
E2E ?= 1
PYTEST_ARGS ?=

.PHONY: install test-deps run test lint typecheck emulator bench soak fuzz

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

run: install
	$(BIN)/python -m devtools.run

emulator: install
	$(BIN)/python -m devtools.google_emulator --port 8081

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install
	$(BIN)/mypy .

# Chromium and redis-server for the browser and worker tests: installed as root with apt-get,
# else one command to run (devtools/provision_tests.py). The tests start their own redis-server.
test-deps: install
	$(if $(filter 0,$(E2E)),,$(BIN)/python -m devtools.provision_tests)

test: test-deps lint typecheck
	$(BIN)/pytest $(if $(filter 0,$(E2E)),-m "not e2e and not worker") $(PYTEST_ARGS)

# Every performance goal's benchmark (bench/README.md), then one line per goal. Needs PostgreSQL at
# 127.0.0.1:5432 (database galaxyco_bench, recreated), wrk, and npm with a C++ toolchain for n8n, which
# bench/peer.py installs once into bench/.n8n/; as root the missing tools are installed with apt-get.
BENCH_APT := $(if $(shell command -v wrk),,wrk) $(if $(shell command -v npm),,nodejs npm) \
	$(if $(shell command -v g++),,g++ make)
bench: install
	$(if $(strip $(BENCH_APT)),@if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq $(BENCH_APT); \
		else echo "Install first: sudo apt-get install -y $(strip $(BENCH_APT))"; exit 1; fi)
	$(BIN)/python bench/all.py

# The large versions of the fault proofs (minutes, not seconds); `make test` runs small ones.
# The database restart starts a PostgreSQL server of its own (PostgreSQL's server programs installed);
# SOAK_RUNS sets its burst (500).
soak: install
	PACING_BURST=400 FAULT_PROOF_RUNS=1000 $(BIN)/pytest -p no:cacheprovider -s workflows/tests/test_pacing.py \
		workflows/tests/test_fault_proofs.py workflows/tests/soak_database_outage.py $(PYTEST_ARGS)

# Schemathesis against /api/schema/ in process, every check on (tests/fuzz); `make test` runs 300 cases.
# FUZZ_MAX_EXAMPLES sets the budget. It runs on the database DATABASE_URL names: SQLite when unset,
# PostgreSQL with e.g. `DATABASE_URL=postgres://postgres@127.0.0.1:5432/galaxyco make fuzz`.
FUZZ_MAX_EXAMPLES ?= 20000
fuzz: install
	FUZZ_MAX_EXAMPLES=$(FUZZ_MAX_EXAMPLES) $(BIN)/pytest -p no:cacheprovider -m fuzz tests/fuzz $(PYTEST_ARGS)
