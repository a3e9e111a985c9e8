"""HRT §4 synthetic experiments: how much AT context makes one-shot CMLM as good as CMLM10?

The teacher's beam-5 test translations are re-segmented into the model's subword units, masked
(HEAD / TAIL / RANDOM at each p_mask with N_mask = max(1, floor(N p)); RANDOM once per seed;
CHUNK with each k), and the CMLM fills every mask in one decoder pass (1 iteration, beam 1),
keeping the unmasked tokens verbatim. Each point is scored with the same BLEU as the tables.
Writes one CSV row per (strategy, p_mask | k, seed) plus RANDOM's seed average, and the
Figure 2 analogue with the reference row's BLEU (the papers' CMLM10, beam 5) dashed.
"""
from __future__ import annotations

import argparse
import json
import random
import sys

import pandas as pd


from common import PipelineError, atomic_output, read_lines, run_main
from evaluate import add_moses_arguments, moses_settings, read_references, score_lines
from natpipe.registry import system_of
from fairseq_args import generate_args, remove_bpe_flag
from subword import segmenter

from natpipe.blocks.masking import mask_positions

COLUMNS = ["strategy", "p_mask", "chunk_size", "seed", "mask_rate", "n_masked", "n_tokens", "bleu_tok", "sacrebleu"]


def masking_plan(p_masks: list[float], seeds: list[int], chunk_sizes: list[int]) -> list[dict]:
    plan = [{"strategy": s, "p_mask": p, "chunk_size": None, "seed": None} for s in ("head", "tail") for p in p_masks]
    plan += [{"strategy": "random", "p_mask": p, "chunk_size": None, "seed": seed} for p in p_masks for seed in seeds]
    return plan + [{"strategy": "chunk", "p_mask": 1 - 1 / k, "chunk_size": k, "seed": None} for k in chunk_sizes]


def positions_for(point: dict, targets: list[list[int]]) -> list[list[int]]:
    """Masked positions per sentence; RANDOM draws from one generator per (seed, p) point."""
    rng = random.Random(f"{point['seed']}-{point['p_mask']}") if point["strategy"] == "random" else None
    return [mask_positions(point["strategy"], len(t), point["p_mask"], k=point["chunk_size"] or 2, rng=rng)
            if t else [] for t in targets]


