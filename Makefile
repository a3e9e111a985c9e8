# natpipe: `make run` installs the pinned environment into .venv and runs the default DAG;
# `make test` installs the same environment and runs the test suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
PIP := $(VPY) -m pip install --disable-pip-version-check -q -c envs/constraints.txt
# The stamp records which requirement files the venv was built from: editing any of them
# reinstalls, otherwise a second call installs nothing.
STAMP := $(VENV)/.natpipe-installed
# Rules call `python`: the venv's must come first on PATH.
RUN_ENV := PATH=$(CURDIR)/$(VENV)/bin:$$PATH
REQS := envs/constraints.txt envs/build.txt envs/requirements.txt envs/fairseq.txt
# KenLM's n-gram programs for the CTC beam-search LM (scripts/train_lm.py); the kenlm wheel
# ships only the query module, so scripts/build_lmplz.sh builds them from the pinned sdist.
KENLM_BINS := $(VENV)/bin/lmplz $(VENV)/bin/build_binary

.PHONY: install run test lint dryrun

install: $(STAMP) $(KENLM_BINS)

$(STAMP): $(REQS)
	@echo "[natpipe] installing pinned environment into $(VENV) (cold: ~4 min)"
	test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(PIP) -r envs/build.txt
	$(PIP) -r envs/requirements.txt
	# fairseq's C++ extensions build against the torch installed above; an isolated build
	# would pull a CUDA torch, and its own dependency list would pull torchaudio.
	$(PIP) --no-deps --no-build-isolation -r envs/fairseq.txt
	$(VPY) -c "import natpipe, fairseq, torch; print('[natpipe] fairseq', fairseq.__version__, 'torch', torch.__version__)"
	touch $(STAMP)

# Built after the pip steps; rebuilt when a program is missing or the build script changed.
# The Debian build packages are installed when running as root, otherwise named and required.
$(KENLM_BINS) &: scripts/build_lmplz.sh | $(STAMP)
	@echo "[natpipe] building KenLM lmplz + build_binary into $(VENV)/bin (cold: ~1-2 min)"
	PYTHON=$(VPY) bash scripts/build_lmplz.sh --force $(VENV)/bin

run: install
	$(RUN_ENV) snakemake --profile profiles/local
	@echo "[natpipe] results table: $(CURDIR)/results/tables/summary.md"

test: install
	$(RUN_ENV) python -m pytest -q tests

lint: install
	$(RUN_ENV) snakemake --lint

dryrun: install
	$(RUN_ENV) snakemake -n --profile profiles/local
