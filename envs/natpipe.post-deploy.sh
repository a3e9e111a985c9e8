#!/usr/bin/env bash
# Run by Snakemake after creating envs/natpipe.yaml: fairseq's C++ extensions must be built
# against the env's torch, without build isolation (which would fetch another torch); KenLM's
# lmplz/build_binary (the Fully-NAT beam-search LM) are built from source into the env.
set -euo pipefail
python -m pip install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
bash "$(dirname "$0")/../scripts/build_lmplz.sh" "$CONDA_PREFIX/bin"
