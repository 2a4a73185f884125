# cnnkit: the course's commands. Each target builds .venv on first use (stamp files make the
# second run instant). Only Python 3 (with venv) and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP     := $(VENV)/.stamp-dev
PYTEST_ARGS ?=

.PHONY: help install lab report test lint bench notebooks clean

help:
	@echo "make lab        open the course in JupyterLab (students)"
	@echo "make report     run every notebook headless, write reports/index.html (instructors)"
	@echo "make test       ruff + the whole test suite (maintainers)"
	@echo "make bench      benchmarks (ratios measured in one process)"
	@echo "make notebooks  re-execute the notebooks in place (stored outputs, widget state stripped)"

$(VENV)/bin/python:
	@$(PYTHON) -m venv $(VENV) || { echo "Could not create $(VENV): on Debian/Ubuntu run 'apt-get install python3-venv'"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip

$(RUNTIME_STAMP): pyproject.toml | $(VENV)/bin/python
	$(BIN)/python -m pip install --quiet -e .
	@touch $@

$(DEV_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $@

install: $(DEV_STAMP)

lab: $(RUNTIME_STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks

report: $(RUNTIME_STAMP)
	$(BIN)/cnnkit report --out reports

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

test: lint
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/conv.py

notebooks: $(RUNTIME_STAMP)
	$(BIN)/python scripts/execute_notebooks.py notebooks/[0-9]*.ipynb

clean:
	rm -rf reports .pytest_cache .ruff_cache .hypothesis test-artifacts
