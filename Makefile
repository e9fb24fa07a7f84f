# Sotay: the two commands a newcomer needs, `make run` and `make test`.
# Every step installs only what is missing, so a second run is quick.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test setup lint bench clean-instance

setup: $(VENV)/.installed node_modules/.installed

# The first run downloads for minutes: each step says what it does and pip
# and npm show their progress, so a newcomer never stares at a silent terminal.
$(VENV)/.installed: pyproject.toml
	@echo "==> [1/3] Python environment in $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "==> [2/3] Installing Sotay and its Python dependencies (first time: a few minutes)"
	$(BIN)/pip install --progress-bar on --disable-pip-version-check -e '.[dev]'
	touch $@

node_modules/.installed: package.json package-lock.json
	@echo "==> [3/3] Installing PouchDB Server and the phone's libraries with npm (first time: a few minutes)"
	npm ci --no-audit --no-fund --loglevel=http --foreground-scripts
	touch $@

run: setup
	@echo "==> Starting Sotay (instance: $${SOTAY_INSTANCE:-instance})"
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
