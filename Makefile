# The two commands a newcomer needs: `make run` and `make test`.
# Both create .venv if it is missing and install what they need from PyPI,
# pinned by constraints.txt so that every machine gets the same versions.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_VERSION := 26.2.1
STAMP := $(VENV)/.installed
DEV_STAMP := $(VENV)/.installed-dev

.PHONY: run test lint typecheck security pytest lock clean sandbox demo

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet "pip==$(PIP_VERSION)"

$(STAMP): pyproject.toml constraints.txt | $(BIN)/python
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[postgres]"
	touch $@

$(DEV_STAMP): $(STAMP) pyproject.toml constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt --group dev -e ".[postgres]"
	touch $@

run: $(STAMP)
	mkdir -p var
	$(BIN)/accord demo

lint: $(DEV_STAMP)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/lint-imports --no-cache --no-logo

typecheck: $(DEV_STAMP)
	$(BIN)/mypy --strict src
	$(BIN)/mypy --strict tests/typing

# Tests run in a random order (pytest-randomly), so that no test leans on another having run
# first. The seed is printed; `make pytest SEED=N` replays that order (and that seeding of
# `random`). `-p no:randomly` switches it off for a targeted run.
ifndef SEED
SEED := $(shell od -An -N4 -tu4 /dev/urandom | tr -d ' ')
endif
# bandit: no finding of high severity in src (the medium ones are ruff's S rules, each reviewed
# where it is silenced). pip-audit: no dependency with a known vulnerability (PyPI's data;
# scripts/pip_audit.py also says how many it could not look up).
security: $(DEV_STAMP)
	$(BIN)/bandit -q -r src --severity-level high
	$(BIN)/python scripts/pip_audit.py

# scripts/pg.sh starts a throw-away PostgreSQL (installing Debian's package when it can) so the
# database suites run on SQLite and on PostgreSQL; it stops and removes it afterwards. Two
# pytest workers (one per core); each test file stays on one worker so that module-scoped
# sandboxes and runtimes are built once. The suite takes about 14 minutes on 2 cores (goal:
# 10); --durations lists the slowest tests so that the next cut is visible in every run.
pytest: $(DEV_STAMP)
	@echo "pytest-randomly seed $(SEED) (make pytest SEED=$(SEED) repeats this order)"
	bash scripts/pg.sh $(BIN)/python -m pytest -q -n 2 --dist loadfile -p randomly --randomly-seed=$(SEED) --durations=15

test: lint typecheck security pytest

# Regenerate the constraints file after changing dependencies.
lock: $(DEV_STAMP)
	$(BIN)/python -m pip freeze --exclude-editable --all | grep -v '^pip==' > constraints.txt

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
