"""The cost plan (scripts/plan.py, natpipe/costs.py): its job counts against Snakemake's own dry run,
one training job's GPU-hours against a hand computation from the preset's numbers, the measuring
path and its throughput file, and the errors a user sees."""
import json
import re
import subprocess
import sys

import pytest
import yaml

from conftest import REPO, snakemake
from natpipe import costs

PLAN = [sys.executable, str(REPO / "scripts" / "plan.py")]
GPU_RULES = {"train_model", "distill_shard", "translate_test", "measure_speed"}


def dry_run_counts(*args) -> dict[str, int]:
    """Snakemake's own job-count table ("Job stats") of a dry run."""
    out = snakemake("-n", "--forceall", *args, check=True).stdout
    table = out.split("Job stats:")[1].split("\ntotal")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)\s*$", table, re.M)}


def run_plan(*args, check=True) -> subprocess.CompletedProcess:
    result = subprocess.run([*PLAN, *map(str, args)], capture_output=True, text=True, cwd=REPO, timeout=600)
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


def plan_json(*args) -> dict:
    return json.loads(run_plan("--json", *args).stdout)


@pytest.mark.parametrize("preset", [None, "wmt14_en_de"])
def test_job_counts_equal_those_of_snakemakes_dry_run(preset):
    """The default DAG (LM, latent PCA, synthetic masking, two shards) and the largest preset (58
    trainings, a second teacher, 16 shards, one speed job per row)."""
    dag = dry_run_counts(*(["--configfile", f"configs/{preset}.yaml"] if preset else []))
    plan = plan_json(*(["--preset", preset] if preset else []))["jobs"]
    assert GPU_RULES & set(dag) <= set(plan)  # every GPU job kind is planned
    assert plan == {rule: dag.get(rule, 0) for rule in plan}


def test_one_training_jobs_gpu_hours_equal_a_hand_computation():
    """at_base of wmt14_en_de: max_update x (max_tokens x update_freq x GPUs) batch tokens at the
    H200 anchor's rate (the sample teacher: 1,500 updates of 4,096 tokens in 107 s) scaled by the
    FLOPs per token of the two architectures (6 x the matmul parameters), plus 60 s of start-up on
    each of its GPUs."""
    preset = yaml.safe_load((REPO / "configs" / "wmt14_en_de.yaml").read_text())
    model, gpus = preset["models"]["at_base"], preset["compute"]["gpus_per_training_job"]
    train = model["train"]
    max_tokens = train.get("max_tokens", 4096)
    update_freq = max(1, round(train["effective_batch_tokens"] / (max_tokens * gpus)))
    vocab = preset["corpora"]["wmt14_en_de"]["preprocess"]["subword"]["operations"] + 4  # BPE types + specials

    def flops(enc, dec, d, ffn, v):
        return 6 * (enc * (4 * d * d + 2 * d * ffn) + dec * (8 * d * d + 2 * d * ffn) + d * v)

    rate = (1500 * 4096 / 107) * flops(3, 3, 256, 1024, 4144) / flops(
        model["encoder_layers"], model["decoder_layers"], model["embed_dim"], model["ffn_dim"], vocab)
    hours = train["max_update"] * max_tokens * update_freq * gpus / rate / 3600 + 60 * gpus / 3600
    assert plan_json("--preset", "wmt14_en_de")["train_model"]["at_base"] == pytest.approx(hours, rel=1e-9)


# MT-NAT's cost against a hand computation at IWSLT14 base size: 6+6 layers, 512/2048, BPE 10k + 4 specials,
# CTC upsampled 3x (the configuration of [MTNAT] Table 3).
D, FFN, VOCAB = 512, 2048, 10004
ENCODER = 6 * (4 * D * D + 2 * D * FFN)  # matmul parameters per source position
DECODER = 6 * (8 * D * D + 2 * D * FFN) + D * VOCAB  # per decoder position, output layer included
WEAK_AR = (8 * D * D + 2 * D * FFN) + D * VOCAB  # one 1-layer weak AR decoder per target position
CTC_MODEL = {"kind": "fnat", "encoder_layers": 6, "decoder_layers": 6, "embed_dim": D, "ffn_dim": FFN, "heads": 8,
             "loss": "ctc", "upsample_ratio": 3.0, "glancing": "none", "vae": None}
MTNAT_MODEL = {**CTC_MODEL, "kind": "mtnat", "ar_layers": 1, "ar_attach": "decoder", "ar_share": False,
               "ar_layer_dropout": False}


@pytest.mark.parametrize("keys, trained", [
    ({"ar_attach": "decoder+encoder"}, 7), ({"ar_attach": "decoder+encoder", "ar_layer_dropout": True}, 3),
    ({}, 6), ({"ar_layer_dropout": True}, 3), ({"ar_share": True, "ar_layer_dropout": True}, 3),
    ({"ar_attach": "encoder"}, 1), ({"ar_attach": "encoder", "ar_layer_dropout": True}, 1)])
