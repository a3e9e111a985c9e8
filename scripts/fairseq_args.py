"""fairseq command lines: natpipe model settings (config.yaml `models.<name>`) -> flags, and
the one way every script runs a fairseq tool.

The mapping (which flag each setting becomes, CPU vs DDP selection) is pure, so it is
unit-tested without training anything.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from common import PipelineError
from natpipe.config import resolve_model, update_freq  # noqa: F401 (update_freq: also fairseq_args.update_freq)
from natpipe.registry import system_of

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = str(REPO / "natpipe")


def fairseq_env(threads: int) -> dict:
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_fairseq(tool: str, args: list[str], threads: int, stdout=None, tee: str | os.PathLike | None = None) -> None:
    """Run fairseq-<tool> through natpipe's compatibility layer; failure is one PipelineError.
    `tee`: also append its output to this file (a training's own log, kept across resumes)."""
    command = [sys.executable, "-m", "natpipe.fairseq_cli", tool] + args
    print("+ fairseq-" + tool + " " + " ".join(args), file=sys.stderr, flush=True)
    if tee is None:
        returncode = subprocess.run(command, env=fairseq_env(threads), stdout=stdout).returncode
    else:
        with open(tee, "a", encoding="utf-8") as copy, subprocess.Popen(
                command, env=fairseq_env(threads), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as process:
            for line in process.stdout:
                sys.stdout.write(line)
                sys.stdout.flush()
                copy.write(line)
            returncode = process.wait()
    if returncode != 0:
        raise PipelineError(f"fairseq-{tool} exited with status {returncode} (see the rule's log)")

_ARCH_FLAGS = {
    "encoder_layers": ["--encoder-layers"],
    "decoder_layers": ["--decoder-layers"],
    "embed_dim": ["--encoder-embed-dim", "--decoder-embed-dim"],
    "ffn_dim": ["--encoder-ffn-embed-dim", "--decoder-ffn-embed-dim"],
    "heads": ["--encoder-attention-heads", "--decoder-attention-heads"],
}


def device_args(gpus: int, fp16: bool = False) -> list[str]:
    """CPU when no GPU is allocated; DDP over all allocated GPUs when there are several."""
    if gpus <= 0:
        return ["--cpu"]
    args = ["--distributed-world-size", str(gpus)] if gpus > 1 else []
    return args + (["--fp16"] if fp16 else [])


def log_interval(train: dict) -> int:
    """fairseq's --log-interval: the configured one (50 when unset), but at least once per
    validation, so that the learning curve knows the target tokens seen at every point."""
    return min(train.get("log_interval", 50), train["save_interval_updates"])


def train_args(model: dict, data_bin: str, src: str, tgt: str, save_dir: str, gpus: int,
               distill_bin: str | None = None, inputs: dict | None = None, loader_workers: int = 0) -> list[str]:
    """fairseq-train arguments; `data_bin` is already the distilled set for data: distill;
    `inputs` are the extra files the system's training reads (system.training_inputs);
    `loader_workers`: data-loader workers of each (GPU) training process."""
    model = resolve_model(model)
    system, train = system_of(model), model["train"]
    args = [data_bin, "--user-dir", PLUGIN_DIR, *system.task_args(model, distill_bin), "-s", src, "-t", tgt,
            "--arch", model["arch"], *system.model_args(model)]
    for key, flags in _ARCH_FLAGS.items():
        if key in model:
            for flag in flags:
                args += [flag, str(model[key])]
    if model["share_all_embeddings"]:
        args.append("--share-all-embeddings")
    if model["pre_norm"]:
        args += ["--encoder-normalize-before", "--decoder-normalize-before"]
    args += [
        "--dropout", str(train["dropout"]),
        "--attention-dropout", str(train["attention_dropout"]),
        "--optimizer", "adam", "--adam-betas", "({}, {})".format(*train["adam_betas"]),
        "--weight-decay", str(train["weight_decay"]),
        "--clip-norm", str(train["clip_norm"]),
        "--lr", str(train["lr"]), "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(train["warmup_updates"]), "--warmup-init-lr", "1e-07",
        *system.criterion_args(model),
        "--max-tokens", str(train["max_tokens"]),
        "--update-freq", str(update_freq(train, gpus)),
        "--max-update", str(train["max_update"]),
        "--save-dir", save_dir,
        "--save-interval-updates", str(train["save_interval_updates"]),
        "--keep-interval-updates", str(train["average_last"]), "--no-epoch-checkpoints",
        "--seed", str(train["seed"]),
        "--log-format", "simple", "--log-interval", str(log_interval(train)), "--num-workers", str(loader_workers),
        "--skip-invalid-size-inputs-valid-test",
    ]
    return args + system.training_input_args(inputs or {}) + device_args(gpus, train["fp16"])


def decode_args(model: dict, data_bin: str, src: str, tgt: str, checkpoint: str, subset: str,
                gpus: int, remove_bpe: str | None) -> list[str]:
    """fairseq-generate over a binarized split with the model's `generate` settings (resolved:
    a row's variant already merged in); remove_bpe None keeps subword units (distillation output
    is binarized with the raw corpus's dictionary unchanged).

    --required-batch-size-multiple 1: with fairseq's default of 8, batch_by_size silently drops
    the last batch when its size is not a multiple of 8, i.e. up to 7 (the longest) sentences.
    """
    model = resolve_model(model)
    search = system_of(model).decode_args(model["generate"], model)
    return ([data_bin, "--user-dir", PLUGIN_DIR, *search, "-s", src, "-t", tgt,
             "--path", checkpoint, "--gen-subset", subset, "--num-workers", "0",
             "--required-batch-size-multiple", "1"]
            + (["--remove-bpe", remove_bpe] if remove_bpe else []) + (["--cpu"] if gpus <= 0 else []))


def remove_bpe_flag(subword_method: str) -> str:
    return "subword_nmt" if subword_method == "bpe" else "sentencepiece"


def generate_args(model: dict, data_bin: str, src: str, tgt: str, checkpoint: str,
                  subword_method: str, subset: str, gpus: int) -> list[str]:
    """Test decoding of one evaluation row: `model` carries the row's generate settings."""
    return decode_args(model, data_bin, src, tgt, checkpoint, subset, gpus, remove_bpe_flag(subword_method))
