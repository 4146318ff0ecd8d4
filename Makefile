# The two commands of the README. Both set up what they need first (virtualenv, packages), so they
# work on a fresh clone with only Python 3.11+ and the system's tools.
.PHONY: run test lint typecheck setup clean

VENV   ?= .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

# the newest Python 3.11+ on the PATH
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
            command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
            && { echo $$p; break; }; done)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "afterword needs Python 3.11 or newer on the PATH"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

setup: $(STAMP)

## run: the worker on its embedded Temporal server, with a demo postmortem walked to closed; keeps serving
run: $(STAMP)
	$(PY) worker.py --demo

## test: lint, type check and the whole test suite (installs Prometheus/Alertmanager for their tests)
test: $(STAMP)
	@.ci/system-deps
	$(PY) -m ruff check .
	PYTHON=$(PY) .ci/typecheck
	$(PY) -m pytest -q

lint: $(STAMP)
	$(PY) -m ruff check .

typecheck: $(STAMP)
	PYTHON=$(PY) .ci/typecheck

clean:
	rm -rf $(VENV) .typecheck .mypy_cache .ruff_cache .pytest_cache .hypothesis build
