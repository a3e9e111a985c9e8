"""Filter a tokenized parallel corpus with Moses clean-corpus-n semantics.

A pair is dropped when either side is empty, has fewer than min_len or more than max_len
space-separated tokens, or when the token ratio exceeds `ratio` in either direction.
Whitespace is collapsed as clean-corpus-n does before counting.
"""
from __future__ import annotations

import argparse

from common import PipelineError, read_lines, run_main, write_json, write_lines


def keep_pair(src: str, tgt: str, min_len: int, max_len: int, ratio: float) -> bool:
    s, t = len(src.split()), len(tgt.split())
    if s == 0 or t == 0:
        return False
    if not (min_len <= s <= max_len and min_len <= t <= max_len):
        return False
    return s / t <= ratio and t / s <= ratio


def clean(src_lines, tgt_lines, min_len, max_len, ratio):
    kept_src, kept_tgt = [], []
    for s, t in zip(src_lines, tgt_lines):
        s, t = " ".join(s.split()), " ".join(t.split())
        if keep_pair(s, t, min_len, max_len, ratio):
            kept_src.append(s)
            kept_tgt.append(t)
    return kept_src, kept_tgt


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--in-src", required=True)
    parser.add_argument("--in-tgt", required=True)
    parser.add_argument("--out-src", required=True)
    parser.add_argument("--out-tgt", required=True)
    parser.add_argument("--stats", required=True)
    parser.add_argument("--min-len", type=int, default=1)
    parser.add_argument("--max-len", type=int, default=250)
    parser.add_argument("--ratio", type=float, default=1.5)
    args = parser.parse_args()
    src, tgt = read_lines(args.in_src), read_lines(args.in_tgt)
    if len(src) != len(tgt):
        raise PipelineError(f"line-count mismatch: {args.in_src} has {len(src)} lines, {args.in_tgt} has {len(tgt)}")
    kept_src, kept_tgt = clean(src, tgt, args.min_len, args.max_len, args.ratio)
    if not kept_src:
        raise PipelineError(f"cleaning removed every pair of {args.in_src} (preprocess.clean)")
    write_lines(args.out_src, kept_src)
    write_lines(args.out_tgt, kept_tgt)
    write_json(args.stats, {"input_pairs": len(src), "kept_pairs": len(kept_src),
                            "min_len": args.min_len, "max_len": args.max_len, "ratio": args.ratio})
    print(f"clean: kept {len(kept_src)}/{len(src)} pairs")


if __name__ == "__main__":
    run_main(main)
