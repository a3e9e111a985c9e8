"""fairseq command lines: natpipe model settings (config.yaml `models.<name>`) -> flags, and
the one way every script runs a fairseq tool.

The mapping (which flag each setting becomes, CPU vs DDP selection) is pure, so it is
unit-tested without training anything.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from common import PipelineError

REPO = Path(__file__).resolve().parent.parent
PLUGIN_DIR = str(REPO / "natpipe")


def fairseq_env(threads: int) -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def run_fairseq(tool: str, args: list[str], threads: int, stdout=None) -> None:
    """Run fairseq-<tool> through natpipe's compatibility layer; failure is one PipelineError."""
    command = [sys.executable, "-m", "natpipe.fairseq_cli", tool] + args
    print("+ fairseq-" + tool + " " + " ".join(args), file=sys.stderr, flush=True)
    result = subprocess.run(command, env=fairseq_env(threads), stdout=stdout)
    if result.returncode != 0:
        raise PipelineError(f"fairseq-{tool} exited with status {result.returncode} (see the rule's log)")

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


def update_freq(train: dict, gpus: int) -> int:
    """Gradient accumulation that reaches `effective_batch_tokens` on the GPUs at hand."""
    target = train.get("effective_batch_tokens")
    if not target:
        return train.get("update_freq", 1)
    per_step = train.get("max_tokens", 4096) * max(gpus, 1)
    return max(1, round(target / per_step))


# Iterative-refinement NAT families run on fairseq's translation_lev task: the decoder input is
# the target with noise (all tokens masked for vanilla NAT, a random subset for CMLM; fairseq's
# mask symbol is <unk>), and the length is predicted from the encoder.
NAT_KINDS = {
    "nat": {"noise": "full_mask", "extra": ["--pred-length-offset", "--length-loss-factor", "0.1"]},
    "cmlm": {"noise": "random_mask", "extra": []},
}


def is_nat(model: dict) -> bool:
    return model["kind"] in NAT_KINDS


# Fully NAT (Gu & Kong 2021): config `loss` -> the model's latent alignment (CE has none).
FNAT_ALIGNMENT = {"ce": "none", "axe": "axe", "ctc": "ctc"}


def fnat_model_args(model: dict) -> list[str]:
    """Fully-NAT architecture flags: loss family, CTC upsampling ratio, VAE latents."""
    vae = model.get("vae") or {}
    args = ["--latent-alignment", FNAT_ALIGNMENT[model.get("loss", "ctc")],
            "--upsample-ratio", str(model.get("upsample_ratio", 3.0))]
    if vae:
        args += ["--latent-dim", str(vae.get("latent_dim", 8)), "--posterior-layers", str(vae.get("posterior_layers", 3))]
    return args


def data_args(model: dict, distill_bin: str | None) -> list[str]:
    """Task flags for the model family and data strategy: raw (R), distilled (D) or MixDistill (MD)."""
    strategy = model.get("data", "raw")
    if model["kind"] == "fnat":
        if strategy == "mixdistill":
            raise PipelineError("data: mixdistill is not available for kind fnat (use raw or distill)")
        return ["--task", "translation_fully_nat"]
    if model["kind"] == "hrt":  # MixDistill built in; raw / distill pass the chosen data-bin alone
        mix = ["--distill-data", distill_bin, "--p-raw", str(model.get("p_raw", 0.5))] if strategy == "mixdistill" else []
        return ["--task", "translation_hrt", "--chunk-size", str(model.get("chunk_size", 2)), *mix]
    if is_nat(model):
        if strategy == "mixdistill":
            raise PipelineError(f"data: mixdistill is not available for kind {model['kind']} "
                                "(use raw or distill)")
        return ["--task", "translation_lev", "--noise", NAT_KINDS[model["kind"]]["noise"]]
    if strategy == "mixdistill":
        return ["--task", "translation_mixdistill", "--distill-data", distill_bin,
                "--p-raw", str(model.get("p_raw", 0.5))]
    return ["--task", "translation"]


