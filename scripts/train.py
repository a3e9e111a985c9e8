"""Train a fairseq model from its natpipe settings; resumable.

Checkpoints live in <system>/checkpoints/ and are not Snakemake outputs, so a killed or
failed job keeps them and a rerun resumes from checkpoint_last.pt. The declared output is a
small JSON written only after fairseq finished.
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import check_checkpoint, job_environment, run_main, usable_gpus, write_json
from fairseq_args import run_fairseq, train_args
from natpipe.curves import parse_training_log


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="JSON of models.<name>")
    parser.add_argument("--data-bin", required=True, help="raw or distilled data-bin (per data strategy)")
    parser.add_argument("--distill-bin", help="distilled data-bin for data: mixdistill")
    parser.add_argument("--inputs", default="{}", help="JSON of the extra files the system's training reads, by "
                        "name (e.g. init: the checkpoint HRT's FT starts from)")
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--save-dir", required=True)
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--cpu-fallback", action="store_true", help="run on the CPU if torch cannot use the GPUs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--done", required=True, help="JSON summary written on success")
    args = parser.parse_args()
    model = json.loads(args.model)
    Path(args.save_dir).mkdir(parents=True, exist_ok=True)
    last = Path(args.save_dir) / "checkpoint_last.pt"
    resumed = last.exists()
    if resumed:
        check_checkpoint(last, "delete it to train from scratch, or copy an intact checkpoint_<epoch>_<update>.pt "
                               "of that directory over it to resume from there")
    inputs = json.loads(args.inputs)
    for path in inputs.values():
        if path.endswith(".pt"):
            check_checkpoint(path)
    gpus = usable_gpus(args.gpus, args.cpu_fallback)
    start = time.time()
    log = Path(args.save_dir) / "train.log"  # appended to by every (resumed) run: the learning curve
    run_fairseq("train", train_args(model, args.data_bin, args.src, args.tgt, args.save_dir, gpus,
                                   args.distill_bin, inputs),
                args.threads, tee=log)
    curve = parse_training_log(log.read_text(encoding="utf-8").splitlines())
    write_json(args.done, {"resumed": resumed, "wall_seconds": round(time.time() - start, 1),
                           "save_dir": args.save_dir, **job_environment(args.gpus, gpus), "model": model,
                           "curve": curve})


if __name__ == "__main__":
    run_main(main)