def test_mtnat_training_flops_add_the_trained_weak_ar_decoders(keys, trained):
    """6 x matmul parameters per token: the CTC model's (encoder, 3x upsampled decoder and output layer)
    plus, for each AR decoder trained in an update, its layers and its output layer per target token
    ([MTNAT] §3: one per NAR decoder layer, a 7th on the encoder with decoder+encoder, Hao et al. 2021's
    one on the encoder; layer dropout trains floor(n/2) of them; sharing changes the parameters, not
    the FLOPs)."""
    ctc = 6 * (ENCODER + 3 * DECODER)
    assert costs.train_flops_per_token(CTC_MODEL, VOCAB) == pytest.approx(ctc, rel=1e-12)
    model = {**MTNAT_MODEL, **keys}
    assert costs.train_flops_per_token(model, VOCAB) == pytest.approx(ctc + 6 * trained * WEAK_AR, rel=1e-12)


def test_mtnat_cost_of_deeper_ar_decoders_glancing_and_against_the_papers_table_3():
    """Hao et al. 2021's 6-layer AR decoder (Table 1's CTC+MTL); glancing's forward-only pass covers the
    NAR decoder, not the AR decoders. Against [MTNAT] Table 3 (IWSLT14, measured): all 6+1 AR decoders
    31.2 h and layer dropout 20.3 h vs CTC 17.3 h, 1.80x and 1.17x; FLOPs predict 1.59x and 1.25x
    (1.87x and 1.53x if Table 3's rows glance, as the preset assumes: its BLEU is the glancing row's)."""
    ctc = 6 * (ENCODER + 3 * DECODER)
    mtl = {**MTNAT_MODEL, "ar_attach": "encoder", "ar_layers": 6}
    assert costs.train_flops_per_token(mtl, VOCAB) == pytest.approx(
        ctc + 6 * (6 * (8 * D * D + 2 * D * FFN) + D * VOCAB), rel=1e-12)
    glat = {**MTNAT_MODEL, "glancing": "glat"}
    assert costs.train_flops_per_token(glat, VOCAB) == pytest.approx(ctc + 6 * 6 * WEAK_AR + 2 * 3 * DECODER, rel=1e-12)

    def ratio(**keys):
        return costs.train_flops_per_token({**MTNAT_MODEL, **keys}, VOCAB) / ctc

    assert round(ratio(ar_attach="decoder+encoder"), 2) == 1.59  # paper 31.2 / 17.3 = 1.80
    assert round(ratio(ar_attach="decoder+encoder", ar_layer_dropout=True), 2) == 1.25  # paper 20.3 / 17.3 = 1.17
    assert round(ratio(ar_attach="decoder+encoder", glancing="glat"), 2) == 1.87
    assert round(ratio(ar_attach="decoder+encoder", ar_layer_dropout=True, glancing="glat"), 2) == 1.53


def test_an_mtnat_training_jobs_gpu_hours_equal_a_hand_computation():
    """mtnat_ctc_share_drop of iwslt14_de_en (glancing, 6 AR decoders of which 3 train per update):
    250k updates of 16,384 tokens on 1 GPU at the H200 anchor's rate scaled by FLOPs per token."""
    preset = yaml.safe_load((REPO / "configs" / "iwslt14_de_en.yaml").read_text())
    model, gpus = preset["models"]["mtnat_ctc_share_drop"], preset["compute"]["gpus_per_training_job"]
    assert (model["ar_share"], model["ar_layer_dropout"], model["glancing"], gpus) == (True, True, "glat", 1)
    train = model["train"]
    sample = 6 * (3 * (4 * 256 * 256 + 2 * 256 * 1024) + 3 * (8 * 256 * 256 + 2 * 256 * 1024) + 256 * 4144)
    flops = 6 * (ENCODER + 3 * DECODER + 3 * WEAK_AR) + 2 * 3 * DECODER
    rate = (1500 * 4096 / 107) * sample / flops
    hours = train["max_update"] * train["effective_batch_tokens"] / rate / 3600 + 60 / 3600
    assert plan_json("--preset", "iwslt14_de_en")["train_model"]["mtnat_ctc_share_drop"] == pytest.approx(hours, rel=1e-9)


def test_an_unknown_preset_is_one_clear_error():
    result = run_plan("--preset", "wmt99_xx_yy", check=False)
    assert result.returncode == 1 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "unknown preset 'wmt99_xx_yy'" in result.stderr and "wmt14_en_de" in result.stderr


