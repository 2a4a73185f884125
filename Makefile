# cnnkit: the course's commands. Each target builds .venv on first use (stamp files make the
# second run instant). Only Python 3 (with venv) and make are needed.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
RUNTIME_STAMP := $(VENV)/.stamp-runtime
DEV_STAMP     := $(VENV)/.stamp-dev
INSTRUCTOR_STAMP := $(VENV)/.stamp-instructor
PYTEST_ARGS ?=

.PHONY: help install lab report test test-fast test-pythons binder-lock lint bench notebooks clean screenshots binder-check release autograde

help:
	@echo "make lab        open the course in JupyterLab (students)"
	@echo "make report     run every notebook headless, write reports/index.html (instructors)"
	@echo "make test       ruff + the whole test suite (maintainers)"
	@echo "make test-fast  ruff + every test not marked slow (the quick loop while editing)"
	@echo "make bench      benchmarks (ratios measured in one process)"
	@echo "make notebooks  re-execute the notebooks in place (stored outputs, widget state stripped)"
	@echo "make screenshots  retake the README widget screenshots (browser test)"
	@echo "make binder-check what Binder would build (repo2docker, no Docker needed)"
	@echo "make release    graded exercises: student versions into build/release (instructors)"
	@echo "make autograde SUBMISSIONS=DIR  grade DIR/<student>/<lesson>.ipynb into build/grades (JOBS=N: N at once)"

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

$(INSTRUCTOR_STAMP): pyproject.toml $(RUNTIME_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[instructor]'
	@touch $@

# As root it adds --allow-root (and says so); without a browser it opens none; its last line is the
# URL to open, with the token.
lab: $(RUNTIME_STAMP)
	$(BIN)/python scripts/lab.py

# The whole course with the notebooks' default (CPU-sized) parameters, then a small demonstration
# grid on lesson 4 (optimizer x activation) into the same folder: reports/index.html lists and
# compares every run there. Runs that are complete and newer than their notebook are not re-run
# (delete reports/ or pass --force to redo them).
REPORT_GRID_04 := notebooks/04_mnist.ipynb -p optimizer=sgd,adam -p activation=relu,tanh --grid
report: $(RUNTIME_STAMP)
	$(BIN)/cnnkit report --out reports
	$(BIN)/cnnkit report $(REPORT_GRID_04) --out reports

# Graded exercises (exercises/, nbgrader): the student versions, and grading a folder with one
# subfolder per student (SUBMISSIONS/<student>/<lesson>.ipynb) into grades.csv + feedback HTML.
SUBMISSIONS ?= submissions
JOBS ?= 1
release: $(INSTRUCTOR_STAMP)
	$(BIN)/cnnkit exercises release --out build/release

autograde: $(INSTRUCTOR_STAMP)
	$(BIN)/cnnkit exercises autograde $(SUBMISSIONS) --out build/grades --jobs $(JOBS)

lint: $(DEV_STAMP)
	$(BIN)/ruff check .

test: lint test-pythons
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The unit tests (not the notebooks, the browser or the slow runs) under the oldest and the newest
# Python that pyproject.toml's requires-python admits, each in its own venv (.venv/python3.10, .venv/python3.13).
# An interpreter this machine lacks is reported and skipped, never silently.
PYTHONS ?= 3.10 3.13
test-pythons:
	@for v in $(PYTHONS); do $(PYTHON) scripts/test_pythons.py $$v || exit 1; done

# The quick loop while editing: everything but the tests marked slow (about 3 minutes here).
test-fast: lint
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

bench: $(RUNTIME_STAMP)
	$(BIN)/python benchmarks/conv.py
	$(BIN)/python benchmarks/trace.py
	$(BIN)/python benchmarks/train.py

notebooks: $(RUNTIME_STAMP)
	$(BIN)/python scripts/execute_notebooks.py notebooks/[0-9]*.ipynb

# The README's widget screenshots (docs/img/), taken by the browser test (tests/browser/) as a
# student sees each widget in JupyterLab. Needs Debian's chromium (apt-get install chromium).
screenshots: $(DEV_STAMP)
	CNNKIT_SCREENSHOTS_DIR=docs/img $(BIN)/python -m pytest tests/browser -q

# Pin binder/environment.yml to the versions installed in .venv (what make test tested).
binder-lock: $(DEV_STAMP)
	$(BIN)/python scripts/binder_lock.py

# What Binder would build: repo2docker renders its Dockerfile from binder/ (offline, no Docker).
binder-check: $(DEV_STAMP)
	$(BIN)/jupyter-repo2docker --no-build --no-run .

clean:
	rm -rf reports .pytest_cache .ruff_cache .hypothesis test-artifacts