def objective_args(model: dict) -> list[str]:
    """Criterion flags: label-smoothed CE for AT; fairseq's nat_loss (token + length loss) for NAT,
    with the BERT-style init and learned positions of the mask-predict recipe."""
    smoothing = str(model.get("train", {}).get("label_smoothing", 0.1))
    if model["kind"] == "hrt":
        curriculum = model.get("curriculum") or {}
        args = ["--criterion", "hrt_loss", "--label-smoothing", smoothing,
                "--curriculum-lambda", str(curriculum.get("lambda", 1.0))]
        args += ["--curriculum-steps", str(curriculum["steps"])] if curriculum.get("steps") else []
        return args + ([] if curriculum.get("enabled", True) else ["--no-curriculum"])
    if model["kind"] == "fnat":
        vae = model.get("vae") or {}
        return ["--criterion", "fully_nat_loss", "--label-smoothing", smoothing,
                "--glancing", model.get("glancing", "none"), "--glance-f-ratio", str(model.get("f_ratio", 0.5)),
                "--free-bits", str(vae.get("free_bits", 1.0)),
                "--free-bits-anneal-updates", str(vae.get("anneal_updates", 0))]
    if is_nat(model):
        return ["--criterion", "nat_loss", "--label-smoothing", smoothing, "--apply-bert-init",
                "--encoder-learned-pos", "--decoder-learned-pos", *NAT_KINDS[model["kind"]]["extra"]]
    return ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", smoothing]


def train_args(model: dict, data_bin: str, src: str, tgt: str, save_dir: str, gpus: int,
               distill_bin: str | None = None, init_checkpoint: str | None = None) -> list[str]:
    """fairseq-train arguments; `data_bin` is already the distilled set for data: distill;
    `init_checkpoint` (HRT's FT) initialises the model unless the run resumes its own checkpoint."""
    train = model.get("train", {})
    args = [data_bin, "--user-dir", PLUGIN_DIR, *data_args(model, distill_bin), "-s", src, "-t", tgt,
            "--arch", model["arch"], *(fnat_model_args(model) if model["kind"] == "fnat" else [])]
    for key, flags in _ARCH_FLAGS.items():
        if key in model:
            for flag in flags:
                args += [flag, str(model[key])]
    if model.get("share_all_embeddings", True):
        args.append("--share-all-embeddings")
    if model.get("pre_norm", False):
        args += ["--encoder-normalize-before", "--decoder-normalize-before"]
    keep = max(train.get("average_last", 5), 1)
    args += [
        "--dropout", str(train.get("dropout", 0.1)),
        "--attention-dropout", str(train.get("attention_dropout", 0.0)),
        "--optimizer", "adam", "--adam-betas", "(0.9, 0.98)",
        "--weight-decay", str(train.get("weight_decay", 0.0)),
        "--clip-norm", str(train.get("clip_norm", 0.0)),
        "--lr", str(train.get("lr", 5e-4)), "--lr-scheduler", "inverse_sqrt",
        "--warmup-updates", str(train.get("warmup_updates", 4000)), "--warmup-init-lr", "1e-07",
        *objective_args(model),
        "--max-tokens", str(train.get("max_tokens", 4096)),
        "--update-freq", str(update_freq(train, gpus)),
        "--max-update", str(train.get("max_update", 300000)),
        "--save-dir", save_dir,
        "--save-interval-updates", str(train.get("save_interval_updates", 1000)),
        "--keep-interval-updates", str(keep), "--no-epoch-checkpoints",
        "--seed", str(train.get("seed", 1)),
        "--log-format", "simple", "--log-interval", str(train.get("log_interval", 50)), "--num-workers", "0",
        "--skip-invalid-size-inputs-valid-test",
    ]
    args += ["--finetune-from-model", init_checkpoint] if init_checkpoint else []
    return args + device_args(gpus, train.get("fp16", False))


def search_args(search: dict) -> list[str]:
    """Beam-search flags shared by test decoding and distillation."""
    return ["--beam", str(search.get("beam", 5)), "--lenpen", str(search.get("lenpen", 1.0)),
            "--max-tokens", str(search.get("max_tokens", 8000)),
            "--max-len-a", str(search.get("max_len_a", 0)), "--max-len-b", str(search.get("max_len_b", 200))]


