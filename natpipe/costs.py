"""Cost model of a run: device-hours of each job from the config's updates, batch sizes and corpus
sizes, and a measured throughput scaled to each architecture by its FLOPs. `scripts/plan.py`
prints it per job kind for a preset; `scripts/plan.py --measure` replaces the anchors below with
figures measured on the device at hand. Plain Python (no torch, no fairseq).

The model
---------
* FLOPs of one training token ~ 6 x (parameters in the matmuls the token passes through): 2 for the
  forward pass, 4 for the backward pass. Per layer: encoder 4d^2 (attention) + 2·d·ffn, decoder 8d^2
  (self- and cross-attention) + 2·d·ffn; the output projection d x V. Attention scores (n^2·d),
  layer norms and embeddings lookups are left out (about 1 % at these lengths). What a system
  computes beyond a plain Transformer per token is read from its resolved settings (`shape`): a
  CTC decoder runs at upsample_ratio x the length, HRT decodes every sentence twice (two tasks),
  GLAT adds a forward pass of the decoder without gradients, the VAE posterior adds its own layers,
  multi-task NAT's weak AR decoders ([MTNAT]) add their layers and an output layer per target token.
* A throughput measured for one architecture (an *anchor*: batch tokens per second per device) is
  carried to another by the ratio of their FLOPs per token. "Batch tokens" are fairseq's
  `--max-tokens` budget (padding included), the unit the config's batch sizes are written in, so
  an update of a job costs max_tokens x update_freq x GPUs of them.
* A training job: max_update x batch tokens / (throughput per GPU) device-seconds, i.e. GPU-hours
  = wall-hours x GPUs under linear data-parallel scaling (an assumption: DDP loses a few percent).
* Decoding (distillation shards, test translation, train.bleu_at): on a GPU, the speed jobs'
  estimate (natpipe/speed_estimate.py: HRT Table 10's published per-system times on a 2080Ti,
  through each System's speed_cost; scripts/plan.py calls it); on the CPU, sentences / the CPU
  decoding anchor scaled by the FLOPs of one sentence (encoder over the source, `beam` x decoder
  + output over the target for beam search, a NAT's passes over its length).
* Every GPU job also pays JOB_STARTUP_S (assumed: start, CUDA init, loading data and checkpoints).

What the anchors are worth
--------------------------
The GPU training anchor is one of the two GPU measurements the project has (the first run of the default DAG
on one NVIDIA H200): small models, fp32, jobs side by side. Such a model keeps an H200 far from
busy (the figures imply ~2 TFLOP/s), and per-update / per-step overhead, not arithmetic, set its
speed, so carrying them to larger models by FLOPs *overstates* time: read the GPU-hours as an
upper bound (probably by an order of magnitude for the 6-layer 512-wide models in fp16) until
`scripts/plan.py --measure --device cuda` has timed the preset's own architectures. Scaled to
Transformer-base, the H200 anchor gives ~6k batch tokens/s per GPU, below what Vaswani et al.
(2017) measured per P100 (7.8k target tokens/s): P100-era GPU-hours. On the CPU, which is
compute-bound, FLOPs scaling from the sample teacher was checked on three measured architectures
(CPU_MEASURED): Transformer-base within 5 %, a CTC model within 18 %, the 12-1 deep-shallow AT
42 % slower than measured (deep encoders cost less per FLOP than decoders).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from natpipe.config import update_freq
from natpipe.systems.mtnat.system import ar_decoders_trained, ar_sources

JOB_STARTUP_S = 60.0  # assumed per GPU job: scheduler start, torch/CUDA init, data and checkpoint loading

# The sample teacher (config.yaml at_sample): the architecture every anchor below was measured on.
SAMPLE_TEACHER = {"encoder_layers": 3, "decoder_layers": 3, "embed_dim": 256, "ffn_dim": 1024, "heads": 4}
SAMPLE_VOCAB = 4144  # fairseq's dictionary of the sample (BPE 4k): 4,140 types in data-bin/dict.de.txt + 4 specials
SAMPLE_LENGTHS = (14.5, 17.0)  # mean source / target subword tokens per sentence, </s> included (sample train split)

# fairseq's transformer defaults, for a model that leaves a size unset
DEFAULT_ARCH = {"encoder_layers": 6, "decoder_layers": 6, "embed_dim": 512, "ffn_dim": 2048, "heads": 8}


@dataclass(frozen=True)
class Anchor:
    """One measured throughput: `rate` batch tokens/s per device (training) or sentences/s
    (decoding) of `arch` with a `vocab`-sized output layer."""

    kind: str  # train | decode
    device: str  # cuda | cpu
    rate: float
    hardware: str
    how: str
    arch: dict = field(default_factory=lambda: dict(SAMPLE_TEACHER))
    vocab: int = SAMPLE_VOCAB
    beam: int = 5  # decoding anchors
    lengths: tuple = SAMPLE_LENGTHS
    measured: bool = True


# -- the anchors ------------------------------------------------------------------------------
GPU_TRAIN = Anchor(
    "train", "cuda", 1500 * 4096 / 107.0,
    "1 NVIDIA H200 (first GPU run of the default DAG: torch 2.11+cu130, fairseq built from source, fp32)",
    "at_sample (3+3 layers, 256/1024/4, pre-norm, BPE 4k): 1,500 updates of max_tokens 4,096 in 107 s of job "
    "wall time (start-up, validation and checkpoints included; other training jobs shared the GPU) = 57,421 batch "
    "tokens/s (README 'Running on a GPU cluster'; configs/sample_gpu.yaml). KD+CTC ran at the same 14.0 updates/s "
    "on that GPU with a 3x longer decoder: the small models were overhead-bound, not compute-bound")
GPU_DECODE = Anchor(
    "decode", "cuda", 96.0,
    "1 NVIDIA H200 (first GPU run of the default DAG)",
    "a distillation shard of at_sample, beam 5, max_tokens 8,000: 96 sentences/s per shard (README 'Distill'; "
    "before the shard speed-ups that came after that run)")
CPU_DECODE = Anchor(
    "decode", "cpu", 28.3,
    "2-core CPU machine, 1 thread",
    "scripts/bench_distill.py: natpipe's distillation shard of at_sample, 1,000 training sentences, beam 5, "
    "max-len 1.2 x src + 10, median of 3 alternated rounds (README 'Distill')")

# Measured for this cost model on the 2-core CI machine (AMD EPYC, 2 cores shared with other jobs,
# torch 2.13.0+cpu, 2 threads): `scripts/plan.py --measure --device cpu --threads 2 --max-tokens 1024`,
# fairseq-train through natpipe's own flags on a synthetic corpus with the model's vocabulary
# (17-token sentences for the sample, 30 for WMT14 En-De), update_freq 1; at_sample 2 warm-up + 5
# timed updates, the others 1 + 3. Batch tokens/s, and what FLOPs scaling from at_sample predicts:
CPU_MEASURED = {  # model: (batch tokens/s measured, architecture, vocabulary)
    "at_sample": (1346.0, dict(SAMPLE_TEACHER), SAMPLE_VOCAB),  # config.yaml; 1,136 target tokens/s
    "at_base": (144.0, {"encoder_layers": 6, "decoder_layers": 6, "embed_dim": 512, "ffn_dim": 2048, "heads": 8},
                40004),  # wmt14_en_de; FLOPs scaling predicts 137 (-5 %)
    "at_12_1": (243.0, {"encoder_layers": 12, "decoder_layers": 1, "embed_dim": 512, "ffn_dim": 2048, "heads": 8},
                40004),  # wmt14_en_de; predicted 142 (-42 %: a deep encoder costs less per FLOP than a decoder)
    "fnat_kd_ctc": (48.0, {"encoder_layers": 6, "decoder_layers": 6, "embed_dim": 512, "ffn_dim": 2048, "heads": 8,
                           "loss": "ctc", "upsample_ratio": 3.0}, 40004),  # wmt14_en_de; predicted 57 (+18 %)
}
CPU_TRAIN = Anchor(
    "train", "cpu", CPU_MEASURED["at_sample"][0],
    "2-core CPU machine (AMD EPYC, shared), 2 threads, torch 2.13.0+cpu",
    "at_sample, max_tokens 1,024: scripts/plan.py --measure --device cpu (2 warm-up + 5 timed fairseq-train updates)")

# Not ours, for comparison only: Vaswani et al. (2017) §5.2, [V17] of the presets: Transformer-base on
# 8 NVIDIA P100, ~25,000 target tokens per step, 0.4 s per step (fp32, 37k shared BPE vocabulary).
V17_P100_BASE = Anchor(
    "train", "cuda", 25000 / 0.4 / 8, "NVIDIA P100 (published: Vaswani et al. 2017, 8 GPUs)",
    "Transformer-base, ~25k target tokens per step in 0.4 s on 8 P100s (§5.2)",
    arch={"encoder_layers": 6, "decoder_layers": 6, "embed_dim": 512, "ffn_dim": 2048, "heads": 8},
    vocab=37000, measured=False)


def cpu_train_anchor() -> Anchor:
    return CPU_TRAIN


# -- corpus sizes the config does not hold -----------------------------------------------------
@dataclass(frozen=True)
class CorpusSize:
    train: int | None  # training pairs (after cleaning where the source says so)
    test: int | None  # test sentences
    valid: int | None
    target_tokens: float  # mean target subword tokens per sentence, </s> included
    source: str
    measured_length: bool = False


WMT_LENGTH = 30.0  # assumed for WMT-style data after 32-40k BPE/SentencePiece (not measured here)
TED_LENGTH = 22.0  # assumed for TED talks; word-level mean of IWSLT14 en is 21.4 (fairseq-lua issue 35 log)

SIZES = {
    # the embedded sample: sizes counted from data/sample (local files), lengths measured on its train split
    "sample_en_de": CorpusSize(None, None, None, SAMPLE_LENGTHS[1], "data/sample (split sizes counted from the files; "
                               "17.0 target tokens per sentence measured on its BPE-4k train split)", True),
    "wmt14_en_de": CorpusSize(4_000_000, 3003, 3000, WMT_LENGTH,
                              "4.0M pairs after cleaning ([FNAT] §4.1; 4.5M raw, [HRT] §6); newstest2014 full 3,003, "
                              "newstest2013 3,000 (configs/README, [hf-wmt14])"),
    "wmt14_de_en": CorpusSize(4_000_000, 3003, 3000, WMT_LENGTH, "as wmt14_en_de"),
    "wmt16_en_ro": CorpusSize(610_320, 1999, 1999, WMT_LENGTH,
                              "610,320 pairs ([hf-wmt16]; 610k [FNAT] §4.1); newstest2016 / newsdev2016 1,999 each"),
    "wmt16_ro_en": CorpusSize(610_320, 1999, 1999, WMT_LENGTH, "as wmt16_en_ro"),
    "iwslt14_de_en": CorpusSize(160_215, 6750, 7282, TED_LENGTH,
                                "160k pairs ([MTNAT] §4); fairseq prepare-iwslt14.sh: 160,215 train, 7,282 valid, "
                                "6,750 test (preprocess log in fairseq-lua issue 35)"),
    "wmt14_en_fr": CorpusSize(35_800_000, 3003, 3000, WMT_LENGTH, "35.8M pairs ([XLMD] Table 3); newstest2014 3,003"),
    "wmt20_ja_en": CorpusSize(660_000, 993, 1998, WMT_LENGTH,
                              "~0.66M pairs (KFTT + TED, the preset's note); newstest2020 ja-en 993, newsdev2020 1,998 "
                              "(sizes of the WMT20 sets, not checked here)"),
    "iwslt17_ko_en": CorpusSize(230_240, None, 879, TED_LENGTH,
                                "230,240 train, 879 dev2010 ([hf-iwslt17]); tst2015 size not recorded"),
    "iwslt17_ar_en": CorpusSize(231_713, None, 888, TED_LENGTH,
                                "231,713 train, 888 dev2010 ([hf-iwslt17]); tst2015 size not recorded"),
    "nist_zh_en": CorpusSize(1_800_000, 919, 878, WMT_LENGTH, "1.8M pairs ([HRT] §6); MT03 919, MT02 878 sentences"),
}
UNKNOWN_TEST = 3000  # test/valid sentences assumed where neither the table nor a local file says


# -- FLOPs --------------------------------------------------------------------------------------
def arch_of(model: dict) -> dict:
    return {k: model.get(k) or DEFAULT_ARCH[k] for k in DEFAULT_ARCH}


def matmul_params(model: dict, vocab: int) -> dict:
    """Parameters in the matmuls: per encoder position, per decoder position, output layer."""
    a = arch_of(model)
    d, f = a["embed_dim"], a["ffn_dim"]
    encoder_layers, decoder = a["encoder_layers"], a["decoder_layers"] * (8 * d * d + 2 * d * f)
    if "decorator_layer" in model:  # XLM-D: layers 1..M over the source, the rest (no cross-attention) over s*I
        encoder_layers = model["decorator_layer"]
        decoder = (_xlmd_depth(model) - encoder_layers) * (4 * d * d + 2 * d * f) + d * d  # + the LM head's dense
    return {"encoder": encoder_layers * (4 * d * d + 2 * d * f),
            "decoder": decoder,
            "output": d * vocab,
            # a VAE posterior: its encoder over the target and its decoder over the source positions
            "posterior": _posterior_layers(model) * (12 * d * d + 4 * d * f),
            # one weak AR decoder of multi-task NAT per target position: its ar_layers decoder layers
            # (self-attention, cross-attention to the states it reads, FFN) and its output layer
            "ar": int(model.get("ar_layers") or 0) * (8 * d * d + 2 * d * f) + d * vocab}


def _xlmd_depth(model: dict) -> int:
    from natpipe.systems.xlmd.system import depth

    return depth(model)


def _posterior_layers(model: dict) -> int:
    vae = model.get("vae")
    return int(vae.get("posterior_layers", 0)) if isinstance(vae, dict) else 0


def ar_decoders(model: dict) -> int:
    """Weak AR decoders trained per update ([MTNAT] §3, natpipe/systems/mtnat): one per NAR decoder
    layer (ar_attach decoder), one more on the encoder (decoder+encoder), or one on the encoder only
    (encoder); with ar_layer_dropout a random floor(n/2) of them (at least 1). 0 for other kinds.
    The key and value projections of their cross-attention run over the states they read (with CTC
    upsample_ratio x the source); like every cross-attention here they are counted once per target
    position (with CTC an undercount of 2d^2 x (upsample_ratio - 1) per AR layer and target token).
    Against [MTNAT] Table 3 (IWSLT14, CTC, 1-layer AR decoders): 31.2 h with all 6+1 AR decoders and
    20.3 h with layer dropout vs 17.3 h for CTC alone, 1.80x and 1.17x; this model predicts 1.59x and
    1.25x at that size (10k vocabulary, upsample_ratio 3), 1.87x and 1.53x if those rows also glance
    (tests/test_plan.py). No per-decoder cost fits both measurements (+0.80x for 7 decoders, +0.17x
    for 3): read the MT-NAT training hours as a FLOPs estimate, like every other here."""
    if not model.get("ar_layers"):
        return 0
    attached = len(ar_sources(arch_of(model)["decoder_layers"], model.get("ar_attach", "decoder")))
    return ar_decoders_trained(attached, bool(model.get("ar_layer_dropout")))


def shape(model: dict) -> dict:
    """How a system's training differs from a plain Transformer's per token, read from its
    resolved settings: decoder length / target length, decoder passes with gradients per
    sentence, decoder passes without gradients (forward only), weak AR decoders trained per update
    (each over the target length, after the NAR decoder's last pass)."""
    ratio = float(model["upsample_ratio"]) if model.get("loss") == "ctc" and model.get("upsample_ratio") else 1.0
    if "decorator_layer" in model:  # XLM-D: CTC over s*I positions; the Viterbi pass of iterative training
        ratio = float(model["upsample_ratio"])
    passes = 1.0
    if model.get("chunk_size"):  # HRT: two of its four tasks per sentence (primary Skip-AT over 1/k of the
        k = model["chunk_size"]  # length + Skip-CMLM, or auxiliary AT + CMLM), primary with p_k = (t/T)^lambda
        curriculum = model.get("curriculum") or {}
        primary = 1.0 / (1.0 + curriculum.get("lambda", 1.0)) if curriculum.get("enabled", True) else 1.0
        passes = primary * (1.0 + 1.0 / k) + (1.0 - primary) * 2.0
    # GLAT's first decoding pass; XLM-D's all-[MASK] pass that finds the best alignment
    no_grad = 1.0 if model.get("glancing") == "glat" or model.get("add_and_scale") else 0.0
    # hint-NART's frozen AR teacher (its size: the hints pair its layers) runs forward on every batch
    teacher = 1.0 if model.get("hint_lambda") or model.get("hint_mu") else 0.0
    return {"decoder_ratio": ratio, "passes": passes, "forward_only": no_grad, "ar_decoders": ar_decoders(model),
            "teacher_forward": teacher}


def train_flops_per_token(model: dict, vocab: int) -> float:
    p, s = matmul_params(model, vocab), shape(model)
    decoder = (p["decoder"] + p["output"]) * s["decoder_ratio"]
    return (6.0 * (p["encoder"] + s["passes"] * decoder + p["posterior"] + s["ar_decoders"] * p["ar"])
            + 2.0 * s["forward_only"] * decoder + 2.0 * s["teacher_forward"] * (p["encoder"] + p["decoder"] + p["output"]))


def decode_flops_per_sentence(model: dict, vocab: int, src_len: float, tgt_len: float, beam: int | None = None) -> float:
    """Forward FLOPs (2 per parameter) of translating one sentence with the model's decoding
    (`model["generate"]`, a row's variant merged in): autoregressive beam search over every target
    token; iterative refinement (`iterations` x length beam); HRT's Skip-AT beam over 1/k of the
    target and one Skip-CMLM pass per completed hypothesis; Fully NAT's one pass over the upsampled
    length per NPD candidate (its CTC beam search and LM run on the CPU: not counted); hint-NART's
    pass over its 2B+1 length candidates and, with B > 0, the teacher's forced pass over them;
    XLM-D's layers 1..M once and the others T times over s times the source length."""
    p, generate = matmul_params(model, vocab), model.get("generate") or {}
    step = p["decoder"] + p["output"]
    beam = beam or generate.get("beam", 5)
    if "decorator_layer" in model:  # XLM-D: T passes over s*I positions, no beam
        target = generate.get("iterations", 1) * step * src_len * float(model["upsample_ratio"])
    elif "iterations" in generate:
        target = generate["iterations"] * beam * step * tgt_len
    elif model.get("chunk_size"):
        target = beam * step * tgt_len / model["chunk_size"] + generate.get("b_nat", 1) * step * tgt_len
    elif "npd" in generate:
        target = generate.get("npd", 1) * step * tgt_len * shape(model)["decoder_ratio"]
    elif "halfwidth" in generate:  # hint-NART: 2B+1 length candidates, the teacher's forced pass over them
        candidates = 2 * generate["halfwidth"] + 1
        target = candidates * step * tgt_len * (2 if candidates > 1 else 1)
    else:
        target = beam * step * tgt_len
    return 2.0 * (p["encoder"] * src_len + target)


# -- throughput -------------------------------------------------------------------------------
def scaled_train_rate(anchor: Anchor, model: dict, vocab: int) -> float:
    """Batch tokens/s per device of `model`: the anchor's, times its FLOPs per token over the model's."""
    return anchor.rate * train_flops_per_token(anchor.arch, anchor.vocab) / train_flops_per_token(model, vocab)


def scaled_decode_rate(anchor: Anchor, model: dict, vocab: int, lengths: tuple, beam: int | None = None) -> float:
    """Sentences/s of `model` on sentences of `lengths` (mean source, target tokens)."""
    reference = decode_flops_per_sentence({**anchor.arch, "generate": {"beam": anchor.beam}}, anchor.vocab,
                                          *anchor.lengths)
    return anchor.rate * reference / decode_flops_per_sentence(model, vocab, *lengths, beam=beam)


def batch_tokens(train: dict, gpus: int) -> int:
    """Batch tokens of one update: max_tokens x update_freq x devices."""
    return train.get("max_tokens", 4096) * update_freq(train, gpus) * max(gpus, 1)


def train_device_seconds(model: dict, gpus: int, rate: float) -> float:
    """Device-seconds (GPU-seconds, or seconds of one CPU job) of a whole training run at `rate`
    batch tokens/s per device, start-up excluded."""
    return model["train"]["max_update"] * batch_tokens(model["train"], gpus) / rate


def fmt_hours(value: float | None) -> str:
    if value is None:
        return "n/e"
    if value == 0:
        return "0"
    return f"{value:,.1f}" if value >= 1 else f"{value:.2f}"


def fmt_rate(value: float) -> str:
    return f"{value:,.0f}" if value >= 100 else f"{value:.3g}"


def implied_tflops(anchor: Anchor) -> float:
    """The FLOP rate a training anchor implies (TFLOP/s): how busy it kept its device."""
    return anchor.rate * train_flops_per_token(anchor.arch, anchor.vocab) / 1e12
