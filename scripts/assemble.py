"""Build one raw split (train/valid/test) of a corpus by concatenating source parts, or (--out-ref)
one further reference (2..n) of a multi-reference test set the same way.

Checks every pair on the way in, so that bad data is reported once, here, with the file and
line: unequal line counts, invalid UTF-8, and (for valid/test, which cannot be cleaned) empty
or over-long lines. Training data keeps empty/long lines for the cleaning step to drop. A
reference must have exactly as many lines as its part's source side.
"""
from __future__ import annotations

import argparse
import json

from common import PipelineError, check_line, read_lines, run_main, write_lines


def selected_numbers(count: int, every: int | None, invert: bool) -> list[int]:
    """1-based line numbers kept: every N-th line (N, 2N, ...) or, with invert, all the others."""
    if not every:
        return list(range(1, count + 1))
    return [i for i in range(1, count + 1) if (i % every == 0) != invert]


def assemble(parts: list[dict], strict: bool, max_chars: int) -> tuple[list[str], list[str]]:
    """Concatenate the parts; strict checks apply to the selected lines only (a held-out valid
    set drawn from training text must not fail on a training line it does not keep)."""
    src_out, tgt_out = [], []
    for part in parts:
        src, tgt = read_lines(part["src"]), read_lines(part["tgt"])
        if len(src) != len(tgt):
            raise PipelineError(
                f"line-count mismatch: {part['src']} has {len(src)} lines, {part['tgt']} has {len(tgt)}")
        for number in selected_numbers(len(src), part.get("every"), part.get("invert", False)):
            for path, lines in ((part["src"], src), (part["tgt"], tgt)):
                if strict:
                    check_line(path, number, lines[number - 1], max_chars, allow_empty=False)
            src_out.append(src[number - 1])
            tgt_out.append(tgt[number - 1])
    if not src_out:
        raise PipelineError("the split is empty after selection: " + ", ".join(p["src"] for p in parts))
    return src_out, tgt_out


def assemble_reference(parts: list[dict], strict: bool, max_chars: int) -> list[str]:
    """One further reference of the test set: each part's reference file ({src, ref, every?, invert?})
    must match its source side line for line; the part's line selection applies to it as to the source."""
    out = []
    for part in parts:
        src, ref = read_lines(part["src"]), read_lines(part["ref"])
        if len(src) != len(ref):
            raise PipelineError(f"line-count mismatch: reference {part['ref']} has {len(ref)} lines, "
                                f"its source {part['src']} has {len(src)}")
        for number in selected_numbers(len(ref), part.get("every"), part.get("invert", False)):
            if strict:
                check_line(part["ref"], number, ref[number - 1], max_chars, allow_empty=False)
            out.append(ref[number - 1])
    if not out:
        raise PipelineError("the reference is empty after selection: " + ", ".join(p["ref"] for p in parts))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--parts", required=True, help="JSON list of {src, tgt, every?, invert?}")
    parser.add_argument("--strict", action="store_true", help="valid/test: no empty or over-long lines")
    parser.add_argument("--max-chars", type=int, default=10000)
    parser.add_argument("--out-src")
    parser.add_argument("--out-tgt")
    parser.add_argument("--out-ref", help="assemble a further test reference: --parts holds {src, ref, every?, invert?}")
    args = parser.parse_args()
    if args.out_ref:
        ref = assemble_reference(json.loads(args.parts), args.strict, args.max_chars)
        write_lines(args.out_ref, ref)
        print(f"assemble: {len(ref)} reference lines -> {args.out_ref}")
        return
    if not (args.out_src and args.out_tgt):
        parser.error("--out-src and --out-tgt are required (or --out-ref)")
    src, tgt = assemble(json.loads(args.parts), args.strict, args.max_chars)
    write_lines(args.out_src, src)
    write_lines(args.out_tgt, tgt)
    print(f"assemble: {len(src)} pairs -> {args.out_src}, {args.out_tgt}")


if __name__ == "__main__":
    run_main(main)
