# natpipe: `make run` installs the pinned environment into .venv and runs the default DAG;
# `make test` installs the same environment and runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
# The stamp records which requirement files the venv was built from: editing any of them
# reinstalls, otherwise a second call installs nothing.
STAMP := $(VENV)/.natpipe-installed
# Rules call `python`: the venv's must come first on PATH.
RUN_ENV := PATH=$(CURDIR)/$(VENV)/bin:$$PATH
REQS := envs/constraints.txt envs/build.txt envs/requirements.txt envs/fairseq.txt
# KenLM's n-gram programs for the CTC beam-search LM (scripts/train_lm.py); the kenlm wheel
# ships only the query module, so scripts/build_lmplz.sh builds them from the pinned sdist.
KENLM_BINS := $(VENV)/bin/lmplz $(VENV)/bin/build_binary

# Install options; scripts/install_env.py runs the pip steps (`scripts/install_env.py install
# --plan ...` prints them). Without any, the pinned CPU environment, as CI installs it.
#   TORCH=system   build the venv on the torch the interpreter already imports (HPC module,
#                  conda env, container): `venv --system-site-packages`, torch and numpy never
#                  installed or replaced, fairseq built against them. The venv remembers it:
#                  later `make test`/`make run` keep it; TORCH=pinned asks for the CPU torch.
#   WHEELHOUSE=DIR install offline from DIR (filled by `make wheelhouse`): pip --no-index.
#   FAIRSEQ_CUDA=1 also build fairseq's CUDA extensions. By default fairseq builds with CUDA_HOME
#                  unset: natpipe needs only its Cython and libbleu extensions, and nvcc only
#                  adds build time (without it: 121 s on a 16-core GPU node, torch 2.11).
VENV_TORCH = $(if $(wildcard $(VENV)/.natpipe-torch-system),system,pinned)
TORCH ?= $(VENV_TORCH)
WHEELHOUSE ?=
FAIRSEQ_CUDA ?=
INSTALL_FLAGS = --venv $(VENV) --python $(PYTHON) --torch $(TORCH)$(if $(WHEELHOUSE), --wheelhouse $(WHEELHOUSE))$(if $(filter 1 yes true,$(FAIRSEQ_CUDA)), --fairseq-cuda)
# A venv of the other TORCH mode: run the install step anyway; it says how to switch.
ifneq ($(TORCH),$(VENV_TORCH))
.PHONY: $(STAMP)
endif
# `make wheelhouse PY=3.12 [PLATFORM=manylinux_2_28_x86_64] [WHEELHOUSE=wheelhouse]`, on a
# machine with network: everything `make install WHEELHOUSE=...` needs but torch.
PY ?=
PLATFORM ?=

.PHONY: install run test lint dryrun wheelhouse plan

install: $(STAMP) $(KENLM_BINS)

$(STAMP): $(REQS)
	$(PYTHON) scripts/install_env.py install $(INSTALL_FLAGS)
	touch $(STAMP)

# Built after the pip steps; rebuilt when a program is missing or the build script changed.
# The Debian build packages are installed when running as root, otherwise named and required.
# With WHEELHOUSE, the kenlm sdist comes from there (no network).
$(KENLM_BINS) &: scripts/build_lmplz.sh | $(STAMP)
	@echo "[natpipe] building KenLM lmplz + build_binary into $(VENV)/bin (cold: ~1-2 min)"
	$(if $(WHEELHOUSE),NATPIPE_WHEELHOUSE=$(abspath $(WHEELHOUSE)) )PYTHON=$(VPY) bash scripts/build_lmplz.sh --force $(VENV)/bin

wheelhouse:
	$(PYTHON) scripts/install_env.py wheelhouse --python $(PYTHON) --dest $(or $(WHEELHOUSE),wheelhouse)$(if $(PY), --python-version $(PY))$(if $(PLATFORM), --platform $(PLATFORM))

run: install
	$(RUN_ENV) snakemake --profile profiles/local
	@echo "[natpipe] results table: $(CURDIR)/results/tables/summary.md"

test: install
	$(RUN_ENV) python -m pytest -q tests

lint: install
	$(RUN_ENV) snakemake --lint

dryrun: install
	$(RUN_ENV) snakemake -n --profile profiles/local

# `make plan PRESET=wmt14_en_de`: jobs and GPU-hours per job kind of a preset (no PRESET: config.yaml),
# from scripts/plan.py; PLAN_FLAGS="--models --by-table" adds every training job and each paper
# table's GPU-hours; THROUGHPUT=FILE reads the throughputs `scripts/plan.py --measure` wrote.
PRESET ?=
PLAN_FLAGS ?=
THROUGHPUT ?=
plan: install
	$(RUN_ENV) python scripts/plan.py $(if $(PRESET),--preset $(PRESET)) $(if $(THROUGHPUT),--throughput $(THROUGHPUT)) $(PLAN_FLAGS)
