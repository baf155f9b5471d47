# Every target installs what it needs first, so a fresh clone only needs `make run` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= $(CURDIR)/data
export TOOLROUTE_DATA_DIR ?= $(DATA_DIR)

# llama-cpp-python compiles llama.cpp (about 8 minutes on 2 cores). It is built once into a
# wheel cache outside the checkout, so a fresh clone or a new venv reuses it. Portable CPU
# flags, not -march=native: a native build picked up AMX/AVX-512 instructions that this
# kind of VM advertises but cannot execute (SIGILL at the first model load).
LLAMA_CPP_VERSION := 0.3.36
LLAMA_CMAKE_ARGS := -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON \
	-DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
WHEELHOUSE ?= $(HOME)/.cache/toolroute/wheels
LLAMA_WHEELS := $(WHEELHOUSE)/llama-$(LLAMA_CPP_VERSION)-avx2
LLAMA_WHEEL_STAMP := $(LLAMA_WHEELS)/.built

.PHONY: install system-packages test-system-packages index run test lint bench clean

install: system-packages $(STAMP)

$(LLAMA_WHEEL_STAMP):
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	@echo "Building llama-cpp-python $(LLAMA_CPP_VERSION) (once; about 8 minutes on 2 cores)..."
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(BIN)/python -m pip wheel --quiet --no-deps --no-cache-dir \
		--no-binary llama-cpp-python --wheel-dir $(LLAMA_WHEELS) \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	@touch $@

# Debian packages, installed with apt-get when missing (as root): `apt_install` takes the
# packages and what needs them.
define apt_install
	@missing=$$(for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then \
		if command -v apt-get >/dev/null && [ "$$(id -u)" = 0 ]; then \
			echo "Installing $$missing with apt-get..."; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
		else echo "warning: $(2) needs these Debian packages: $$missing"; fi; \
	fi
endef

# The sandbox loads libseccomp through pyseccomp, and when this Python lives where the
# sandbox's unprivileged uid cannot read it (pyenv under a 0700 /root), it runs the system's
# python3 of the same version instead.
SYSTEM_PACKAGES := libseccomp2 python3
system-packages:
	$(call apt_install,$(SYSTEM_PACKAGES),the sandbox)

# The tests start their own PostgreSQL server (initdb in a temporary directory) to check the
# task store and several service instances on it, and drive the web console in Debian's
# headless Chromium (through Playwright, which downloads no browser of its own here).
TEST_SYSTEM_PACKAGES := postgresql chromium
test-system-packages:
	$(call apt_install,$(TEST_SYSTEM_PACKAGES),make test)

# Re-runs only when pyproject.toml changes. torch is installed first and pinned: the CPU
# build is on this machine's wheel path, while an unpinned torch pulls GBs of CUDA wheels.
$(STAMP): pyproject.toml $(LLAMA_WHEEL_STAMP)
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "toolroute needs Python >= 3.11"'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip setuptools wheel
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet --find-links $(LLAMA_WHEELS) \
		"llama-cpp-python[server]==$(LLAMA_CPP_VERSION)"
	$(BIN)/python -m pip install --quiet --find-links $(LLAMA_WHEELS) -e '.[dev]'
	@touch $(STAMP)

# Builds the search index once; later starts load it (and catch up with catalog changes).
index: install
	@test -f $(TOOLROUTE_DATA_DIR)/index/manifest.json || $(BIN)/toolroute index build

# The REST service on 127.0.0.1:8000 with the embedded defaults (OpenAPI at /docs).
run: index
	$(BIN)/toolroute serve

test: install test-system-packages
	$(BIN)/python -m pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# wrk loads the service from a separate process (`bench serve`); apt-installed when missing.
bench: install
	$(call apt_install,wrk,bench serve)
	$(BIN)/toolroute bench retrieval
	$(BIN)/toolroute bench router
	$(BIN)/toolroute bench ask --arm template --arm llamacpp --arm moa -n 60
	$(BIN)/toolroute bench sandbox
	$(BIN)/toolroute bench serve
	$(BIN)/toolroute eval apibench --hub all --arms template --no-plots --out reports/tmp/template

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