def test_make_plan_runs_the_script_on_the_preset():
    out = subprocess.run(["make", "-n", "plan", "PRESET=wmt16_en_ro", "PLAN_FLAGS=--by-table"], cwd=REPO,
                         capture_output=True, text=True, timeout=60).stdout
    assert re.search(r"python scripts/plan\.py --preset wmt16_en_ro\s+--by-table", out), out


def test_measure_writes_throughputs_that_the_plan_then_uses(tmp_path):
    """A tiny teacher timed for real (fairseq-train, 1 warm-up + 2 updates on the CPU): the plan
    costs it at the measured rate instead of the anchor's."""
    overlay = tmp_path / "tiny.yaml"
    overlay.write_text(yaml.safe_dump({"models": {"at_sample": {
        "encoder_layers": 1, "decoder_layers": 1, "embed_dim": 32, "ffn_dim": 64, "heads": 2,
        "train": {"max_tokens": 256}}}}))
    out = tmp_path / "throughput.json"
    run_plan("--measure", "--configfile", overlay, "--device", "cpu", "--threads", "1", "--updates", "2",
             "--warmup", "1", "--measure-models", "at_sample", "--out", out)
    measured = json.loads(out.read_text())
    entry = measured["train"]["at_sample"]
    assert measured["device"] == "cpu" and "CPU" in measured["hardware"]
    assert entry["updates"] == 2 and entry["max_tokens"] == 256 and entry["batch_tokens_per_s"] > 0
    default = yaml.safe_load((REPO / "config.yaml").read_text())["models"]["at_sample"]["train"]
    hours = default["max_update"] * 256 * default.get("update_freq", 1) / entry["batch_tokens_per_s"] / 3600
    plan = plan_json("--configfile", overlay, "--throughput", out)
    assert plan["train_model"]["at_sample"] == pytest.approx(hours, rel=1e-9)


def test_hint_nart_cost_adds_the_teachers_forward_pass_and_rescoring():
    """Training: the student's 6 x (encoder + decoder + output) per token plus the frozen teacher's
    forward pass, 2 x the same (the hints pair layers, so the teacher has the student's size); none
    without hints. Decoding: one pass at the single length; with B > 0, 2B+1 candidates and the
    teacher's forced pass over them."""
    model = {"kind": "hint_nart", "encoder_layers": 6, "decoder_layers": 6, "embed_dim": D, "ffn_dim": FFN, "heads": 8,
             "hint_lambda": 15.0, "hint_mu": 4.0, "generate": {"halfwidth": 0}}
    assert costs.train_flops_per_token(model, VOCAB) == pytest.approx(8 * (ENCODER + DECODER), rel=1e-12)
    plain = {**model, "hint_lambda": 0, "hint_mu": 0}
    assert costs.train_flops_per_token(plain, VOCAB) == pytest.approx(6 * (ENCODER + DECODER), rel=1e-12)
    single = costs.decode_flops_per_sentence(model, VOCAB, 20, 22)
    assert single == pytest.approx(2 * (20 * ENCODER + 22 * DECODER), rel=1e-12)
    rescored = costs.decode_flops_per_sentence({**model, "generate": {"halfwidth": 4}}, VOCAB, 20, 22)
    assert rescored == pytest.approx(2 * (20 * ENCODER + 2 * 9 * 22 * DECODER), rel=1e-12)


def test_xlmd_cost_counts_the_source_layers_once_and_the_others_over_s_times_the_source():
    """XLM-R base (12 layers of 4d^2 + 2df, no cross-attention), M = 6, s = 2: training runs layers
    1..6 over the source and, per target token, layers 7..12 with the LM head (dense d^2 + output)
    over s = 2 positions, with gradients and once more without (the Viterbi pass); 'LT only'
    has no second pass. Decoding: T passes of the upper part over s * |x| positions."""
    layer = 4 * D * D + 2 * D * FFN
    upper = 6 * layer + D * D + D * VOCAB
    model = {"kind": "xlmd", "arch": "xlmd_base", "encoder_layers": 12, "embed_dim": D, "ffn_dim": FFN, "heads": 8,
             "decorator_layer": 6, "upsample_ratio": 2.0, "add_and_scale": True, "generate": {"iterations": 4}}
    assert costs.train_flops_per_token(model, VOCAB) == pytest.approx(6 * (6 * layer + 2 * upper) + 2 * 2 * upper,
                                                                     rel=1e-12)
    lt_only = {**model, "add_and_scale": False}
    assert costs.train_flops_per_token(lt_only, VOCAB) == pytest.approx(6 * (6 * layer + 2 * upper), rel=1e-12)
    assert costs.decode_flops_per_sentence(model, VOCAB, 20, 22) == pytest.approx(
        2 * (20 * 6 * layer + 4 * 2 * 20 * upper), rel=1e-12)
