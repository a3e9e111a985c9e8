"""The real DAG end to end on a tiny corpus: teacher training, averaging, beam search, BLEU,
sharded distillation, and a student trained on MixDistill data.

A few hundred sentence pairs from the sample and one-layer models trained for 30 updates keep
this to about two minutes on 2 cores; the code paths are those of the paper presets.
"""
import json
import re

import pytest
import sacrebleu
import yaml

from conftest import REPO, snakemake

N_TRAIN, N_HELDOUT = 400, 43  # 43: not a multiple of fairseq's batch-size multiple (8)
TINY = {"kind": "at", "arch": "transformer", "encoder_layers": 1, "decoder_layers": 1,
        "embed_dim": 32, "ffn_dim": 64, "heads": 2,
        "train": {"max_tokens": 1024, "max_update": 30, "save_interval_updates": 10, "average_last": 2,
                  "warmup_updates": 10, "lr": 0.002},
        "generate": {"beam": 2, "max_tokens": 2000}}


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("e2e")
    for split, count in (("train", N_TRAIN), ("valid", N_HELDOUT), ("test", N_HELDOUT)):
        for lang in ("en", "de"):
            lines = (REPO / "data" / "sample" / f"{split}.{lang}").read_text(encoding="utf-8").splitlines()
            (work / f"{split}.{lang}").write_text("\n".join(lines[:count]) + "\n", encoding="utf-8")
    config = {
        "run": ["tiny_en_de"],
        "corpora": {"tiny_en_de": {
            "src": "en", "tgt": "de",
            "sources": {s: {"kind": "local", "prefix": str(work / s)} for s in ("train", "valid", "test")},
            "splits": {"train": ["train"], "valid": ["valid"], "test": ["test"]},
            "preprocess": {"clean": {"min_len": 1, "max_len": 80, "ratio": 3},
                           "subword": {"method": "bpe", "operations": 200}},
            "distill": {"shards": 3, "beam": 2, "max_len_a": 1.2, "max_len_b": 5, "stats_sample": 100},
            "teacher": "at_tiny", "systems": ["at_tiny", "at_tiny_md"]}},
        "models": {"at_tiny": TINY, "at_tiny_md": {**TINY, "data": "mixdistill", "p_raw": 0.5}},
    }
    (work / "tiny.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--directory", work, "--configfile", work / "tiny.yaml", "--cores", "2", timeout=900)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return work


def test_bleu_json_matches_sacrebleu_on_the_written_files(tiny_run):
    system = tiny_run / "results" / "tiny_en_de" / "at_tiny"
    result = json.loads((system / "test.bleu.json").read_text())
    assert result["n_sentences"] == N_HELDOUT and result["corpus"] == "tiny_en_de"
    hyps = (system / "test.hyp").read_text(encoding="utf-8").splitlines()
    refs = (tiny_run / "results/tiny_en_de/raw/test.tgt").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == len(refs) == N_HELDOUT
    assert not any("@@" in h for h in hyps)  # subword units removed
    from moses import detokenize_lines

    expected = sacrebleu.corpus_bleu(detokenize_lines(hyps, "de"), [refs]).score
    assert result["sacrebleu"] == pytest.approx(round(expected, 2))
    assert result["signature"].startswith("nrefs:1|case:mixed")


def test_checkpoints_were_averaged_and_training_is_recorded(tiny_run):
    system = tiny_run / "results" / "tiny_en_de" / "at_tiny"
    done = json.loads((system / "train.done.json").read_text())
    assert done["model"]["train"]["max_update"] == 30 and done["gpus"] == 0
    import torch

    import natpipe  # noqa: F401  (allow-lists the types in fairseq checkpoints)

    state = torch.load(system / "checkpoint.avg.pt", map_location="cpu")
    from natpipe.checkpoints import last_update_checkpoints

    # average_last: 2 of the checkpoints saved every 10 updates. fairseq writes no interval
    # checkpoint when the interval ends on an epoch boundary (update 20 here), as in the papers'
    # fairseq runs, so the pool is the last two interval checkpoints actually on disk.
    pool = [p.name for p in last_update_checkpoints(system / "checkpoints", 2)]
    assert [p.split("/")[-1] for p in state["averaged_from"]] == pool
    assert len(pool) == 2 and pool[-1].endswith("_30.pt")


