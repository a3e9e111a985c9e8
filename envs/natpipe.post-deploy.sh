#!/usr/bin/env bash
# Run by Snakemake after creating envs/natpipe.yaml: fairseq's C++ extensions must be built
# against the env's torch, without build isolation (which would fetch another torch); KenLM's
# lmplz/build_binary (the Fully-NAT beam-search LM) are built from source into the env.
# CUDA_HOME is unset for that build unless FAIRSEQ_CUDA=1: fairseq's setup.py then skips its CUDA
# extensions, which natpipe does not use (it needs the Cython ones and libbleu; ~8x faster build).
set -euo pipefail
if [[ "${FAIRSEQ_CUDA:-0}" != 1 ]]; then unset CUDA_HOME; fi
python -m pip install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
bash "$(dirname "$0")/../scripts/build_lmplz.sh" "$CONDA_PREFIX/bin"
