# Sluicegate: `make run` starts everything, `make test` checks everything.
# DATABASE_URL / REDIS_URL select real servers; unset, embedded ones are used.

VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
export SLUICEGATE_ENV ?= development
LAUNCH := $(PY) -m config.launch exec --

.PHONY: install run test lint bench clean

$(VENV)/.installed: pyproject.toml
	scripts/system-packages
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

run: install
	$(PY) -m config.launch run

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .
	$(PY) -W ignore::RuntimeWarning manage.py makemigrations --check --dry-run

test: lint
	$(LAUNCH) $(PY) -m pytest -n auto

bench: install
	$(LAUNCH) $(PY) -m bench

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
