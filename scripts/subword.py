"""Joint subword models: BPE with subword-nmt, or SentencePiece (for Ja-En and XLM-R).

`learn` trains one model on the training text of both languages (joint vocabulary, so that
fairseq-preprocess --joined-dictionary and shared embeddings work); `apply` segments a file.
Both methods write a single model file, so the rules do not depend on the method.
"""
from __future__ import annotations

import argparse
import io
import shutil
import sys
import tempfile
from pathlib import Path

from common import atomic_output, atomic_path, progress, read_lines, run_main, write_lines


def learn_bpe(inputs: list[str], model: str, operations: int) -> None:
    from subword_nmt.learn_bpe import learn_bpe as subword_learn

    text = io.StringIO("".join(line + "\n" for path in inputs for line in read_lines(path)))
    with atomic_output(model) as handle:
        subword_learn(text, handle, operations, min_frequency=2, verbose=False, total_symbols=False)


def learn_sentencepiece(inputs: list[str], model: str, vocab_size: int, model_type: str,
                        character_coverage: float, threads: int) -> None:
    import sentencepiece as spm

    with tempfile.TemporaryDirectory() as tmp:
        prefix = str(Path(tmp) / "spm")
        spm.SentencePieceTrainer.train(
            input=",".join(inputs), model_prefix=prefix, vocab_size=vocab_size,
            model_type=model_type, character_coverage=character_coverage,
            num_threads=threads, input_sentence_size=10_000_000, shuffle_input_sentence=True,
            # fairseq's dictionary adds <s> <pad> </s> <unk> itself.
            bos_id=-1, eos_id=-1, unk_id=0, minloglevel=2)
        with atomic_path(model) as tmp_model:
            shutil.copyfile(prefix + ".model", tmp_model)


def segmenter(method: str, model: str):
    """Return a str -> str function that splits a line into subword units."""
    if method == "bpe":
        from subword_nmt.apply_bpe import BPE

        with open(model, encoding="utf-8") as handle:
            bpe = BPE(handle)
        return lambda line: bpe.process_line(line).strip()
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=model)
    return lambda line: " ".join(processor.encode(line, out_type=str))


def desegment(line: str, method: str) -> str:
    """Undo a segmentation as fairseq-generate's --remove-bpe does (subword_nmt / sentencepiece)."""
    if method == "bpe":
        return (line + " ").replace("@@ ", "").rstrip()
    return "".join(line.split()).replace("\u2581", " ").strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    learn = sub.add_parser("learn")
    learn.add_argument("--method", choices=["bpe", "sentencepiece"], required=True)
    learn.add_argument("--inputs", nargs="+", required=True)
    learn.add_argument("--model", required=True)
    learn.add_argument("--operations", type=int, default=32000)
    learn.add_argument("--vocab-size", type=int, default=32000)
    learn.add_argument("--model-type", default="unigram")
    learn.add_argument("--character-coverage", type=float, default=1.0)
    learn.add_argument("--threads", type=int, default=1)
    apply = sub.add_parser("apply")
    apply.add_argument("--method", choices=["bpe", "sentencepiece"], required=True)
    apply.add_argument("--model", required=True)
    apply.add_argument("--input", required=True)
    apply.add_argument("--output", required=True)
    again = sub.add_parser("resegment", help="undo one segmentation, apply another (a system's own vocabulary)")
    again.add_argument("--from-method", choices=["bpe", "sentencepiece"], required=True)
    again.add_argument("--method", choices=["bpe", "sentencepiece"], required=True)
    again.add_argument("--model", required=True)
    again.add_argument("--input", required=True)
    again.add_argument("--output", required=True)
    args = parser.parse_args()
    if args.command == "resegment":
        segment = segmenter(args.method, args.model)
        lines = read_lines(args.input)
        write_lines(args.output, (segment(desegment(line, args.from_method)) for line in progress(lines, "resegment")))
        print(f"subword: resegmented {len(lines)} lines -> {args.output}", file=sys.stderr)
    elif args.command == "learn":
        if args.method == "bpe":
            learn_bpe(args.inputs, args.model, args.operations)
        else:
            learn_sentencepiece(args.inputs, args.model, args.vocab_size, args.model_type,
                                args.character_coverage, args.threads)
        print(f"subword: learned {args.method} model -> {args.model}", file=sys.stderr)
    else:
        segment = segmenter(args.method, args.model)
        lines = read_lines(args.input)
        write_lines(args.output, (segment(line) for line in progress(lines, "subword")))
        print(f"subword: segmented {len(lines)} lines -> {args.output}", file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
