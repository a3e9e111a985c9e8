"""The tiny corpus and config shared by the end-to-end tests (tests/test_e2e.py runs the whole DAG
locally; tests/test_slurm.py runs part of it through a SLURM cluster and compares)."""
from pathlib import Path

import yaml

from conftest import REPO

N_TRAIN, N_HELDOUT = 400, 43  # 43: not a multiple of fairseq's batch-size multiple (8)
TINY = {"kind": "at", "arch": "transformer", "encoder_layers": 1, "decoder_layers": 1,
        "embed_dim": 32, "ffn_dim": 64, "heads": 2,
        "train": {"max_tokens": 1024, "max_update": 30, "save_interval_updates": 10, "average_last": 2,
                  "warmup_updates": 10, "lr": 0.002},
        "generate": {"beam": 2, "max_tokens": 2000, "max_len_a": 1.2, "max_len_b": 5}}
TINY_NAT = {**TINY, "kind": "nat", "arch": "nonautoregressive_transformer", "data": "distill",
            "generate": {"iterations": 1, "beam": 1}}
TINY_CMLM = {**TINY_NAT, "kind": "cmlm", "arch": "cmlm_transformer", "generate": {"iterations": 4, "beam": 2},
             "variants": {"CMLM1": {"iterations": 1}, "CMLM4": {}}}
TINY_HRT = {**TINY, "kind": "hrt", "arch": "hrt_transformer", "init_from": "at_tiny", "data": "mixdistill",
            "paper_name": "HRT",
            "p_raw": 0.2, "chunk_size": 2, "generate": {"beam": 5, "b_nat": 1, "max_len_a": 1.2, "max_len_b": 5},
            # Table 7's swap path, here with the model itself: must equal the plain row
            "variants": {"HRT": {}, "HRT_swap": {"skip_cmlm_from": "hrt_tiny", "paper_name": None}}}
# Fully NAT: KD+CTC+VAE+GLAT decoded greedily, by CTC beam search with the tuned 4-gram LM, and by NPD;
# and an MT-NAT model on CE with RND glancing (golden length in training, the length predictor's at test
# time), its weak AR decoders on the decoder layer and the encoder sharing parameters, one of them per update
TINY_FNAT = {**TINY, "kind": "fnat", "arch": "fully_nat_transformer", "data": "distill", "paper_name": "FNAT",
             "loss": "ctc", "upsample_ratio": 3, "vae": {"latent_dim": 4, "posterior_layers": 1}, "glancing": "glat",
             "train": {**TINY["train"], "label_smoothing": 0.01}, "generate": {"ctc_beam": 1},
             "variants": {"FNAT": {}, "FNAT_beam_lm": {"ctc_beam": 5, "lm": True}, "FNAT_npd": {"npd": 3}}}
TINY_MTNAT = {**TINY, "kind": "mtnat", "arch": "mtnat_transformer", "data": "distill", "loss": "ce", "paper_name": "MTNAT",
              "glancing": "rnd", "ar_attach": "decoder+encoder", "ar_share": True, "ar_layer_dropout": True,
              "generate": {}}
# Hint-based NART with both hints from at_tiny (same depth and heads), decoded at T_x + C and with
# 5 length candidates rescored by the teacher
TINY_HINT = {**TINY, "kind": "hint_nart", "arch": "hint_nart_transformer", "data": "distill", "paper_name": "HINT",
             "generate": {"max_tokens": 2000}, "variants": {"HINT": {}, "HINT_B2": {"halfwidth": 2}}}
# XLM-D from the test's XLM-R-shaped checkpoint (tests/tiny_xlmr.py: 2 layers, 32 wide, its own
# SentencePiece model and dict.txt), served over HTTP and fetched by the download rule; the
# decorator after layer 1, decoded in 2 steps
TINY_XLMD = {"kind": "xlmd", "arch": "xlmd_base", "encoder_layers": 2, "embed_dim": 32, "ffn_dim": 64, "heads": 2,
             "pretrained": "xlmr_tiny", "data": "distill", "decorator_layer": 1, "paper_name": "XLMD",
             "train": TINY["train"], "generate": {"iterations": 2, "max_tokens": 2000}}
