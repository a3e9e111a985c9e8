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

.PHONY: install run test lint dryrun

install: $(STAMP)

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

run: install
	$(RUN_ENV) snakemake --profile profiles/local
	@echo "[natpipe] results table: $(CURDIR)/results/tables/summary.md"

test: install
	$(RUN_ENV) python -m pytest -q tests

lint: install
	$(RUN_ENV) snakemake --lint

dryrun: install
	$(RUN_ENV) snakemake -n --profile profiles/local
