# coreset-bench — `make help` lists the targets.
# Every target installs what it needs into .venv/ first (a fresh clone needs only python3).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# The local data mirror beside the repository, when there is one (see docs/usage.md, "Data").
SHARED_DATA := $(abspath ../shared/data)
ifneq ($(wildcard $(SHARED_DATA)),)
export CORESET_BENCH_DATA ?= $(SHARED_DATA)
endif

.DEFAULT_GOAL := help
.PHONY: help install demo test test-slow smoke reproduce report data-verify clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  make %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(STAMP) ## create .venv/ and install the package (editable) with test tools

demo: install ## the main job in a minute: every sampler on the embedded digits data, 30 seeds, then a table with intervals
	$(BIN)/coreset-bench run -m experiment=demo results_dir=results/demo
	$(BIN)/coreset-bench results results/demo
	@echo "The paper's experiments at 100 seeds, with verdicts: docs/reproduction/index.md"

# Tests are spread over the cores by module (--dist loadscope: a module's shared fixtures, e.g. the
# docs' runnable blocks, are made once): 552 s with 2 processes against 582 s by test (one run each).
test: install ## the test suite (excludes tests marked slow; one process per core, at most 4), then the smoke sweep
	$(BIN)/python -m pytest -q -rs -n auto --maxprocesses 4 --dist loadscope
	$(BIN)/python scripts/smoke.py

smoke: install ## smoke sweeps (tiny budgets, 2 seeds) run twice: the second pass must add nothing
	$(BIN)/python scripts/smoke.py

test-slow: install ## only the slow tests (longer real-data experiments)
	$(BIN)/python -m pytest -q -m slow

data-verify: install ## check every dataset's files and checksums in CORESET_BENCH_DATA
	$(BIN)/coreset-bench data verify

clean: ## remove the virtual environment and caches (results/ is kept)
	rm -rf $(VENV) .pytest_cache *.egg-info

SEEDS ?= range(0,100)
PAPER_EXPERIMENTS := fig1_gas fig2_mnist fig2_fashion_mnist fig4_mnist fig4_fashion_mnist
CIFAR_EXPERIMENTS := fig2_cifar10 fig4_cifar10
# The published CIFAR-10 rows were trained on one GPU by scripts/gpu_cifar10.py (engine=vmap
# backend=jax, part of their run keys). Here the same keys run on JAX's CPU convolutions (about
# 2x slower than TensorFlow's); CIFAR_ARGS= (empty) uses auto (TensorFlow) instead, which needs
# another results_dir: a cell holds rows of one identity only.
CIFAR_ARGS ?= engine=vmap backend=jax
# Issue 9's ablations of the gas result and issue 12's of Algorithm 1's knobs on MNIST (their own
# seeds and results_dir: results/ablations/*).
ABLATIONS := abl_gas_mix10 abl_gas_mix50 abl_gas_unweighted abl_gas_batches6 abl_gas_log1p \
	abl_mnist_lam0 abl_mnist_lam01x abl_mnist_lam10x abl_mnist_k2_01 abl_mnist_k2_04 \
	abl_mnist_warm01 abl_mnist_warm04 abl_mnist_weighted alg3_mnist_r1 alg3_mnist_r2 alg3_mnist_r4
# The Theorem 5 check (not an experiment of the paper; results/theory/*).
THEORY := thm5_mnist thm5_fashion_mnist thm5_cifar10
REPORT_DIR ?= docs/reproduction
reproduce: install ## every paper experiment (resuming from the published rows), the ablations, the Theorem 5 check, Table 1, then publish the rows and write the report; quick: make reproduce SEEDS='range(0,10)'
	$(BIN)/coreset-bench results import $(ROWS) results
	@for e in $(PAPER_EXPERIMENTS); do \
	  echo "== experiment=$$e seed=$(SEEDS)"; \
	  $(BIN)/coreset-bench run -m experiment=$$e 'seed=$(SEEDS)' || exit $$?; \
	done
	@for e in $(CIFAR_EXPERIMENTS); do \
	  echo "== experiment=$$e seed=$(SEEDS) $(CIFAR_ARGS)"; \
	  $(BIN)/coreset-bench run -m experiment=$$e 'seed=$(SEEDS)' $(CIFAR_ARGS) || exit $$?; \
	done
	@for e in $(ABLATIONS); do \
	  echo "== experiment=$$e"; \
	  $(BIN)/coreset-bench run -m experiment=$$e || exit $$?; \
	done
	@for e in $(THEORY); do \
	  echo "== experiment=$$e seed=$(SEEDS)"; \
	  $(BIN)/coreset-bench run -m experiment=$$e 'seed=$(SEEDS)' || exit $$?; \
	done
	$(BIN)/python scripts/investigate_fashion.py 16 2000 results
	$(BIN)/coreset-bench bench table1
	$(BIN)/python scripts/publish_reproduction.py results --to $(ROWS)
	$(MAKE) report

ROWS ?= docs/reproduction/rows
report: install ## regenerate the reproduction report (docs/reproduction/) from the committed rows in docs/reproduction/rows/
	$(BIN)/coreset-bench report results_dir=$(ROWS) out=$(REPORT_DIR)
