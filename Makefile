# Two commands do everything on a fresh machine: `make demo` (the quickstart study) and
# `make test` (lint + tests). Both create or refresh .venv themselves.
#
# torch is installed first and pinned, so pip never resolves an open range to a multi-GB CUDA
# build. GPU users choose their build, e.g.:
#   make demo TORCH_SPEC="torch==2.9.1 --index-url https://download.pytorch.org/whl/cu128"
PYTHON ?= python3
TORCH_SPEC ?= torch==2.13.0
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.adaptermix-installed
export HF_HUB_OFFLINE ?= 1
export TOKENIZERS_PARALLELISM ?= false

.PHONY: demo test test-fast lint venv bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/adaptermix run recipes/quickstart.yaml

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q -p no:cacheprovider

# The inner loop: the pure science, the store, the findings, the CLI's spine on tiny models (≈ 30 s on
# 2 cores). `make test` stays the whole suite, and is what CI runs.
FAST_TESTS := test_findings test_fsd test_mixers test_pruning test_store test_store_migrate test_correlation \
	test_greedy test_training_stopping test_import_graph test_advice_core test_advice_benchmark test_data_splits \
	test_signbits_aligned test_cli test_attack_batched test_engine_batched
test-fast: $(STAMP)
	$(BIN)/python -m pytest -q -p no:cacheprovider -x $(FAST_TESTS:%=tests/%.py)

bench: $(STAMP)
	$(BIN)/python benchmarks/eval_throughput.py
	$(BIN)/python benchmarks/fsd_throughput.py

clean:
	rm -rf $(VENV) runs/quickstart
