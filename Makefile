# The two commands a newcomer needs: `make demo` and `make test`. Everything else is a step of theirs.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
export PYTHONPATH := $(CURDIR)

.PHONY: setup system venv vendor db test demo bench clean

setup: system venv vendor db

system:
	@bash scripts/setup_system.sh

venv: $(VENV)/.installed
$(VENV)/.installed: requirements/base.txt requirements/dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -r requirements/dev.txt
	touch $@

vendor: vendor/node_modules/.installed
vendor/node_modules/.installed: vendor/package.json vendor/package-lock.json
	npm ci --prefix vendor --no-audit --no-fund --loglevel=error
	touch $@

db: venv
	$(PY) scripts/create_db.py
	$(VENV)/bin/alembic upgrade head

test: system venv vendor
	$(VENV)/bin/pytest

demo: setup
	$(PY) scripts/demo.py

bench: setup
	@bash scripts/setup_system.sh bench
	$(PY) -m tests.benchmarks

clean:
	rm -rf $(VENV) vendor/node_modules .pytest_cache
