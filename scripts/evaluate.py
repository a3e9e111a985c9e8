"""Score a system's test output the two ways the papers and the community report BLEU.

1. Tokenized BLEU (the papers' numbers): case-sensitive BLEU of Moses-tokenized hypotheses
   against the Moses-tokenized reference, with compound splitting (a-b -> a ##AT##-##AT## b)
   for German targets as in fairseq's get_compound_split_bleu.sh; computed by sacrebleu with
   tokenize='none' so no second tokenization happens, and without smoothing, like multi-bleu.perl
   and fairseq's scorer that the papers used. Plain-text hypotheses (a corpus that is not
   Moses-tokenized) get the corpus's own Moses processing first, exactly as its reference did.
2. SacreBLEU: detokenized hypotheses against the raw reference with sacrebleu's defaults and
   the tokenizer its own convention gives the target language (`zh`, `ja-mecab`, `ko-mecab`,
   else `13a`); the signature is stored so that the number is reproducible.

A Romanian target with the WMT16 Romanian steps (preprocess.romanian: cedilla -> comma-below,
diacritics removed) has them in its tokenized reference already (rule tokenize); the raw reference
gets the same steps here, so that SacreBLEU, like the tokenized BLEU and like the WMT16 recipe,
compares against references without diacritics (the papers' En->Ro numbers are on such references).
Its signature then ends in "|ro:norm+nodiac" (or ro:norm / ro:nodiac): the number is not comparable
with a SacreBLEU on the official references with diacritics. Hypotheses of a Moses-tokenized corpus
are the model's output of processed text and are not changed (as in the recipe); plain-text
hypotheses get the reference's steps for both scores.

Both take every reference of a multi-reference test set (NIST MT0x: four; --ref-tok and --ref
list them in the same order): n-gram counts are clipped by the largest count in any reference
and the brevity penalty uses the reference length closest to each hypothesis (the shorter on a
tie), as multi-bleu.perl and sacrebleu do; the JSON records `refs` and the signature nrefs.

Beside BLEU, `repetition` is the share (in %) of the tokenized hypothesis words that repeat the word
right before them in their sentence (`repeated_tokens` of them), the repetition rate NAT papers report.
"""
from __future__ import annotations

import argparse
import os
import re

import sacrebleu

from common import PipelineError, read_lines, run_main, write_json
from moses import detokenize_lines, process_lines, romanian_lines

_COMPOUND = re.compile(r"(\S)-(\S)")


def compound_split(line: str) -> str:
    """One non-overlapping pass, exactly like the perl one-liner the papers' numbers come from
    (so the one-letter "a-b-c" becomes "a ##AT##-##AT## b-c")."""
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def reference_streams(refs) -> list[list[str]]:
    """References as sacrebleu takes them, one list of lines per reference: `refs` is either the
    lines of a single reference or a list of such lists."""
    return [list(r) for r in refs] if refs and not isinstance(refs[0], str) else [list(refs)]


def tokenized_bleu(hyps: list[str], refs, compound: bool) -> sacrebleu.metrics.BLEU:
    """`refs`: the lines of one reference, or a list of references (lists of lines)."""
    streams = reference_streams(refs)
    if compound:
        hyps = [compound_split(h) for h in hyps]
        streams = [[compound_split(r) for r in stream] for stream in streams]
    return sacrebleu.corpus_bleu(hyps, streams, tokenize="none", smooth_method="none", force=True)


# sacrebleu's convention (its CLI with -l xx-zh / xx-ja / xx-ko): a target without spaces between
# words gets its language's tokenizer; every other target gets 13a.
SACREBLEU_TOKENIZERS = {"zh": "zh", "ja": "ja-mecab", "ko": "ko-mecab"}


def sacrebleu_tokenizer(lang: str) -> str:
    return SACREBLEU_TOKENIZERS.get(lang, "13a")


# The hypotheses of a Moses-tokenized corpus are tokenized already and need no processing.
TOKENIZED = {"normalize": True, "tokenize": True, "aggressive": False, "lowercase": False,
             "romanian_normalize": False, "remove_diacritics": False}


