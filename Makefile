# One entry point for people and CI. Every target sets up .venv if it is missing.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test bench bench-detect snapshots clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

# As root, jobs must run as an unprivileged account (spec decision 11): the demo uses `nobody`, an interpreter
# that account can execute, and a data dir it can reach (./.ade-data), unless ADE_JOB_USER is set already.
run: $(STAMP)
	@if [ "$$(id -u)" = 0 ] && [ -z "$$ADE_JOB_USER" ]; then \
	  py=$$($(BIN)/python -c 'from ade_engine.jobs.runtime_site import find_job_python as f; print(f("nobody")[0] or "")'); \
	  export ADE_JOB_USER=nobody ADE_DATA_DIR="$${ADE_DATA_DIR:-$(CURDIR)/.ade-data}"; \
	  if [ -n "$$py" ]; then export ADE_JOB_PYTHON="$$py"; fi; \
	  echo "running as root: jobs run as 'nobody', data in $$ADE_DATA_DIR"; \
	  exec $(BIN)/ade; \
	fi; \
	exec $(BIN)/ade

test: $(STAMP)
	$(BIN)/python -m pytest -q

bench: $(STAMP) bench-detect
	$(BIN)/python -m benchmarks

# Structure detection on the hand-labelled corpus beside the checkout (a note and exit 0 when it is absent).
bench-detect: $(STAMP)
	$(BIN)/python -m benchmarks.detect

snapshots: $(STAMP)
	$(BIN)/python -m pytest -q tests/tui --snapshot-update

clean:
	rm -rf $(VENV) .pytest_cache ade-out
