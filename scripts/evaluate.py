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
"""
from __future__ import annotations

import argparse
import re

import sacrebleu

from common import PipelineError, read_lines, run_main, write_json
from moses import detokenize_lines, process_lines

_COMPOUND = re.compile(r"(\S)-(\S)")


def compound_split(line: str) -> str:
    """One non-overlapping pass, exactly like the perl one-liner the papers' numbers come from
    (so the one-letter "a-b-c" becomes "a ##AT##-##AT## b-c")."""
    return _COMPOUND.sub(r"\1 ##AT##-##AT## \2", line)


def tokenized_bleu(hyps: list[str], refs: list[str], compound: bool) -> sacrebleu.metrics.BLEU:
    if compound:
        hyps = [compound_split(h) for h in hyps]
        refs = [compound_split(r) for r in refs]
    return sacrebleu.corpus_bleu(hyps, [refs], tokenize="none", smooth_method="none", force=True)


# sacrebleu's convention (its CLI with -l xx-zh / xx-ja / xx-ko): a target without spaces between
# words gets its language's tokenizer; every other target gets 13a.
SACREBLEU_TOKENIZERS = {"zh": "zh", "ja": "ja-mecab", "ko": "ko-mecab"}


def sacrebleu_tokenizer(lang: str) -> str:
    return SACREBLEU_TOKENIZERS.get(lang, "13a")


# The hypotheses of a Moses-tokenized corpus are tokenized already and need no processing.
TOKENIZED = {"normalize": True, "tokenize": True, "aggressive": False, "lowercase": False}


def add_moses_arguments(parser) -> None:
    """The corpus's Moses settings, as the tokenize rule got them (natpipe.workflow.moses_flags)."""
    parser.add_argument("--no-normalize", action="store_true")
    parser.add_argument("--no-tokenize", action="store_true", help="the corpus is not Moses-tokenized: "
                        "hypotheses are plain text")
    parser.add_argument("--aggressive-dash-splits", action="store_true")
    parser.add_argument("--lowercase", action="store_true", help="the corpus was lowercased")


def moses_settings(args) -> dict:
    return {"normalize": not args.no_normalize, "tokenize": not args.no_tokenize,
            "aggressive": args.aggressive_dash_splits, "lowercase": args.lowercase}


def score_lines(hyps: list[str], refs_tok: list[str], refs_raw: list[str], lang: str, moses: dict = TOKENIZED) -> dict:
    """Both BLEU scores of hypothesis lines. `moses`: the corpus's preprocessing; a lowercased
    corpus is scored ignoring case by both."""
    if not (len(hyps) == len(refs_tok) == len(refs_raw)):
        raise PipelineError(f"{len(hyps)} hypotheses but the reference has {len(refs_raw)} lines")
    lowercase = moses["lowercase"]
    if moses["tokenize"]:
        hyps_tok, hyps_detok = hyps, detokenize_lines(hyps, lang)
    else:  # plain text: the reference's own processing (normalization, case), no tokenization
        hyps_tok = process_lines(hyps, lang, normalize=moses["normalize"], tokenize=False,
                                 aggressive=moses["aggressive"], lowercase=lowercase)
        hyps_detok = hyps
    compound = lang == "de"
    tok = tokenized_bleu(hyps_tok, refs_tok, compound)
    metric = sacrebleu.metrics.BLEU(lowercase=lowercase, tokenize=sacrebleu_tokenizer(lang))
    sacre = metric.corpus_score(hyps_detok, [refs_raw])
    return {
        "bleu_tok": round(tok.score, 2),
        "bleu_tok_detail": str(tok),
        "compound_split": compound,
        "sacrebleu": round(sacre.score, 2),
        "sacrebleu_detail": str(sacre),
        "signature": str(metric.get_signature()),
        "n_sentences": len(hyps),
    }


def evaluate(hyp_path, ref_tok_path, ref_raw_path, lang, moses: dict = TOKENIZED) -> dict:
    hyps = read_lines(hyp_path)
    refs_tok, refs_raw = read_lines(ref_tok_path), read_lines(ref_raw_path)
    if len(hyps) != len(refs_raw):
        raise PipelineError(f"{hyp_path} has {len(hyps)} lines but the reference has {len(refs_raw)}")
    result = score_lines(hyps, refs_tok, refs_raw, lang, moses)
    result.update(hypothesis=str(hyp_path), reference_tokenized=str(ref_tok_path), reference=str(ref_raw_path))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--hyp", required=True, help="hypotheses, subword units removed")
    parser.add_argument("--ref-tok", required=True, help="Moses-tokenized reference")
    parser.add_argument("--ref", required=True, help="raw reference")
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
    print(f"evaluate: {args.corpus}/{args.system} BLEU(tok) {result['bleu_tok']} SacreBLEU {result['sacrebleu']}")


if __name__ == "__main__":
    run_main(main)
