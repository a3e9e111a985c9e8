"""Sequence-level knowledge distillation of a training set, in independent shards.

`shard` translates one contiguous range of the (subword-segmented) training source with the
teacher's beam search; shards share nothing, so each is one job (a SLURM array element) and a
rerun redoes only missing shards. `merge` puts the shards back in the original order and
verifies the result: as many lines as the raw corpus, every source line unchanged, and empty
hypotheses replaced by the raw target (counted, never silent). `external` takes a distilled
corpus produced elsewhere through the same checks.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import time
from pathlib import Path

import sacrebleu

from common import (PipelineError, check_checkpoint, job_environment, read_lines, run_main,
                    sha256_file, usable_gpus, write_json, write_lines)
from fairseq_args import decode_args, run_fairseq
from subword import desegment
from translate import parse_hypotheses

EMPTY_RULE = "an empty teacher output is replaced by the raw target of the same pair"


def shard_range(n_lines: int, num_shards: int, shard: int) -> tuple[int, int]:
    """[start, end) of shard `shard`: contiguous, sizes differ by at most one line."""
    if not 0 <= shard < num_shards:
        raise PipelineError(f"shard {shard} is outside 0..{num_shards - 1}")
    base, extra = divmod(n_lines, num_shards)
    start = shard * base + min(shard, extra)
    return start, start + base + (1 if shard < extra else 0)


def parse_sources(lines) -> dict[int, str]:
    pattern = re.compile(r"^S-(\d+)\t(.*)$")
    return {int(m.group(1)): m.group(2) for m in map(pattern.match, lines) if m}


def check_echoed_sources(expected: list[str], echoed: dict[int, str], where: str) -> None:
    """fairseq echoes each input line it translated; any mismatch means misaligned output."""
    for i, line in enumerate(expected):
        got = echoed.get(i)
        if got is None or (got != line and "<unk>" not in got):
            raise PipelineError(f"{where}: line {i + 1} of the shard came back as {got!r}, sent {line!r}")


def translate_shard(args) -> None:
    """fairseq-generate over the shard's source lines: the whole shard is length-sorted into
    batches, which decodes faster than streaming input.

    The lines are not binarized by a separate fairseq-preprocess run (a second Python + fairseq
    start-up per shard, several seconds): fairseq-generate reads them as a raw-text dataset
    (--dataset-impl raw), which encodes each line with the raw corpus's dictionary exactly as
    fairseq-preprocess --srcdict does (Dictionary.encode_line, EOS appended, same sizes, hence
    the same batches and the same output)."""
    check_checkpoint(args.checkpoint)
    sources = read_lines(args.source)
    start, end = shard_range(len(sources), args.num_shards, args.shard)
    shard_src = sources[start:end]
    out = Path(args.out)
    work = out.with_name(out.name + ".work")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    gpus = usable_gpus(args.gpus, args.cpu_fallback)
    began = time.time()
    bin_dir = work / "bin"
    bin_dir.mkdir()
    write_lines(bin_dir / f"test.{args.src}-{args.tgt}.{args.src}", shard_src)
    for lang in (args.src, args.tgt):
        shutil.copyfile(f"{args.data_bin}/dict.{lang}.txt", bin_dir / f"dict.{lang}.txt")
    raw_output = work / "fairseq.out"
    with open(raw_output, "w", encoding="utf-8") as handle:
        run_fairseq("generate", decode_args(json.loads(args.teacher_model), str(bin_dir), args.src, args.tgt,
                                            args.checkpoint, "test", gpus, remove_bpe=None)
                    + ["--dataset-impl", "raw"], args.threads, stdout=handle)
    seconds = time.time() - began
    output = raw_output.read_text(encoding="utf-8").splitlines()
    check_echoed_sources(shard_src, parse_sources(output), f"shard {args.shard}")
    hyps = parse_hypotheses(output, len(shard_src))
    write_json(args.stats, {"shard": args.shard, "num_shards": args.num_shards, "first_line": start + 1,
                            "lines": len(shard_src), "seconds": round(seconds, 2),
                            "sentences_per_second": round(len(shard_src) / max(seconds, 1e-9), 2),
                            **job_environment(args.gpus, gpus)})
    write_lines(out, hyps)  # written last: its presence marks the shard done
    shutil.rmtree(work)


def merge_shards(sources: list[str], raw_targets: list[str], shard_hyps: list[list[str]]) -> tuple[list[str], int]:
    """Concatenate shard outputs in shard order, replacing empty hypotheses (EMPTY_RULE)."""
    merged = [line for shard in shard_hyps for line in shard]
    if len(merged) != len(sources) or len(raw_targets) != len(sources):
        raise PipelineError(f"distilled corpus has {len(merged)} lines, the raw corpus {len(sources)} "
                            f"sources and {len(raw_targets)} targets")
    empty = [i for i, line in enumerate(merged) if not line.strip()]
    for i in empty:
        merged[i] = raw_targets[i]
    return merged, len(empty)


def corpus_stats(raw_targets, distilled, method, sample) -> dict:
    """Distilled-vs-raw BLEU on the first `sample` pairs and the average length ratio."""
    raw = [desegment(line, method) for line in raw_targets[:sample]]
    dis = [desegment(line, method) for line in distilled[:sample]]
    ratios = [len(d.split()) / max(len(r.split()), 1) for r, d in zip(raw_targets, distilled)]
    return {"bleu_distilled_vs_raw": round(sacrebleu.corpus_bleu(dis, [raw], tokenize="none").score, 2),
            "bleu_sample_pairs": len(raw),
            "length_ratio_distilled_over_raw": round(sum(ratios) / max(len(ratios), 1), 4)}


def merge(args) -> None:
    sources, raw_targets = read_lines(args.source), read_lines(args.raw_target)
    shard_hyps = [read_lines(path) for path in args.shards]
    distilled, replaced = merge_shards(sources, raw_targets, shard_hyps)
    shard_stats = [json.loads(Path(p).read_text(encoding="utf-8")) for p in args.shard_stats or []]
    expected_start = 1
    for stats in shard_stats:
        if stats["first_line"] != expected_start:
            raise PipelineError(f"shard {stats['shard']} starts at line {stats['first_line']}, expected {expected_start}")
        expected_start += stats["lines"]
    write_lines(args.out_src, sources)
    write_lines(args.out_tgt, distilled)
    stats = {"teacher": args.teacher, "pairs": len(sources), "shards": len(shard_stats),
             "external": not shard_stats,
             "empty_hypotheses_replaced": replaced, "empty_rule": EMPTY_RULE,
             "seconds_per_shard": [s["seconds"] for s in shard_stats],
             "seconds_per_1k_sentences": round(1000 * sum(s["seconds"] for s in shard_stats) / max(len(sources), 1), 2),
             **corpus_stats(raw_targets, distilled, args.subword, args.stats_sample)}
    write_json(args.stats, stats)
    print(f"distill: merged {len(shard_hyps)} shards, {len(sources)} pairs, {replaced} empty hypotheses replaced")


def external(args) -> None:
    """Check a provided distilled corpus against the cleaned training source, then segment it."""
    for path, expected in ((args.src, args.sha256_src), (args.tgt, args.sha256_tgt)):
        actual = sha256_file(path) if Path(path).is_file() else "missing"
        if actual != expected:
            raise PipelineError(f"{path}: sha256 {actual} does not match distill.external ({expected})")
    ours, theirs, targets = read_lines(args.clean_source), read_lines(args.src), read_lines(args.tgt)
    if len(theirs) != len(ours) or len(targets) != len(ours):
        raise PipelineError(f"{args.src}/{args.tgt} have {len(theirs)}/{len(targets)} lines, the cleaned "
                            f"training source {args.clean_source} has {len(ours)}")
    for number, (a, b) in enumerate(zip(ours, theirs), start=1):
        if a != b:
            raise PipelineError(f"{args.src}:{number}: differs from {args.clean_source}:{number}")
    from subword import segmenter

    segment = segmenter(args.subword, args.subword_model)
    write_lines(args.out, (segment(line) for line in targets))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    shard = sub.add_parser("shard", help="translate one shard of the training source")
    for flag in ("--source", "--data-bin", "--checkpoint", "--src", "--tgt", "--teacher-model", "--out", "--stats"):
        shard.add_argument(flag, required=True)
    shard.add_argument("--shard", type=int, required=True)
    shard.add_argument("--num-shards", type=int, required=True)
    shard.add_argument("--gpus", type=int, default=0)
    shard.add_argument("--cpu-fallback", action="store_true", help="run on the CPU if torch cannot use the GPUs")
    shard.add_argument("--threads", type=int, default=1)
    merged = sub.add_parser("merge", help="merge shards in order and verify")
    for flag in ("--source", "--raw-target", "--out-src", "--out-tgt", "--stats", "--teacher"):
        merged.add_argument(flag, required=True)
    merged.add_argument("--shards", nargs="+", required=True)
    merged.add_argument("--shard-stats", nargs="*", help="absent for an external corpus")
    merged.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    merged.add_argument("--stats-sample", type=int, default=1000)
    ext = sub.add_parser("external", help="check and segment an externally distilled corpus")
    for flag in ("--src", "--tgt", "--sha256-src", "--sha256-tgt", "--clean-source", "--subword-model", "--out"):
        ext.add_argument(flag, required=True)
    ext.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    args = parser.parse_args()
    {"shard": translate_shard, "merge": merge, "external": external}[args.command](args)


if __name__ == "__main__":
    run_main(main)
