# The people's entry point. `make` (or `make all`) builds every thesis output that is out of date;
# `make test` runs every test. Both create the virtual environment from the lock file if needed.
SHELL := /bin/bash
.DEFAULT_GOAL := all
.DELETE_ON_ERROR:
.SUFFIXES:

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
SETUP := $(VENV)/.installed
PARAMS ?= analysis/params.yaml
BUILD := $(PY) -m issp_research.build --params $(PARAMS)

# One thread for the numerical libraries: the same results on every machine, whatever its cores.
# And OpenBLAS's generic x86-64 kernels (SSE3) rather than the ones it picks for the processor:
# the AVX2 and AVX-512 kernels sum in another order, which moved the proportional-odds statistics
# of the item models in their tenth digit between two machines. Every x86-64 processor runs these.
export OPENBLAS_CORETYPE := Prescott
export OPENBLAS_NUM_THREADS := 1
export OMP_NUM_THREADS := 1
export MKL_NUM_THREADS := 1
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
export PYDEVD_DISABLE_FILE_VALIDATION := 1

NOTEBOOKS := $(sort $(basename $(notdir $(wildcard notebooks/[0-9][0-9]_*.ipynb))))
EXECUTED := $(NOTEBOOKS:%=analysis/executed/%.ipynb)

.PHONY: all help setup test verify report docs lab lint notebook sensitivity sensitivity-runs bench clean lock demo-data refresh-references FORCE

all: $(EXECUTED) analysis/index.html ## build every thesis output that is out of date (default)

report: analysis/index.html ## write analysis/index.html: every figure, table and notebook (also built by make all)

# Every figure, table and colophon value on the page changes only through a notebook run.
analysis/index.html: $(EXECUTED) src/issp_research/report.py
	@$(PY) -m issp_research.report

verify: $(SETUP) ## rebuild every output from data/raw in a scratch copy and compare with the committed ones
	$(PY) -m issp_research.verify

docs: $(SETUP) ## regenerate docs/data-dictionary.md from the data dictionary in the library
	$(PY) -m issp_research.datadoc docs/data-dictionary.md

lab: $(SETUP) ## start JupyterLab in the project environment, with the project's kernel
	$(VENV)/bin/jupyter lab --notebook-dir=. --MappingKernelManager.default_kernel_name=issp-research

lint: $(SETUP) ## check style with ruff (src, tests, notebooks)
	$(VENV)/bin/ruff check src tests notebooks scripts benchmarks

notebook: $(SETUP) ## create a notebook from the template: make notebook NAME=05_my_analysis
	@test -n "$(NAME)" || { echo "error: give a name, e.g. make notebook NAME=05_my_analysis" >&2; exit 2; }
	@$(PY) -m issp_research.notebooks new $(NAME)

help: ## list the targets
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-20s %s\n", $$1, $$2}'

setup: $(SETUP) ## create .venv from requirements.lock and register the project's Jupyter kernel

$(SETUP): requirements.lock pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "error: Python 3.11 or newer is needed (PYTHON=$(PYTHON))" >&2; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps -r requirements.lock
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name issp-research --display-name "Python (issp-research)" >/dev/null
	@touch $@

# A notebook's stamp holds the sha256 of everything its outputs depend on; it is rewritten only
# when that changes, so make reruns exactly the notebooks whose inputs changed. One process stamps
# them all (and checks the parameters file) before anything runs; a notebook's run restamps the
# notebooks after it. The empty recipe makes make look at each stamp's time again.
.make/stamps: FORCE | $(SETUP)
	@$(BUILD) stamp-all

.make/%.stamp: .make/stamps
	@:

analysis/executed/%.ipynb: .make/%.stamp
	@$(BUILD) run $*

# Each notebook's stamp is taken after the notebook before it has run (it may read its outputs).
chain = $(if $(word 2,$(1)),$(eval .make/$(word 2,$(1)).stamp: | analysis/executed/$(word 1,$(1)).ipynb)$(call chain,$(wordlist 2,$(words $(1)),$(1))))
$(call chain,$(NOTEBOOKS))

FORCE:
# Stamps are never intermediate files to delete.
.SECONDARY:

# The sensitivity analysis: the models notebook once per worth definition and model specification
# listed under `sensitivity:` in the parameters file, in parallel under make -j, then a comparison.
sensitivity: $(SETUP) analysis/executed/01_clean.ipynb ## rerun the models under every worth definition and specification in the parameters file, then compare them
	@$(MAKE) --no-print-directory sensitivity-runs RUNS="$$($(BUILD) sensitivity-runs)"

sensitivity-runs: $(RUNS:%=analysis/executed/sensitivity/%.ipynb)
	@$(PY) -m issp_research.sensitivity --params $(PARAMS)

.make/sensitivity/%.stamp: FORCE | $(SETUP)
	@$(BUILD) stamp sensitivity/$*

analysis/executed/sensitivity/%.ipynb: .make/sensitivity/%.stamp
	@$(BUILD) run sensitivity/$*

test: $(SETUP) ## run the unit tests and check that the notebooks reproduce their stored outputs (nbval)
	$(PY) -m pytest tests notebooks --nbval --nbval-current-env --nbval-sanitize-with tests/nbval_sanitize.cfg

refresh-references: all ## copy the outputs of the last build into notebooks/ (after an intended change)
	$(PY) -m issp_research.notebooks refresh $(NOTEBOOKS)

demo-data: $(SETUP) ## regenerate the synthetic demo data in data/raw from the committed seed and config
	$(VENV)/bin/issp-research simulate --seed 2021 --scale 1 --out data/raw

bench: $(SETUP) ## measure the pipeline's cost against its floor, rebuilds and national scale (benchmarks/)
	$(PY) benchmarks/bench.py

lock: ## re-resolve requirements.lock from pyproject.toml (needs uv: pip install uv)
	uv pip compile pyproject.toml --python-version 3.11 --generate-hashes -o requirements.lock -q --custom-compile-command "make lock"

clean: ## delete generated outputs (never data/raw; committed outputs come back with git checkout)
	rm -rf analysis/executed .make data/processed analysis/figures analysis/tables analysis/results analysis/MANIFEST.json
