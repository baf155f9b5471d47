# Every target installs what it needs first, so a fresh clone only needs `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(CURDIR)/data
export TOOLROUTE_DATA_DIR ?= $(DATA_DIR)

.PHONY: install index run test lint bench clean

install: $(STAMP)

# Re-runs only when pyproject.toml changes. torch is installed first and pinned: the CPU
# build is on this machine's wheel path, while an unpinned torch pulls GBs of CUDA wheels.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "toolroute needs Python >= 3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

# Builds the search index once; later starts load it (and catch up with catalog changes).
index: install
	@test -f $(TOOLROUTE_DATA_DIR)/index/manifest.json || $(BIN)/toolroute index build

# Until the REST service lands, `run` answers a sample search.
run: index
	$(BIN)/toolroute search "summarize a news article" -k 5

test: install
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	$(BIN)/toolroute bench retrieval

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
