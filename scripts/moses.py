"""Moses punctuation normalisation and tokenisation with sacremoses.

No XML escaping (fairseq and sacrebleu read raw text) and case is kept. With
--aggressive-dash-splits hyphens become " @-@ " as in the fairseq WMT recipes. The detokenizer
restores the hyphen; the tokenized BLEU's compound split does not undo it: it reads "@-@" as one
more hyphenated word and makes it "@ ##AT##-##AT## @" on both sides, so every such hyphen counts
as three tokens there, exactly as fairseq's get_compound_split_bleu.sh on the same output.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys

from common import progress, read_lines, run_main, write_lines

_worker = {}


def make_processor(lang: str, normalize: bool, tokenize: bool, aggressive: bool, lowercase: bool = False):
    """Return a str -> str function; built per process because sacremoses objects are heavy."""
    from sacremoses import MosesPunctNormalizer, MosesTokenizer

    normalizer = MosesPunctNormalizer(lang=lang) if normalize else None
    tokenizer = MosesTokenizer(lang=lang) if tokenize else None

    def process(line: str) -> str:
        if normalizer is not None:
            line = normalizer.normalize(line)
        if tokenizer is not None:
            line = tokenizer.tokenize(line, escape=False, return_str=True,
                                      aggressive_dash_splits=aggressive)
        line = " ".join(line.split())
        return line.lower() if lowercase else line

    return process


def _init(options):
    _worker["process"] = make_processor(*options)


def _process(line):
    return _worker["process"](line)


def process_lines(lines, lang, normalize=True, tokenize=True, aggressive=True, workers=1, lowercase=False):
    options = (lang, normalize, tokenize, aggressive, lowercase)
    if workers <= 1 or len(lines) < 5000:
        process = make_processor(*options)
        return [process(line) for line in progress(lines, f"moses {lang}")]
    with mp.Pool(workers, initializer=_init, initargs=(options,)) as pool:
        return list(progress(pool.imap(_process, lines, chunksize=2000), f"moses {lang}"))


def detokenize_lines(lines, lang):
    """Inverse of process_lines for scoring detokenized output with SacreBLEU."""
    from sacremoses import MosesDetokenizer

    detok = MosesDetokenizer(lang=lang)
    return [detok.detokenize(line.replace(" @-@ ", "-").split()) for line in lines]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--lang", required=True)
    parser.add_argument("--input", required=True)
    parser.add_argument("--output", required=True)
    parser.add_argument("--no-normalize", action="store_true")
    parser.add_argument("--no-tokenize", action="store_true")
    parser.add_argument("--aggressive-dash-splits", action="store_true")
    parser.add_argument("--lowercase", action="store_true")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    lines = read_lines(args.input)
    out = process_lines(lines, args.lang, not args.no_normalize, not args.no_tokenize,
                        args.aggressive_dash_splits, args.workers, args.lowercase)
    write_lines(args.output, out)
    print(f"moses: {len(out)} lines ({args.lang}) -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
