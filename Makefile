# Sotay: the two commands a newcomer needs, `make run` and `make test`.
# Every step installs only what is missing, so a second run is quick.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint bench clean-instance

setup: $(VENV)/.installed node_modules/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

run: setup
	$(BIN)/sotay run

test: setup
	scripts/system-deps
	$(BIN)/ruff check .
	scripts/test-suites $(BIN)/python

lint: setup
	$(BIN)/ruff check .

bench: setup
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean-instance:
	rm -rf instance
