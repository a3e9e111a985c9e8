"""Train a token-level n-gram KenLM for CTC beam search (paper Eq. 6) and write it as a binary.

The text is BPE-segmented, space-separated target text (the distilled targets, one sentence a
line), so the LM's units are the target dictionary's symbols. Runs `lmplz -o N
--discount_fallback` (the fallback discounts keep small or repetitive corpora from failing)
into a temporary ARPA file, then `build_binary` into a temporary file that is renamed onto
--output only when both steps succeeded.

lmplz/build_binary are looked up next to this interpreter (`make install` builds them into
.venv/bin with scripts/build_lmplz.sh), then on PATH; --lmplz names lmplz explicitly, and
build_binary is then looked up next to it first.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path


from common import PipelineError, atomic_path, run_main

BUILD_HINT = ("`make install` builds it into .venv/bin with scripts/build_lmplz.sh (needs the Debian "
              "packages build-essential cmake zlib1g-dev libboost-program-options-dev "
              "libboost-system-dev libboost-thread-dev libboost-test-dev)")


def log(message: str) -> None:
    print(f"train_lm: {message}", file=sys.stderr, flush=True)


def is_program(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def find_program(name: str, explicit: str | None = None, first_dir: Path | None = None) -> Path:
    """`explicit` if given (it must exist), else `first_dir`/name, next to sys.executable, PATH."""
    if explicit is not None:
        path = Path(explicit)
        if not is_program(path):
            raise PipelineError(f"{name} not found: {path} (given with --{name.replace('_', '-')}) is not "
                                f"an executable file; {BUILD_HINT}")
        return path
    # Not resolved: a venv's bin/python is a symlink to the base interpreter.
    candidates = [d / name for d in (first_dir, Path(sys.executable).parent) if d is not None]
    for path in candidates:
        if is_program(path):
            return path
    found = shutil.which(name)
    if found:
        return Path(found)
    looked = ", ".join(str(p.parent) for p in dict.fromkeys(candidates))
    raise PipelineError(f"{name} not found (looked in {looked} and on PATH); {BUILD_HINT}")


def check_text(path: Path) -> int:
    """Number of non-blank lines; an error naming the file if there are none."""
    if not path.is_file():
        raise PipelineError(f"{path}: file not found (--text)")
    lines = 0
    with open(path, "rb") as handle:
        for raw in handle:
            if raw.strip():
                lines += 1
    if lines == 0:
        raise PipelineError(f"{path}: empty text (no non-blank line), nothing to train a language model on")
    return lines


def run_tool(command: list[str], what: str) -> None:
    """Run a KenLM program quietly; on failure, show the end of its log in the error."""
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            errors="replace")
    if result.returncode != 0:
        tail = [line for line in result.stdout.splitlines() if line.strip()][-15:]
        for line in tail:
            print(f"  {line}", file=sys.stderr)
        last = tail[-1].strip() if tail else "no output"
        raise PipelineError(f"{what} failed with exit status {result.returncode}: {last}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--text", required=True, help="BPE-tokenised, space-separated text, one sentence a line")
    parser.add_argument("--order", type=int, default=4, help="n-gram order (default 4, as in the paper)")
    parser.add_argument("--output", required=True, help="binary KenLM file to write")
    parser.add_argument("--lmplz", default=None, help="path of lmplz (default: next to python, then PATH)")
    parser.add_argument("--memory", default="20%",
                        help="lmplz -S: memory for sorting, e.g. 20%% or 2G (default 20%%)")
    args = parser.parse_args()

    if args.order < 2:
        raise PipelineError(f"--order {args.order}: lmplz needs an order of at least 2")
    text, output = Path(args.text), Path(args.output)
    lmplz = find_program("lmplz", args.lmplz)
    build_binary = find_program("build_binary", None, first_dir=lmplz.parent)
    lines = check_text(text)

    output.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f".{output.name}.", dir=output.parent) as work:
        arpa = Path(work) / "lm.arpa"
        log(f"{lmplz} -o {args.order} on {text} ({lines:,} non-blank lines)")
        run_tool([str(lmplz), "-o", str(args.order), "--discount_fallback", "-S", args.memory,
                  "-T", work, "--text", str(text), "--arpa", str(arpa)], "lmplz")
        log(f"{build_binary}: ARPA ({arpa.stat().st_size:,} bytes) -> binary")
        with atomic_path(output) as tmp:
            run_tool([str(build_binary), str(arpa), str(tmp)], "build_binary")
    log(f"{args.order}-gram LM -> {output} ({output.stat().st_size:,} bytes, "
        f"{time.monotonic() - start:.1f} s)")


if __name__ == "__main__":
    run_main(main)
