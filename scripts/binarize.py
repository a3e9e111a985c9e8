"""fairseq-preprocess with a joined dictionary, written to a temporary directory and renamed,
so that an interrupted run never leaves a half-binarized data-bin behind."""
from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from common import PipelineError, run_main
from fairseq_args import run_fairseq


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--prefix", required=True, help="directory with {train,valid,test}.<lang>")
    parser.add_argument("--train-src", help="another training set (e.g. distilled): its source file")
    parser.add_argument("--train-tgt", help="... and its target file; default <prefix>/train.<lang>")
    parser.add_argument("--dict", help="reuse this joined dictionary (the distilled set must share the raw one)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    out = Path(args.out)
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    prefix = Path(args.prefix)
    train_prefix = str(prefix / "train")
    if args.train_src or args.train_tgt:
        # fairseq-preprocess wants <prefix>.<lang>: stage the two files under one prefix.
        staging = out.with_name(out.name + ".train")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for lang, path in ((args.src, args.train_src), (args.tgt, args.train_tgt)):
            (staging / f"train.{lang}").symlink_to(Path(path).resolve())
        train_prefix = str(staging / "train")
    run_fairseq("preprocess", [
        "--source-lang", args.src, "--target-lang", args.tgt,
        "--trainpref", train_prefix, "--validpref", str(prefix / "valid"),
        "--testpref", str(prefix / "test"), "--destdir", str(tmp),
        "--joined-dictionary", "--workers", str(args.workers)] + (["--srcdict", args.dict] if args.dict else []),
        threads=1)
    for name in (f"dict.{args.src}.txt", f"test.{args.src}-{args.tgt}.{args.tgt}.bin"):
        if not (tmp / name).exists():
            raise PipelineError(f"fairseq-preprocess did not write {tmp / name}")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    if args.train_src or args.train_tgt:
        shutil.rmtree(staging)
    print(f"binarize: {out}")


if __name__ == "__main__":
    run_main(main)