def add_moses_arguments(parser) -> None:
    """The corpus's Moses settings, as the tokenize rule got them (natpipe.workflow.moses_flags)."""
    parser.add_argument("--no-normalize", action="store_true")
    parser.add_argument("--no-tokenize", action="store_true", help="the corpus is not Moses-tokenized: "
                        "hypotheses are plain text")
    parser.add_argument("--aggressive-dash-splits", action="store_true")
    parser.add_argument("--lowercase", action="store_true", help="the corpus was lowercased")
    parser.add_argument("--romanian-normalize", action="store_true", help="the target had the WMT16 Romanian "
                        "normalisation (cedilla -> comma-below): the raw references get it too")
    parser.add_argument("--remove-diacritics", action="store_true", help="the target had its Romanian diacritics "
                        "removed: the raw references get the same")


def moses_settings(args) -> dict:
    return {"normalize": not args.no_normalize, "tokenize": not args.no_tokenize,
            "aggressive": args.aggressive_dash_splits, "lowercase": args.lowercase,
            "romanian_normalize": args.romanian_normalize, "remove_diacritics": args.remove_diacritics}


def romanian_label(moses: dict) -> str:
    """'norm+nodiac', 'norm', 'nodiac' or '' for the Romanian steps in `moses`."""
    return "+".join(name for name, key in (("norm", "romanian_normalize"), ("nodiac", "remove_diacritics"))
                    if moses.get(key, False))


def repetition_rate(lines: list[str]) -> tuple[int, int]:
    """(repeated, total) tokens of whitespace-split lines: a token is repeated when it equals the one
    right before it in its sentence (a sentence boundary is no repetition). Non-autoregressive
    outputs repeat tokens because the conditional-independence assumption predicts neighbouring
    positions independently; the papers of this harness report the rate (Wang et al. 2022 Table 5,
    after Saharia et al. 2020)."""
    repeated = total = 0
    for line in lines:
        tokens = line.split()
        total += len(tokens)
        repeated += sum(a == b for a, b in zip(tokens, tokens[1:]))
    return repeated, total


def score_lines(hyps: list[str], refs_tok, refs_raw, lang: str, moses: dict = TOKENIZED) -> dict:
    """Both BLEU scores of hypothesis lines. `refs_tok`/`refs_raw`: the lines of one reference, or
    a list of references in the same order. `moses`: the corpus's preprocessing; a lowercased
    corpus is scored ignoring case by both. `repetition`: the repetition rate (in %) of the
    tokenized hypotheses."""
    refs_tok, refs_raw = reference_streams(refs_tok), reference_streams(refs_raw)
    if len(refs_tok) != len(refs_raw):
        raise PipelineError(f"{len(refs_tok)} tokenized references but {len(refs_raw)} raw ones")
    for number, (tok, raw) in enumerate(zip(refs_tok, refs_raw), start=1):
        if not (len(hyps) == len(tok) == len(raw)):
            raise PipelineError(f"{len(hyps)} hypotheses but reference {number} has {len(raw)} lines "
                                f"({len(tok)} tokenized)")
    lowercase = moses["lowercase"]
    romanian = {"normalize": moses.get("romanian_normalize", False),
                "remove_diacritics": moses.get("remove_diacritics", False)}
    # the raw references get the Romanian steps the tokenized ones had (no-op when neither is set)
    refs_raw = [romanian_lines(stream, **romanian) for stream in refs_raw]
    if moses["tokenize"]:
        hyps_tok, hyps_detok = hyps, detokenize_lines(hyps, lang)
    else:  # plain text: the reference's own processing (normalization, Romanian steps, case), no tokenization
        hyps_tok = process_lines(hyps, lang, normalize=moses["normalize"], tokenize=False,
                                 aggressive=moses["aggressive"], lowercase=lowercase,
                                 romanian_normalize=romanian["normalize"],
                                 remove_diacritics=romanian["remove_diacritics"])
        hyps_detok = romanian_lines(hyps, **romanian)
    compound = lang == "de"
    tok = tokenized_bleu(hyps_tok, refs_tok, compound)
    metric = sacrebleu.metrics.BLEU(lowercase=lowercase, tokenize=sacrebleu_tokenizer(lang))
    sacre = metric.corpus_score(hyps_detok, refs_raw)
    signature = str(metric.get_signature())
    if romanian_label(moses):
        signature += f"|ro:{romanian_label(moses)}"
    repeated, total = repetition_rate(hyps_tok)  # the Moses words BLEU(tok) counts, before compound splitting
    return {
        "bleu_tok": round(tok.score, 2),
        "bleu_tok_detail": str(tok),
        "compound_split": compound,
        "sacrebleu": round(sacre.score, 2),
        "sacrebleu_detail": str(sacre),
        "signature": signature,
        "repetition": round(100 * repeated / total, 2) if total else 0.0,
        "repeated_tokens": repeated,
        "n_sentences": len(hyps),
        "refs": len(refs_raw),
    }


