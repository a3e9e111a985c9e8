"""Train a fairseq model from its natpipe settings; resumable.

Checkpoints live in <system>/checkpoints/ and are not Snakemake outputs, so a killed or
failed job keeps them and a rerun resumes from checkpoint_last.pt. The declared output is a
small JSON written only after fairseq finished.

With `train.bleu_at`, fairseq runs in legs that stop at those updates; after each leg the
valid set is decoded with the model's own decoding and its tokenized BLEU joins the learning
curve (inverse-sqrt, Adam and the data iterator resume exactly, so the legs make the same run).
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from common import check_checkpoint, job_environment, run_main, usable_gpus, write_json
from evaluate import tokenized_bleu
from fairseq_args import decode_args, remove_bpe_flag, run_fairseq, train_args
from translate import parse_hypotheses
from natpipe.config import resolve_model
from natpipe.curves import parse_training_log
from natpipe.registry import system_of


def checkpoint_updates(path: Path) -> int:
    """Updates done by a fairseq checkpoint (0 when there is none)."""
    if not path.exists():
        return 0
    import torch

    state = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    return int(state["optimizer_history"][-1]["num_updates"])


def valid_pairs(lines) -> tuple[list[str], list[str]]:
    """(hypotheses, references) in sentence order from fairseq-generate's output over a split."""
    refs = {}
    for line in lines:
        tag, _, text = line.rstrip("\n").partition("\t")
        if tag.startswith("T-") and tag[2:].isdigit():
            refs[int(tag[2:])] = text.strip()
    return parse_hypotheses(lines, len(refs)), [refs[i] for i in range(len(refs))]


def valid_bleu(model: dict, args, gpus: int) -> float:
    """Tokenized BLEU (BPE removed, no compound split) of checkpoint_last on the valid set."""
    model = resolve_model(model)
    own = {**model, "generate": system_of(model).standalone_decoding(model["generate"])}
    out = Path(args.save_dir) / "valid_decoding.txt"
    with open(out, "w", encoding="utf-8") as handle:
        run_fairseq("generate", decode_args(own, args.data_bin, args.src, args.tgt,
                                            str(Path(args.save_dir) / "checkpoint_last.pt"), "valid", gpus,
                                            remove_bpe_flag(args.subword)), args.threads, stdout=handle)
    hyps, refs = valid_pairs(out.read_text(encoding="utf-8").splitlines())
    return round(tokenized_bleu(hyps, refs, compound=False).score, 2)


def train_in_legs(model: dict, args, gpus: int, inputs: dict, log: Path) -> dict[int, float]:
    """fairseq-train up to each update of train.bleu_at, then to max_update; valid BLEU after each
    stop. Done stops are kept in bleu_at.json of the save dir, so a resumed job skips them."""
    max_update = model["train"]["max_update"]
    stops = sorted(u for u in model["train"].get("bleu_at", []) if u <= max_update)
    record = Path(args.save_dir) / "bleu_at.json"
    bleu = {int(u): b for u, b in json.loads(record.read_text()).items()} if record.exists() else {}
    # on the CPU (none granted, or the fallback) loader workers would take the training's own cores
    base = train_args(model, args.data_bin, args.src, args.tgt, args.save_dir, gpus, args.distill_bin, inputs,
                      loader_workers=args.loader_workers if gpus > 0 else 0)
    for stop in sorted({*stops, max_update}):
        if stop in bleu:
            continue
        # fairseq does one more update when it resumes at its --max-update: skip a finished leg
        if checkpoint_updates(Path(args.save_dir) / "checkpoint_last.pt") < stop:
            run_fairseq("train", base + ["--max-update", str(stop)], args.threads, tee=log)
        if stop in stops:
            bleu[stop] = valid_bleu(model, args, gpus)
            print(f"[train] valid BLEU {bleu[stop]} at update {stop}", flush=True)
            write_json(record, bleu)
    return bleu


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
    parser.add_argument("--loader-workers", type=int, default=0, help="fairseq data-loader workers per process")
    parser.add_argument("--subword", default="bpe", help="subword method of the data (bpe | sentencepiece), "
                        "removed before the BLEU of train.bleu_at")
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
    bleu = train_in_legs(model, args, gpus, inputs, log)
    curve = parse_training_log(log.read_text(encoding="utf-8").splitlines())
    for point in curve:
        if point["update"] in bleu:
            point["valid_bleu"] = bleu[point["update"]]
    write_json(args.done, {"resumed": resumed, "wall_seconds": round(time.time() - start, 1),
                           "save_dir": args.save_dir, **job_environment(args.gpus, gpus), "model": model,
                           "curve": curve})


if __name__ == "__main__":
    run_main(main)
