"""Moses punctuation normalisation and tokenisation with sacremoses.

No XML escaping (fairseq and sacrebleu read raw text) and case is kept. With
--aggressive-dash-splits hyphens become " @-@ " as in the fairseq WMT recipes. The detokenizer
restores the hyphen; the tokenized BLEU's compound split does not undo it: it reads "@-@" as one
more hyphenated word and makes it "@ ##AT##-##AT## @" on both sides, so every such hyphen counts
as three tokens there, exactly as fairseq's get_compound_split_bleu.sh on the same output.

Romanian (--romanian-normalize, --remove-diacritics; the workflow passes them only for a side whose
language is ro): the two steps of the WMT16 En-Ro recipe (rsennrich/wmt16-scripts, preprocess/
normalise-romanian.py and remove-diacritics.py) that Lee et al. (2018) and the NAT papers following
them apply to the Romanian side. They run where the recipe runs them: after punctuation
normalisation, before tokenisation.
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import sys

from common import progress, read_lines, run_main, write_lines

_worker = {}

# normalise-romanian.py: the cedilla letters (Turkish, but long used for Romanian by legacy fonts and
# keyboards) become the comma-below letters of Romanian orthography. Nothing else changes.
ROMANIAN_COMMA_BELOW = str.maketrans({
    "\u015f": "\u0219",  # s-cedilla -> s-comma
    "\u015e": "\u0218",  # S-cedilla -> S-comma
    "\u0163": "\u021b",  # t-cedilla -> t-comma
    "\u0162": "\u021a",  # T-cedilla -> T-comma
})

# remove-diacritics.py: every Romanian letter with a diacritic becomes its base letter. The recipe's
# script maps only the comma-below forms of s/t (it runs after the normalisation); the cedilla forms
# are mapped here too, so that removal alone leaves no s/t with a diacritic (with the normalisation
# first, the result is the recipe's).
ROMANIAN_BASE_LETTERS = str.maketrans({
    "\u0219": "s", "\u015f": "s",  # s-comma, s-cedilla
    "\u0218": "S", "\u015e": "S",  # S-comma, S-cedilla
    "\u021b": "t", "\u0163": "t",  # t-comma, t-cedilla
    "\u021a": "T", "\u0162": "T",  # T-comma, T-cedilla
    "\u0103": "a", "\u00e2": "a",  # a-breve, a-circumflex
    "\u0102": "A", "\u00c2": "A",  # A-breve, A-circumflex
    "\u00ee": "i", "\u00ce": "I",  # i-circumflex, I-circumflex
})


def romanian_processor(normalize: bool, remove_diacritics: bool):
    """str -> str applying the chosen Romanian steps (normalisation first), or None for neither.
    Only the precomposed letters are mapped, as by the recipe: a base letter followed by a
    combining mark (U+0326 comma below, U+0327 cedilla, U+0306 breve, U+0302 circumflex) is kept."""
    tables = [t for t, on in ((ROMANIAN_COMMA_BELOW, normalize), (ROMANIAN_BASE_LETTERS, remove_diacritics)) if on]
    if not tables:
        return None

    def process(line: str) -> str:
        for table in tables:
            line = line.translate(table)
        return line

    return process


def romanian_lines(lines, normalize: bool = False, remove_diacritics: bool = False) -> list[str]:
    """The Romanian steps alone (scoring applies them to the raw references)."""
    process = romanian_processor(normalize, remove_diacritics)
    return list(lines) if process is None else [process(line) for line in lines]


def make_processor(lang: str, normalize: bool, tokenize: bool, aggressive: bool, lowercase: bool = False,
                   romanian_normalize: bool = False, remove_diacritics: bool = False):
    """Return a str -> str function; built per process because sacremoses objects are heavy."""
    from sacremoses import MosesPunctNormalizer, MosesTokenizer

    normalizer = MosesPunctNormalizer(lang=lang) if normalize else None
    romanian = romanian_processor(romanian_normalize, remove_diacritics)
    tokenizer = MosesTokenizer(lang=lang) if tokenize else None

    def process(line: str) -> str:
        if normalizer is not None:
            line = normalizer.normalize(line)
        if romanian is not None:  # the WMT16 recipe's order: punctuation, Romanian steps, tokenizer
            line = romanian(line)
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


def process_lines(lines, lang, normalize=True, tokenize=True, aggressive=True, workers=1, lowercase=False,
                  romanian_normalize=False, remove_diacritics=False):
    options = (lang, normalize, tokenize, aggressive, lowercase, romanian_normalize, remove_diacritics)
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
    parser.add_argument("--romanian-normalize", action="store_true",
                        help="cedilla s/t to comma-below (WMT16 normalise-romanian.py)")
    parser.add_argument("--remove-diacritics", action="store_true",
                        help="Romanian letters to their base letters (WMT16 remove-diacritics.py)")
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    lines = read_lines(args.input)
    out = process_lines(lines, args.lang, not args.no_normalize, not args.no_tokenize,
                        args.aggressive_dash_splits, args.workers, args.lowercase,
                        args.romanian_normalize, args.remove_diacritics)
    write_lines(args.output, out)
    print(f"moses: {len(out)} lines ({args.lang}) -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