def refinement_args(search: dict) -> list[str]:
    """Iterative-refinement decoding: exactly `iterations` passes (fairseq counts refinements
    after the first, and without --iter-decode-force-max-iter stops early, which would make
    CMLM10 a variable-cost system), `beam` length candidates decoded in parallel."""
    return ["--iter-decode-max-iter", str(search.get("iterations", 10) - 1), "--iter-decode-force-max-iter",
            "--iter-decode-with-beam", str(search.get("beam", 5)), "--iter-decode-eos-penalty", "0",
            "--beam", "1", "--max-tokens", str(search.get("max_tokens", 8000))]


def fnat_decode_args(search: dict) -> list[str]:
    """Fully-NAT decoding: CTC beam (1 = greedy), the n-gram LM with Eq. (6)'s alpha/beta (tuned
    values from `lm_weights_file` unless given), NPD with the teacher's checkpoint."""
    args = ["--ctc-beam", str(search.get("ctc_beam", 1)), "--beam", "1", "--max-tokens", str(search.get("max_tokens", 8000))]
    if search.get("lm"):
        weights = {"alpha": search.get("lm_alpha"), "beta": search.get("lm_beta")}
        if None in weights.values():
            if not search.get("lm_weights_file"):
                raise PipelineError("generate.lm needs lm_alpha and lm_beta or a tuned lm_weights_file")
            with open(search["lm_weights_file"], encoding="utf-8") as handle:
                tuned = json.load(handle)
            weights = {k: tuned[k] if v is None else v for k, v in weights.items()}
        args += ["--ctc-lm-path", search["lm_path"], "--ctc-lm-alpha", str(weights["alpha"]),
                 "--ctc-lm-beta", str(weights["beta"])]
    if search.get("npd", 1) > 1:
        args += ["--npd-samples", str(search["npd"]), "--npd-temperature", str(search.get("npd_temperature", 0.1)),
                 "--npd-teacher-path", search["npd_teacher_checkpoint"]]
    return args


def decode_args(search: dict, data_bin: str, src: str, tgt: str, checkpoint: str, subset: str,
                gpus: int, remove_bpe: str | None, kind: str = "at") -> list[str]:
    """fairseq-generate over a binarized split; remove_bpe None keeps subword units (distillation
    output is binarized with the raw corpus's dictionary unchanged).

    --required-batch-size-multiple 1: with fairseq's default of 8, batch_by_size silently drops
    the last batch when its size is not a multiple of 8, i.e. up to 7 (the longest) sentences.
    """
    task = ["--task", "translation_lev"] if kind in NAT_KINDS else ["--task", "translation"]
    search_flags = refinement_args(search) if kind in NAT_KINDS else search_args(search)
    if kind == "fnat":
        task, search_flags = ["--task", "translation_fully_nat"], fnat_decode_args(search)
    if kind == "hrt":  # Skip-AT beam (beam = b_at), then b_nat candidates through Skip-CMLM
        task = ["--task", "translation_hrt", "--chunk-size", str(search.get("chunk_size", 2)),
                "--hrt-b-nat", str(search.get("b_nat", 1))]
        task += ["--hrt-skip-cmlm-path", search["skip_cmlm_checkpoint"]] if search.get("skip_cmlm_checkpoint") else []
    return ([data_bin, "--user-dir", PLUGIN_DIR, *task, "-s", src, "-t", tgt,
             "--path", checkpoint, "--gen-subset", subset, *search_flags, "--num-workers", "0",
             "--required-batch-size-multiple", "1"]
            + (["--remove-bpe", remove_bpe] if remove_bpe else []) + (["--cpu"] if gpus <= 0 else []))


def remove_bpe_flag(subword_method: str) -> str:
    return "subword_nmt" if subword_method == "bpe" else "sentencepiece"


def generate_args(model: dict, data_bin: str, src: str, tgt: str, checkpoint: str,
                  subword_method: str, subset: str, gpus: int) -> list[str]:
    """Test decoding of one evaluation row: `model` carries the row's generate settings."""
    search = {**model.get("generate", {}), "chunk_size": model.get("chunk_size", 2)}
    return decode_args(search, data_bin, src, tgt, checkpoint, subset, gpus, remove_bpe_flag(subword_method),
                       model["kind"])