XLMR_ARCHIVE = "xlmr/xlmr.tiny.tar.gz"  # under the run's directory
UNSERVED = "http://127.0.0.1:9/xlmr.tiny.tar.gz"  # runs that never build the XLM-D row (the SLURM scenario)
# the evaluation rows in the workflow's order: each model's rows, then its CTranslate2 rows
ROWS = ["at_tiny", "at_tiny_ct2_int8", "at_tiny_md", "at_tiny_md_ct2_int8", "nat_tiny", "CMLM1", "CMLM4", "HRT",
        "HRT_swap", "FNAT", "FNAT_beam_lm", "FNAT_npd", "mtnat_tiny", "HINT", "HINT_B2", "xlmd_tiny"]
# 3 speed jobs of 5, 5 and 5 rows (in ROWS order), each also timing the reference; the first 8 test sentences
SPEED = {"batch_sizes": [1, 4, 8], "runs": 2, "warmup_batches": 1, "max_sentences": 8, "rows_per_job": 5,
         "test_sentences": N_HELDOUT}  # the runtime estimate assumes newstest2014's 3,003 otherwise


def write_tiny_corpus(work: Path) -> None:
    """The first sentence pairs of the embedded sample as local files work/{split}.{en,de}."""
    for split, count in (("train", N_TRAIN), ("valid", N_HELDOUT), ("test", N_HELDOUT)):
        for lang in ("en", "de"):
            lines = (REPO / "data" / "sample" / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
            (work / f"{split}.{lang}").write_text("\n".join(lines[:count]) + "\n", encoding="utf-8")


def write_tiny_xlmr(work: Path) -> Path:
    """The XLM-R-shaped archive at work/XLMR_ARCHIVE, its SentencePiece model trained on the tiny
    corpus's training text (both sides, as XLM-R's covers every language)."""
    from tiny_xlmr import build_tiny_xlmr

    lines = [line for lang in ("en", "de") for line in
             (REPO / "data" / "sample" / f"train.{lang}").read_text(encoding="utf-8").splitlines()[:N_TRAIN]]
    return build_tiny_xlmr(work / Path(XLMR_ARCHIVE).parent, lines, layers=2, dim=32, ffn=64, heads=2, vocab_size=400)


def tiny_config(work: Path, xlmr_url: str = UNSERVED, xlmr_sha256: str | None = None) -> dict:
    return {
        "run": ["tiny_en_de"],
        "corpora": {"tiny_en_de": {
            "src": "en", "tgt": "de",
            "sources": {s: {"kind": "local", "prefix": str(work / s)} for s in ("train", "valid", "test")},
            "splits": {"train": ["train"], "valid": ["valid"], "test": ["test"]},
            "preprocess": {"clean": {"min_len": 1, "max_len": 80, "ratio": 3},
                           "subword": {"method": "bpe", "operations": 200}},
            "distill": {"shards": 3, "beam": 2, "max_len_a": 1.2, "max_len_b": 5, "stats_sample": 100},
            "teacher": "at_tiny",
            "systems": ["at_tiny", "at_tiny_md", "nat_tiny", "cmlm_tiny", "hrt_tiny", "fnat_tiny", "mtnat_tiny",
                        "hint_tiny", "xlmd_tiny"]}},
        "pretrained": {"xlmr_tiny": {"url": xlmr_url, "sha256": xlmr_sha256, "format": "fairseq"}},
        "models": {"at_tiny": {**TINY, "paper_name": "AT"}, "at_tiny_md": {**TINY, "data": "mixdistill", "p_raw": 0.5},
                   "nat_tiny": TINY_NAT, "cmlm_tiny": TINY_CMLM, "hrt_tiny": TINY_HRT, "fnat_tiny": TINY_FNAT,
                   "mtnat_tiny": TINY_MTNAT, "hint_tiny": TINY_HINT, "xlmd_tiny": TINY_XLMD},
        "ctc_lm": {"alpha_grid": [0.0, 0.5], "beta_grid": [0.0, 1.0]},
        "speed": SPEED,
        # an int8 row of both ATs (at_tiny_md trained with the MixDistill task; float32: tests/test_ctranslate2.py
        # loads the conversion so)
        "ctranslate2": {"cpu": ["int8"], "models": ["at_tiny", "at_tiny_md"]},
        "synthetic": {"p_mask": [0.3, 0.7], "seeds": [1, 2], "chunk_sizes": [2, 3], "reference_row": "CMLM4"},
    }


def write_tiny_config(work: Path, xlmr_url: str = UNSERVED, xlmr_sha256: str | None = None) -> Path:
    write_tiny_corpus(work)
    path = work / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_config(work, xlmr_url, xlmr_sha256)))
    return path
