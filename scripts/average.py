"""Average the last N update checkpoints of a training run into one model file."""
from __future__ import annotations

import argparse
from pathlib import Path


import torch

from common import PipelineError, atomic_path, check_checkpoint, run_main
from natpipe.checkpoints import average_checkpoints, last_update_checkpoints


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checkpoint-dir", required=True)
    parser.add_argument("--last", type=int, default=5)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    paths = last_update_checkpoints(args.checkpoint_dir, args.last)
    if not paths:
        last = Path(args.checkpoint_dir) / "checkpoint_last.pt"
        if not last.exists():
            raise PipelineError(f"{args.checkpoint_dir}: no checkpoints to average")
        paths = [last]
    for path in paths:
        done = Path(args.checkpoint_dir).parent / "train.done.json"
        check_checkpoint(path, f"delete it and retrain from the last intact checkpoint with: snakemake --forcerun {done}")
    try:
        state = average_checkpoints(paths)
    except Exception as err:  # a truncated or foreign file
        raise PipelineError(f"cannot average checkpoints in {args.checkpoint_dir}: {err}") from None
    with atomic_path(args.out) as tmp:
        torch.save(state, tmp)
    print(f"average: {len(paths)} checkpoints ({', '.join(p.name for p in paths)}) -> {args.out}")


if __name__ == "__main__":
    run_main(main)