def fill_all(system, targets: list[list[int]], plan: list[dict], batch_size: int):
    """(filled token ids, masked positions) for every plan point, encoding each source batch once."""
    from natpipe.decoding.masked_fill import encode, fill_masks

    masks = [positions_for(point, targets) for point in plan]
    filled = [[None] * len(targets) for _ in plan]
    model = system.models[0]
    for start in range(0, len(targets), batch_size):
        sample = system.batch(list(range(start, min(start + batch_size, len(targets)))))
        order = sample["id"].tolist()  # fairseq's collater sorts by source length
        encoder_out = encode(model, sample)
        batch_targets = [targets[i] for i in order]
        for p, point_masks in enumerate(masks):
            outputs = fill_masks(model, encoder_out, batch_targets, [point_masks[i] for i in order],
                                 system.tgt_dict)
            for i, out in zip(order, outputs):
                filled[p][i] = out
        print(f"synthetic: {min(start + batch_size, len(targets))}/{len(targets)} sentences", file=sys.stderr,
              flush=True)
    return filled, masks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hyp", required=True, help="the AT teacher's test translations (tokenized, no subwords)")
    parser.add_argument("--model", required=True, help="JSON of the CMLM's models.<name>")
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--data-bin", required=True)
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    parser.add_argument("--subword-model", required=True)
    parser.add_argument("--ref-tok", required=True, nargs="+", help="Moses-tokenized reference(s), reference 1 first")
    parser.add_argument("--ref", required=True, nargs="+", help="raw reference(s), in the order of --ref-tok")
    add_moses_arguments(parser)
    parser.add_argument("--p-mask", type=float, nargs="+", required=True)
    parser.add_argument("--seeds", type=int, nargs="+", required=True)
    parser.add_argument("--chunk-sizes", type=int, nargs="*", default=[])
    parser.add_argument("--reference-hyp", help="test translations of the row drawn dashed (CMLM10)")
    parser.add_argument("--reference-name", default="reference")
    parser.add_argument("--max-sentences", type=int, help="only the first N test sentences (all by default)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--figure", required=True)
    args = parser.parse_args()
    import torch

    from natpipe.decoding.systems import load_system

    torch.set_num_threads(args.threads)
    model = json.loads(args.model)
    if not system_of(model).fills_masks:
        raise PipelineError(f"synthetic.cmlm: a model of kind {model['kind']} cannot fill masks (use a cmlm)")
    system = load_system(generate_args(model, args.data_bin, args.src, args.tgt, args.checkpoint, args.subword,
                                       "test", gpus=0))
    hyps = read_lines(args.hyp)
    if len(hyps) != len(system.dataset):
        raise PipelineError(f"{args.hyp}: {len(hyps)} lines but the test set has {len(system.dataset)} sentences")
    refs_tok, refs_raw = read_references(args.hyp, len(hyps), args.ref_tok), read_references(args.hyp, len(hyps), args.ref)
    n = min(len(hyps), args.max_sentences or len(hyps))  # the first n sentences, for every point and the dashed line
    hyps, refs_tok, refs_raw = hyps[:n], [r[:n] for r in refs_tok], [r[:n] for r in refs_raw]
    segment = segmenter(args.subword, args.subword_model)
    targets = [system.tgt_dict.encode_line(segment(h), add_if_not_exist=False, append_eos=False).tolist()
               if h.strip() else [] for h in hyps]
    plan = masking_plan(args.p_mask, args.seeds, args.chunk_sizes)
    filled, masks = fill_all(system, targets, plan, args.batch_size)
    bpe = remove_bpe_flag(args.subword)
    records = []
    for point, outputs, point_masks in zip(plan, filled, masks):
        lines = [system.string(tokens, bpe) for tokens in outputs]
        bleu = score_lines(lines, refs_tok, refs_raw, args.tgt, moses_settings(args))
        n_masked, n_tokens = sum(map(len, point_masks)), sum(map(len, targets))
        records.append({**point, "mask_rate": n_masked / max(n_tokens, 1), "n_masked": n_masked,
                        "n_tokens": n_tokens, "bleu_tok": bleu["bleu_tok"], "sacrebleu": bleu["sacrebleu"]})
        print(f"synthetic: {point['strategy']} p={point['p_mask']:.2f} k={point['chunk_size']} "
              f"seed={point['seed']}: BLEU {bleu['bleu_tok']}", file=sys.stderr, flush=True)
    table = pd.DataFrame(records, columns=COLUMNS)
    curves = with_random_average(table)
    reference = None
    if args.reference_hyp:
        lines = read_lines(args.reference_hyp)[:n]
        bleu = score_lines(lines, refs_tok, refs_raw, args.tgt, moses_settings(args))
        reference = {"bleu_tok": bleu["bleu_tok"], "label": args.reference_name}
        print(f"synthetic: dashed line {args.reference_name} BLEU {bleu['bleu_tok']} on the same {n} sentences "
              f"({args.reference_hyp})", file=sys.stderr)
    from figures import masking_figure

    drawn = (curves["strategy"] != "random") | (curves["seed"] == "mean")
    if reference:  # the dashed line's number, on the same sentences, as a row of its own
        curves = pd.concat([curves, pd.DataFrame([{"strategy": f"reference:{reference['label']}", "seed": None,
                                                   "n_tokens": None, "bleu_tok": reference["bleu_tok"]}])],
                           ignore_index=True)
    with atomic_output(args.csv) as handle:
        curves.to_csv(handle, index=False)
    masking_figure(curves[drawn.reindex(curves.index, fill_value=False)], reference, args.figure)


def with_random_average(table: pd.DataFrame) -> pd.DataFrame:
    """Append RANDOM's mean over seeds per p_mask (seed = 'mean'), the points the figure draws."""
    random_rows = table[table["strategy"] == "random"]
    mean = random_rows.groupby("p_mask", as_index=False).agg(
        mask_rate=("mask_rate", "mean"), n_masked=("n_masked", "mean"), n_tokens=("n_tokens", "first"),
        bleu_tok=("bleu_tok", "mean"), sacrebleu=("sacrebleu", "mean"))
    mean = mean.assign(strategy="random", chunk_size=None, seed="mean")[COLUMNS]
    table = table.astype({"seed": "object"})
    return pd.concat([table, mean], ignore_index=True)


if __name__ == "__main__":
    run_main(main)