def as_paths(paths) -> list:
    return [paths] if isinstance(paths, (str, os.PathLike)) else list(paths)


def read_references(hyp_path, n_hyps: int, ref_paths: list) -> list[list[str]]:
    """Every reference file, each with exactly as many lines as the hypotheses."""
    refs = []
    for path in ref_paths:
        lines = read_lines(path)
        if len(lines) != n_hyps:
            raise PipelineError(f"line-count mismatch: reference {path} has {len(lines)} lines but "
                                f"{hyp_path} has {n_hyps}")
        refs.append(lines)
    return refs


def evaluate(hyp_path, ref_tok_paths, ref_raw_paths, lang, moses: dict = TOKENIZED) -> dict:
    """Score a hypothesis file. `ref_tok_paths`/`ref_raw_paths`: one reference file, or the files of
    every reference in the same order (Moses-processed and raw)."""
    ref_tok_paths, ref_raw_paths = as_paths(ref_tok_paths), as_paths(ref_raw_paths)
    if len(ref_tok_paths) != len(ref_raw_paths):
        raise PipelineError(f"{len(ref_tok_paths)} tokenized references (--ref-tok) but "
                            f"{len(ref_raw_paths)} raw ones (--ref)")
    hyps = read_lines(hyp_path)
    refs_raw = read_references(hyp_path, len(hyps), ref_raw_paths)
    refs_tok = read_references(hyp_path, len(hyps), ref_tok_paths)
    result = score_lines(hyps, refs_tok, refs_raw, lang, moses)
    result.update(hypothesis=str(hyp_path), reference_tokenized=str(ref_tok_paths[0]), reference=str(ref_raw_paths[0]))
    if len(ref_raw_paths) > 1:  # every file in order; a single-reference result keeps its keys as they were
        result.update(references_tokenized=list(map(str, ref_tok_paths)), references=list(map(str, ref_raw_paths)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hyp", required=True, help="hypotheses, subword units removed")
    parser.add_argument("--ref-tok", required=True, nargs="+", help="Moses-tokenized reference(s), reference 1 first")
    parser.add_argument("--ref", required=True, nargs="+", help="raw reference(s), in the order of --ref-tok")
    parser.add_argument("--lang", required=True, help="target language")
    add_moses_arguments(parser)
    parser.add_argument("--system", default="", help="evaluation row (a model or one of its decoding variants)")
    parser.add_argument("--model", default="", help="the model the row decodes")
    parser.add_argument("--corpus", default="")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    result = evaluate(args.hyp, args.ref_tok, args.ref, args.lang, moses_settings(args))
    result.update(system=args.system, model=args.model or args.system, corpus=args.corpus)
    write_json(args.out, result)
    print(f"evaluate: {args.corpus}/{args.system} BLEU(tok) {result['bleu_tok']} SacreBLEU {result['sacrebleu']} "
          f"repetition {result['repetition']}% ({result['refs']} reference{'s' if result['refs'] > 1 else ''})")


if __name__ == "__main__":
    run_main(main)
