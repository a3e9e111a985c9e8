"""Convert an AT checkpoint with ct2-fairseq-converter (CTranslate2's FairseqConverter).

The converted directory holds CTranslate2's model.bin, config.json and vocabulary, plus
natpipe_source.json: the source checkpoint's path and SHA-256 and CTranslate2's version, so that
a converted model can always be traced to the fairseq weights it came from. The directory is
written next to its final place and renamed into it: a failed conversion leaves nothing.
fairseq checkpoints are pickles of argparse/omegaconf objects, so the converter is told to trust
them (they are this workflow's own files).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from common import PipelineError, atomic_path, check_checkpoint, run_main, sha256_file, write_json
from fairseq_args import PLUGIN_DIR

SOURCE_RECORD = "natpipe_source.json"


def convert(checkpoint: str, data_bin: str, src: str, tgt: str, output_dir: str) -> dict:
    """Convert into output_dir (replaced whole); return the source record written inside."""
    import ctranslate2
    from ctranslate2.converters import FairseqConverter

    check_checkpoint(checkpoint)
    record = {"checkpoint": str(checkpoint), "checkpoint_sha256": sha256_file(checkpoint),
              "data_bin": str(data_bin), "converter": "ct2-fairseq-converter", "ctranslate2": ctranslate2.__version__}
    with atomic_path(output_dir) as tmp, as_translation_task(checkpoint, Path(tmp).with_suffix(".pt")) as source:
        converter = FairseqConverter(str(source), data_bin, source_lang=src, target_lang=tgt, user_dir=PLUGIN_DIR,
                                     unsafe_deserialization=True)
        try:
            converter.convert(str(tmp), force=True)
        except (ValueError, NotImplementedError) as error:  # the converter's unsupported-model messages
            reasons = " ".join(str(error).split())  # the converter's message spans lines
            raise PipelineError(f"{checkpoint}: ct2-fairseq-converter cannot convert it: {reasons}") from None
        write_json(Path(tmp) / SOURCE_RECORD, record)
    return record


@contextlib.contextmanager
def as_translation_task(checkpoint: str, scratch: Path):
    """The checkpoint as the converter can load it: one trained with natpipe's MixDistill task
    (which only mixes training data) is re-saved, weights untouched, as fairseq's `translation`
    task, whose setup needs nothing but the dictionaries."""
    import torch

    import natpipe.plugin  # noqa: F401  (allow-lists the types in fairseq checkpoints)

    state = torch.load(checkpoint, map_location="cpu", weights_only=False)
    model_cfg = state["cfg"]["model"] if state.get("cfg") else state["args"]
    if getattr(model_cfg, "task", "translation") == "translation":
        yield checkpoint
        return
    model_cfg.task = "translation"
    try:
        torch.save(state, scratch)
        yield scratch
    finally:
        scratch.unlink(missing_ok=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", required=True, help="fairseq checkpoint of an AT transformer")
    parser.add_argument("--data-bin", required=True, help="its binarized data (the dictionaries)")
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--output-dir", required=True)
    args = parser.parse_args()
    record = convert(args.checkpoint, args.data_bin, args.src, args.tgt, args.output_dir)
    print(f"ctranslate2: {args.checkpoint} (sha256 {record['checkpoint_sha256'][:12]}) -> {args.output_dir}",
          file=sys.stderr)


if __name__ == "__main__":
    run_main(main)
