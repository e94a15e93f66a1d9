# Territory: `make demo` (fresh machine -> everything running) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
TERRITORY := $(VENV)/bin/territory
UV_VERSION := 0.13.9
DEMO_DIR ?= data/demo
PORT ?= 3000
export UV_COMPILE_BYTECODE := 1
export MPLBACKEND := Agg

.DEFAULT_GOAL := help
.PHONY: help install demo test test-fast lint lock sample train plan serve bench clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed -e 's/$$(PORT)/$(PORT)/g' -e 's|$$(DEMO_DIR)|$(DEMO_DIR)|g' \
		| awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'
	@echo "  (PORT=$(PORT): make demo PORT=3001 serves elsewhere; run territory as $(TERRITORY) or source $(VENV)/bin/activate first)"

$(VENV)/.installed: requirements.lock pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "Territory needs $(PYTHON) on PATH (set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet uv==$(UV_VERSION)
	$(VENV)/bin/uv pip install --python $(PY) -r requirements.lock
	$(VENV)/bin/uv pip install --python $(PY) --no-deps -e .
	@touch $@

install: $(VENV)/.installed ## create .venv and install the locked dependencies (editable)

lock: ## re-resolve requirements.lock from pyproject.toml
	$(VENV)/bin/uv pip compile pyproject.toml --extra dev --python-version 3.11 -o requirements.lock

demo: install ## sample world -> validate -> train -> score -> plan -> serve on :$(PORT)
	$(PY) -m training.cli.demo --out $(DEMO_DIR) --port $(PORT)

test: install ## the whole suite (what .ci/run calls); "no tests collected" counts as a failure
	@$(PY) -m pytest; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing on purpose"; exit 1; fi; exit $$rc

test-fast: install ## the unit tier: no servers, no browser, one small model per run (< 2 min)
	$(PY) -m pytest -m "not slow and not integration and not browser and not model"

lint: install ## ruff
	$(VENV)/bin/ruff check features models training serving tests bench

sample: install ## the default sample world in $(DEMO_DIR)
	$(TERRITORY) sample --accounts 20000 --reps 60 --years 3 --seed 7 --out $(DEMO_DIR)

train: install ## train on $(DEMO_DIR) and register the model
	$(TERRITORY) train --data $(DEMO_DIR) --promote

plan: install ## plan on $(DEMO_DIR)
	$(TERRITORY) plan --data $(DEMO_DIR) --out $(DEMO_DIR)/plan

serve: install ## serve the API, widget and review page on :$(PORT)
	$(TERRITORY) serve --data $(DEMO_DIR) --port $(PORT)

bench: install ## run the benchmarks and write their tables into README.md
	$(PY) -m bench.run_all

clean: ## remove the virtualenv and generated data
	rm -rf $(VENV) data/demo mlruns .pytest_cache
