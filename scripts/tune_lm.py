"""Grid-search Eq. (6)'s alpha (LM weight) and beta (weight of log|y|) for a Fully-NAT CTC beam
search row on the valid set, as the paper does; writes the best pair and the whole grid.

The decoder runs once per batch; only the beam search is repeated per grid point, so the
grid costs little more than one decoding of the valid set per point. BLEU here is computed on
subword-merged, Moses-tokenized text: it only ranks the grid points.
"""
from __future__ import annotations

import argparse
import json
import sys
import time

import sacrebleu


from common import run_main, write_json
from fairseq_args import generate_args


def best_point(grid: list[dict]) -> dict:
    """Highest BLEU; ties go to the earliest point of the grid (smaller weights first)."""
    return max(grid, key=lambda point: (point["bleu"], -grid.index(point)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", required=True, help="JSON of the row (its generate has lm: true)")
    parser.add_argument("--data-bin", required=True)
    parser.add_argument("--checkpoint", required=True)
    parser.add_argument("--lm", required=True, help="KenLM binary over the target subword units")
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    parser.add_argument("--alpha-grid", type=float, nargs="+", required=True)
    parser.add_argument("--beta-grid", type=float, nargs="+", required=True)
    parser.add_argument("--max-sentences", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()

    import torch

    from natpipe.blocks.ctc_beam import CTCBeamSearch
    from natpipe.decoding.systems import load_system

    torch.set_num_threads(args.threads)
    model = json.loads(args.model)
    generate = model.setdefault("generate", {})
    beam = generate["ctc_beam"]  # > 1: the config check requires it of every row with lm
    # the decoder's log-probabilities from the prior mean; the search is redone per grid point
    model["generate"] = {**generate, "lm": False, "npd": 1, "ctc_beam": 1}
    system = load_system(generate_args(model, args.data_bin, args.src, args.tgt, args.checkpoint, args.subword,
                                       "valid", 0))
    ids = list(range(len(system.dataset)))[:args.max_sentences]
    bpe = "subword_nmt" if args.subword == "bpe" else "sentencepiece"
    references = [system.string(system.dataset[i]["target"][:-1].tolist(), bpe) for i in ids]
    start = time.time()
    by_id = {}  # sentence id -> T x V log-probabilities on CPU
    for first in range(0, len(ids), args.batch_size):
        sample = system.batch(ids[first:first + args.batch_size])
        lprobs, mask = system.generator.log_probs(sample)
        for row, (sentence, length) in enumerate(zip(sample["id"].tolist(), mask.sum(1).tolist())):
            by_id[sentence] = lprobs[row, :length].cpu()
    log_probs = [by_id[i] for i in ids]
    print(f"[tune_lm] decoder log-probs of {len(ids)} valid sentences in {time.time() - start:.1f}s",
          file=sys.stderr, flush=True)
    symbols = list(system.tgt_dict.symbols)
    blank = system.models[0].blank
    grid = []
    for alpha in args.alpha_grid:
        for beta in args.beta_grid:
            start = time.time()
            search = CTCBeamSearch(symbols, blank, beam=beam, lm_path=args.lm, alpha=alpha, beta=beta)
            hyps = [system.string(search.search(lp)[0].tokens, bpe) for lp in log_probs]
            bleu = sacrebleu.corpus_bleu(hyps, [references], tokenize="none").score
            grid.append({"alpha": alpha, "beta": beta, "bleu": round(bleu, 2)})
            print(f"[tune_lm] alpha={alpha} beta={beta} BLEU={bleu:.2f} ({time.time() - start:.1f}s)",
                  file=sys.stderr, flush=True)
    best = best_point(grid)
    write_json(args.out, {"alpha": best["alpha"], "beta": best["beta"], "valid_bleu": best["bleu"],
                          "beam": beam, "sentences": len(ids), "grid": grid})


if __name__ == "__main__":
    run_main(main)
