"""Translate a binarized split with fairseq-generate and write hypotheses in corpus order.

fairseq-generate prints hypotheses in batch order; they are put back in sentence-id order and
their count is checked, so that a lost or duplicated sentence is an error, not a silent shift
of every later line against the reference.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time

from common import (PipelineError, atomic_path, check_checkpoint, job_environment, read_lines,
                    run_main, usable_gpus, write_json, write_lines)
from fairseq_args import generate_args, remove_bpe_flag, run_fairseq

_HYPOTHESIS = re.compile(r"^H-(\d+)\t(\S+)\t?(.*)$")


def parse_hypotheses(lines, expected: int) -> list[str]:
    """Best hypothesis per sentence id from fairseq-generate output, in id order."""
    best: dict[int, str] = {}
    for line in lines:
        match = _HYPOTHESIS.match(line.rstrip("\n"))
        if match and int(match.group(1)) not in best:  # the first H- line of an id is the best
            best[int(match.group(1))] = match.group(3).strip()
    missing = [i for i in range(expected) if i not in best]
    if missing or len(best) != expected:
        raise PipelineError(f"fairseq-generate returned {len(best)} of {expected} hypotheses "
                            f"(missing ids: {missing[:10]})")
    return [best[i] for i in range(expected)]


def translate_ctranslate2(model: dict, args, gpus: int, handle) -> None:
    """A CTranslate2 row: the converted model decodes the split (natpipe/decoding/ctranslate2.py)
    and its hypotheses are printed as fairseq-generate's H- lines (score, subword units removed)."""
    import torch

    from natpipe.decoding.ctranslate2 import load_ctranslate2_system

    torch.set_num_threads(args.threads)
    system = load_ctranslate2_system(model, args.data_bin, args.src, args.tgt, args.subset, args.threads)
    device = "cuda:0" if gpus > 0 else "cpu"
    if not system.supports(device):
        raise PipelineError(f"CTranslate2 compute type {system.compute_type} does not run on this job's {device} "
                            f"(ctranslate2.cpu / ctranslate2.gpu in the config)")
    hypotheses = system.to(device).decode()
    for sentence_id in sorted(hypotheses):
        tokens, score = hypotheses[sentence_id]
        handle.write(f"H-{sentence_id}\t{score:.4f}\t{system.string(tokens, remove_bpe_flag(args.subword))}\n")
    print(f"ctranslate2 ({system.compute_type}, {device}): {len(hypotheses)} sentences", file=sys.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="JSON of models.<name>")
    parser.add_argument("--data-bin", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    parser.add_argument("--subset", default="test")
    parser.add_argument("--reference", required=True, help="raw reference: fixes the expected count")
    parser.add_argument("--gpus", type=int, default=0)
    parser.add_argument("--cpu-fallback", action="store_true", help="run on the CPU if torch cannot use the GPUs")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--raw-output", required=True, help="fairseq-generate's full output")
    parser.add_argument("--hyp", required=True)
    parser.add_argument("--stats", required=True)
    args = parser.parse_args()
    model = json.loads(args.model)
    check_checkpoint(args.checkpoint)
    gpus = usable_gpus(args.gpus, args.cpu_fallback)
    start = time.time()
    with atomic_path(args.raw_output) as tmp, open(tmp, "w", encoding="utf-8") as handle:
        if model["generate"].get("engine") == "ctranslate2":
            translate_ctranslate2(model, args, gpus, handle)
        else:
            run_fairseq("generate", generate_args(model, args.data_bin, args.src, args.tgt, args.checkpoint,
                                                  args.subword, args.subset, gpus),
                        args.threads, stdout=handle)
    wall = time.time() - start
    with open(args.raw_output, encoding="utf-8") as handle:
        hyps = parse_hypotheses(handle, len(read_lines(args.reference)))
    write_lines(args.hyp, hyps)
    write_json(args.stats, {"n_sentences": len(hyps), "wall_seconds_with_loading": round(wall, 2),
                            "beam": model.get("generate", {}).get("beam", 5),
                            **job_environment(args.gpus, gpus)})


if __name__ == "__main__":
    run_main(main)