def test_summary_row_has_provenance(tiny_run):
    import pandas as pd

    table = pd.read_csv(tiny_run / "results" / "tables" / "summary.csv")
    assert list(table[["corpus", "system"]].itertuples(index=False, name=None)) == [
        ("tiny_en_de", "at_tiny"), ("tiny_en_de", "at_tiny_md")]
    assert list(table["role"]) == ["teacher", "system"] and list(table["data"]) == ["R", "MD"]
    row = table.iloc[0]
    assert row["torch"].startswith("2.13.0") and row["fairseq"] == "0.12.3.1"
    assert len(row["config_sha256"]) == 16 and len(row["data_sha256"]) == 16


def test_second_run_schedules_nothing_and_report_builds(tiny_run):
    result = snakemake("--directory", tiny_run, "--configfile", tiny_run / "tiny.yaml", "-n", check=True)
    assert "Nothing to be done" in result.stdout + result.stderr
    report = tiny_run / "report.html"
    snakemake("--directory", tiny_run, "--configfile", tiny_run / "tiny.yaml", "--report", report, check=True)
    assert "summary.csv" in report.read_text(encoding="utf-8", errors="replace")


def test_distillation_is_merged_in_order_and_shares_the_dictionary(tiny_run):
    corpus = tiny_run / "results" / "tiny_en_de"
    stats = json.loads((corpus / "distill" / "stats.json").read_text())
    assert stats["pairs"] == len((corpus / "prep/clean/train.src").read_text().splitlines())
    assert stats["shards"] == 3 and len(stats["seconds_per_shard"]) == 3 and stats["teacher"] == "at_tiny"
    assert stats["empty_hypotheses_replaced"] >= 0 and stats["bleu_sample_pairs"] == 100
    assert (corpus / "distill/train.src").read_bytes() == (corpus / "prep/subword/train.en").read_bytes()
    distilled = (corpus / "distill/train.tgt").read_text(encoding="utf-8").splitlines()
    shards = [(corpus / f"distill/shards/{i}.tgt").read_text(encoding="utf-8").splitlines() for i in range(3)]
    raw = (corpus / "prep/subword/train.de").read_text(encoding="utf-8").splitlines()
    merged = [h or raw[i] for i, h in enumerate(line for shard in shards for line in shard)]
    assert distilled == merged and all(line.strip() for line in distilled)
    for name in ("dict.en.txt", "dict.de.txt"):
        assert (corpus / "data-bin" / name).read_bytes() == (corpus / "data-bin-distill" / name).read_bytes()


def test_mixdistill_student_trained_on_both_sets(tiny_run):
    log = (tiny_run / "logs/train/tiny_en_de/at_tiny_md.log").read_text(encoding="utf-8")
    assert "translation_mixdistill" in log and "data-bin-distill" in log
    assert "num_updates 30" in log or "num_updates=30" in log


def test_longer_training_resumes_from_the_last_checkpoint_and_reruns_only_dependants(tiny_run):
    """Raising one student's max_update reruns that student (from its checkpoint_last.pt) and
    what depends on it, nothing else. Runs last: it changes the run's config."""
    more = tiny_run / "more.yaml"
    more.write_text(yaml.safe_dump({"models": {"at_tiny_md": {"train": {"max_update": 40}}}}))
    args = ("--directory", tiny_run, "--configfile", tiny_run / "tiny.yaml", more)
    planned = snakemake(*args, "-n", check=True).stdout
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", planned.split("Job stats:")[1].split("total")[0], re.M)}
    assert counts == {"train_at": 1, "average_checkpoints": 1, "translate_test": 1, "score": 1,
                      "summary_table": 1, "all": 1}
    snakemake(*args, "--cores", "2", check=True, timeout=600)
    done = json.loads((tiny_run / "results/tiny_en_de/at_tiny_md/train.done.json").read_text())
    assert done["resumed"] is True
    log = (tiny_run / "logs/train/tiny_en_de/at_tiny_md.log").read_text(encoding="utf-8")
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 30 updates\)", log)
    assert "num_updates 40" in log
