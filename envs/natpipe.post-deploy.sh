#!/usr/bin/env bash
# Run by Snakemake after creating envs/natpipe.yaml: fairseq's C++ extensions must be built
# against the env's torch, without build isolation (which would fetch another torch).
set -euo pipefail
python -m pip install --no-deps --no-build-isolation fairseq-fixed==0.12.3.1
