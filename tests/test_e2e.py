"""The real DAG end to end on a tiny corpus: teacher training, averaging, beam search, BLEU,
sharded distillation, a student trained on MixDistill data, vanilla NAT and CMLM baselines,
the speed harness and the synthetic masking experiments.

A few hundred sentence pairs from the sample and one-layer models trained for 30 updates keep
this to about nine minutes on 2 cores; the code paths are those of the paper presets. The run
itself is conftest's session fixture `tiny_run` (tests/tiny_workflow.py holds its config).
"""
import json
import re

import pytest
import sacrebleu
import yaml

from conftest import snakemake
from tiny_workflow import N_HELDOUT, ROWS, SPEED, TINY, TINY_CMLM, TINY_HRT

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

    import natpipe.plugin  # noqa: F401  (allow-lists the types in fairseq checkpoints)

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
    assert list(table["system"]) == sorted(ROWS) and set(table["corpus"]) == {"tiny_en_de"}
    by_row = table.set_index("system")
    assert by_row.loc["at_tiny", "role"] == "teacher" and by_row.loc["at_tiny_md", "data"] == "MD"
    assert list(by_row.loc[["CMLM1", "CMLM4", "nat_tiny", "HRT_swap"], "model"]) == [
        "cmlm_tiny", "cmlm_tiny", "nat_tiny", "hrt_tiny"]
    assert by_row.loc["HRT", "kind"] == "hrt" and by_row.loc["HRT", "data"] == "MD"
    assert list(by_row.loc[["CMLM1", "nat_tiny"], "kind"]) == ["cmlm", "nat"]
    assert list(by_row.loc[["CMLM1", "nat_tiny"], "data"]) == ["D", "D"]
    row = table.iloc[0]
    assert row["torch"].startswith("2.13.0") and row["fairseq"] == "0.12.3.1"
    assert len(row["config_sha256"]) == 16 and len(row["data_sha256"]) == 16


def test_second_run_schedules_nothing_and_report_builds(tiny_run):
    result = snakemake("--directory", tiny_run, "--configfile", tiny_run / "tiny.yaml", "-n", check=True)
    assert "Nothing to be done" in result.stdout + result.stderr
    report = tiny_run / "report.html"
    snakemake("--directory", tiny_run, "--configfile", tiny_run / "tiny.yaml", "--report", report, check=True)
    html = report.read_text(encoding="utf-8", errors="replace")
    assert all(name in html for name in ("summary.csv", "speed.csv", "speed.md", "acceleration.png", "synthetic.csv",
                                          "synthetic_masking.png", "learning_curves.png"))


def test_every_model_has_a_learning_curve_to_its_last_update(tiny_run):
    import pandas as pd

    corpus = tiny_run / "results" / "tiny_en_de"
    table = pd.read_csv(corpus / "learning_curves.csv")
    config = yaml.safe_load((tiny_run / "tiny.yaml").read_text())
    spec = config["corpora"]["tiny_en_de"]
    assert set(table["system"]) == {spec["teacher"], *spec["systems"]}
    for system, part in table.groupby("system"):
        log = (corpus / system / "checkpoints" / "train.log").read_text(encoding="utf-8")
        validated = sorted({int(u) for u in re.findall(r"valid on 'valid' subset \|.* num_updates (\d+)", log)})
        assert part["update"].tolist() == validated and validated[-1] == 30  # max_update
        assert part["target_tokens"].is_monotonic_increasing and part["target_tokens"].iloc[0] > 0
    hrt = table[table["system"] == "hrt_tiny"]
    assert hrt["valid_skip_at_loss"].notna().all() and hrt["valid_skip_cmlm_loss"].notna().all()


def test_distillation_is_merged_in_order_and_shares_the_dictionary(tiny_run):
    corpus = tiny_run / "results" / "tiny_en_de"
    stats = json.loads((corpus / "distill" / "at_tiny" / "stats.json").read_text())
    assert stats["pairs"] == len((corpus / "prep/clean/train.src").read_text().splitlines())
    assert stats["shards"] == 3 and len(stats["seconds_per_shard"]) == 3 and stats["teacher"] == "at_tiny"
    assert stats["bleu_sample_pairs"] == 100
    # the empties, counted here from the shards: each is replaced by the raw target of its pair
    lines = lambda path: path.read_text(encoding="utf-8").split("\n")[:-1]  # noqa: E731
    hyps = [line for i in range(3) for line in lines(corpus / "distill" / "at_tiny" / "shards" / f"{i}.tgt")]
    raw = lines(corpus / "prep" / "subword" / "train.de")
    empty = {i for i, line in enumerate(hyps) if not line.strip()}
    assert stats["empty_hypotheses_replaced"] == len(empty)
    assert lines(corpus / "distill" / "at_tiny" / "train.tgt") == [raw[i] if i in empty else h for i, h in enumerate(hyps)]
    assert (corpus / "distill/at_tiny/train.src").read_bytes() == (corpus / "prep/subword/train.en").read_bytes()
    distilled = (corpus / "distill/at_tiny/train.tgt").read_text(encoding="utf-8").splitlines()
    shards = [(corpus / f"distill/at_tiny/shards/{i}.tgt").read_text(encoding="utf-8").splitlines() for i in range(3)]
    raw = (corpus / "prep/subword/train.de").read_text(encoding="utf-8").splitlines()
    merged = [h or raw[i] for i, h in enumerate(line for shard in shards for line in shard)]
    assert distilled == merged and all(line.strip() for line in distilled)
    for name in ("dict.en.txt", "dict.de.txt"):
        assert (corpus / "data-bin" / name).read_bytes() == (corpus / "distill/at_tiny/data-bin" / name).read_bytes()


def test_mixdistill_student_trained_on_both_sets(tiny_run):
    log = (tiny_run / "logs/train/tiny_en_de/at_tiny_md.log").read_text(encoding="utf-8")
    assert "translation_mixdistill" in log and "distill/at_tiny/data-bin" in log
    assert "num_updates 30" in log or "num_updates=30" in log


def test_nat_baselines_train_on_translation_lev_and_decode_with_their_iterations(tiny_run):
    for model, noise in (("nat_tiny", "full_mask"), ("cmlm_tiny", "random_mask")):
        log = (tiny_run / f"logs/train/tiny_en_de/{model}.log").read_text(encoding="utf-8")
        assert "--task translation_lev" in log and f"--noise {noise}" in log and "distill/at_tiny/data-bin" in log
        assert "num_updates 30" in log or "num_updates=30" in log
    for row, max_iter in (("CMLM1", 0), ("CMLM4", 3), ("nat_tiny", 0)):
        log = (tiny_run / f"logs/evaluate/tiny_en_de/{row}.translate.log").read_text(encoding="utf-8")
        assert f"--iter-decode-max-iter {max_iter} --iter-decode-force-max-iter" in log
    cmlm4 = (tiny_run / "logs/evaluate/tiny_en_de/CMLM4.translate.log").read_text(encoding="utf-8")
    assert "--iter-decode-with-beam 2" in cmlm4 and "cmlm_tiny/checkpoint.avg.pt" in cmlm4


def speed_table(tiny_run):
    import pandas as pd

    import speed

    table = pd.read_csv(tiny_run / "results/tiny_en_de/speed.csv")
    assert list(table.columns) == speed.COLUMNS
    return table


def test_speed_csv_has_one_row_per_system_device_batch_and_run(tiny_run):
    """rows_per_job 4: the 12 rows besides the reference in jobs of 4, in config order, each job
    also timing the reference; speed.csv keeps every job's timings, the reference's included."""
    table = speed_table(tiny_run)
    k = SPEED["rows_per_job"]
    groups = [ROWS[1:][i:i + k] for i in range(0, len(ROWS) - 1, k)]
    timed = len(ROWS) - 1 + len(groups)  # system timings: every row once, the reference once per job
    assert len(table) == timed * len(SPEED["batch_sizes"]) * SPEED["runs"]  # CPU only here
    assert set(table["system"]) == set(ROWS) and set(table["device"]) == {"cpu"}
    jobs = table.groupby("run_id")["system"].unique()
    assert len(jobs) == len(groups) == 3 and (table["status"] == "ok").all()
    assert sorted(sorted(set(systems) - {"at_tiny"}) for systems in jobs) == sorted(sorted(g) for g in groups)
    assert all("at_tiny" in systems for systems in jobs)
    assert (table["n_sentences"] == SPEED["max_sentences"]).all() and (table["threads"] == 2).all()
    assert sorted(set(table["batch_size"])) == SPEED["batch_sizes"] and set(table["run"]) == {0, 1}
    # a 30-update CTC model (Fully NAT's, XLM-D's) may emit only blanks: an empty output is still a whole decoding pass
    ctc = ["FNAT", "FNAT_npd", "xlmd_tiny"]
    assert (table["seconds"] > 0).all() and (table[~table["system"].isin(ctc)]["output_tokens"] > 0).all()


def test_outputs_do_not_depend_on_batch_size(tiny_run):
    """Every fairseq row translates each sentence identically at batch 1, 4 and 8 (the harness
    compares token ids), and the harness's batch-1 output equals fairseq-generate's token-batched
    output. A CTranslate2 row has one length limit per batch, so its beam search may end a looping
    hypothesis differently (the 30-update model loops on many sentences; tests/test_ctranslate2.py
    checks its greedy output token for token)."""
    table = speed_table(tiny_run)
    fairseq = table["engine"] == "fairseq"
    assert (table[fairseq]["agreement"] == 1.0).all() and (~fairseq).sum() > 0
    import json as _json

    from fairseq_args import generate_args

    from natpipe.decoding.systems import load_system

    corpus = tiny_run / "results/tiny_en_de"
    for row, spec, model in (("at_tiny", TINY, "at_tiny"), ("CMLM4", TINY_CMLM, "cmlm_tiny"), ("HRT", TINY_HRT, "hrt_tiny")):
        flags = generate_args(_json.loads(_json.dumps(spec)), str(corpus / "data-bin"), "en", "de",
                              str(corpus / model / "checkpoint.avg.pt"), "bpe", "test", gpus=0)
        system = load_system(flags)
        ids = list(range(24))  # a prefix of the test set keeps the one-by-one loop short
        one = {i: system.translate([i])[i] for i in ids}
        whole = system.translate(ids)
        assert one == whole
        expected = (corpus / row / "test.hyp").read_text(encoding="utf-8").splitlines()
        assert [system.string(one[i], "@@ ").strip() for i in ids] == [e.strip() for e in expected[:len(ids)]]


def ct2_alpha(table, system, size):
    """T(reference) / T(system) at one batch size, both means of the system's own job."""
    own = table[table["run_id"] == table[table["system"] == system]["run_id"].iloc[0]]
    mean = own[own["batch_size"] == size].groupby("system")["seconds"].mean()
    return mean["at_tiny"] / mean[system]


def test_alpha_in_the_table_comes_from_the_csv_of_the_same_run(tiny_run):
    table = speed_table(tiny_run)
    own = table[table["run_id"] == table[table["system"] == "CMLM1"]["run_id"].iloc[0]]  # CMLM1's job
    mean = own.groupby(["system", "batch_size"])["seconds"].mean()  # speed.alpha_from: mean
    markdown = (tiny_run / "results/tiny_en_de/speed.md").read_text(encoding="utf-8")
    assert "alpha relative to at_tiny" in markdown and "α from the mean of 2 runs" in markdown
    row = next(line for line in markdown.splitlines() if line.startswith("| CMLM1 |")).split(" | ")
    # per batch size: time, alpha, alpha against the fastest CTranslate2 row, each alpha against the
    # reference of its own job (here CMLM1's, and the CTranslate2 rows' own)
    ct2 = table[table["engine"].str.startswith("ctranslate2")]
    for i, size in enumerate(SPEED["batch_sizes"]):
        alpha = mean[("at_tiny", size)] / mean[("CMLM1", size)]
        assert float(row[2 + 3 * i]) == pytest.approx(alpha, abs=0.006)
        best = max(ct2_alpha(table, system, size) for system in ct2["system"].unique())
        assert float(row[3 + 3 * i]) == pytest.approx(alpha / best, abs=0.006)
    assert "| at_tiny_ct2_int8 (CTranslate2 int8, 2 threads) |" in markdown
    assert (tiny_run / "results/tiny_en_de/figures/acceleration.png").read_bytes()[:4] == b"\x89PNG"


def test_synthetic_masking_points_and_exact_mask_counts(tiny_run):
    import math

    import pandas as pd

    from subword import segmenter

    from natpipe.blocks.masking import n_mask

    corpus = tiny_run / "results/tiny_en_de"
    table = pd.read_csv(corpus / "synthetic.csv")
    assert table["strategy"].value_counts().to_dict() == {"random": 6, "head": 2, "tail": 2, "chunk": 2,
                                                          "reference:CMLM4": 1}
    segment = segmenter("bpe", str(corpus / "prep/subword.model"))
    lengths = [len(segment(h).split()) for h in (corpus / "at_tiny/test.hyp").read_text(encoding="utf-8").splitlines()]
    points = table[table["strategy"] != "reference:CMLM4"]
    assert (points["n_tokens"] == sum(lengths)).all()
    for _, point in table[table["strategy"].isin(["head", "tail"])].iterrows():
        assert point["n_masked"] == sum(n_mask(n, point["p_mask"]) for n in lengths)
    for _, point in table[table["strategy"] == "chunk"].iterrows():
        k = int(point["chunk_size"])
        assert point["n_masked"] == sum(n - math.ceil(n / k) for n in lengths)
    mean = table[(table["strategy"] == "random") & (table["seed"] == "mean")].set_index("p_mask")["bleu_tok"]
    per_seed = table[(table["strategy"] == "random") & (table["seed"] != "mean")].groupby("p_mask")["bleu_tok"].mean()
    assert mean.to_dict() == pytest.approx(per_seed.to_dict())
    assert table["bleu_tok"].between(0, 100).all() and len(points) == 12
    log = (tiny_run / "logs/synthetic/tiny_en_de.log").read_text(encoding="utf-8")
    reference = json.loads((corpus / "CMLM4/test.bleu.json").read_text())  # all N_HELDOUT sentences here
    assert f"dashed line CMLM4 BLEU {reference['bleu_tok']} on the same {N_HELDOUT} sentences" in log
    assert table[table["strategy"] == "reference:CMLM4"]["bleu_tok"].tolist() == [reference["bleu_tok"]]


def test_hrt_fine_tunes_from_the_teacher_with_the_curriculum_and_decodes_in_two_stages(tiny_run):
    corpus = tiny_run / "results/tiny_en_de"
    log = (tiny_run / "logs/train/tiny_en_de/hrt_tiny.log").read_text(encoding="utf-8")
    assert "--task translation_hrt" in log and "--criterion hrt_loss" in log and "--p-raw 0.2" in log
    assert "loading pretrained model from results/tiny_en_de/at_tiny/checkpoint.avg.pt" in log
    # the curriculum moves the batch to the primary tasks: all four losses are logged by the end
    final = [line for line in log.splitlines() if line.startswith("INFO:train:epoch")][-1]
    assert all(f"{task}_loss" in final for task in ("at", "cmlm", "skip_at", "skip_cmlm"))
    translate = (tiny_run / "logs/evaluate/tiny_en_de/HRT.translate.log").read_text(encoding="utf-8")
    assert "--task translation_hrt --chunk-size 2 --hrt-b-nat 1" in translate and "--beam 5" in translate
    hrt = (corpus / "HRT/test.hyp").read_text(encoding="utf-8")
    assert (corpus / "HRT_swap/test.hyp").read_text(encoding="utf-8") == hrt
    swap = (tiny_run / "logs/evaluate/tiny_en_de/HRT_swap.translate.log").read_text(encoding="utf-8")
    assert "--hrt-skip-cmlm-path results/tiny_en_de/hrt_tiny/checkpoint.avg.pt" in swap


def test_hrt_paper_table_puts_our_rows_beside_the_published_numbers(tiny_run):
    import pandas as pd

    summary = pd.read_csv(tiny_run / "results/tables/summary.csv").set_index("system")["bleu_tok"]
    markdown = (tiny_run / "results/tables/hrt.md").read_text(encoding="utf-8")
    table6 = markdown.split("## Table 6")[1].split("\n## ")[0]
    hrt = next(line for line in table6.splitlines() if "| HRT | HRT |" in line).rstrip(" |").split(" | ")
    assert hrt[3:6] == ["MD", f"{summary['HRT']:.2f}", "28.49"]
    assert hrt[6] == f"{summary['HRT'] - 28.49:.2f}"
    assert "HRT_swap" not in markdown  # unlabelled rows stay out
    table10 = markdown.split("## Table 10")[1]
    assert "| tiny_en_de | at_tiny | AT | default | CPU |" in table10 and "(paper 1118.00 s, α 1.00)" in table10


def test_fully_nat_trains_its_losses_and_decodes_greedy_beam_lm_and_npd(tiny_run):
    corpus = tiny_run / "results/tiny_en_de"
    log = (tiny_run / "logs/train/tiny_en_de/fnat_tiny.log").read_text(encoding="utf-8")
    assert "--task translation_fully_nat" in log and "--criterion fully_nat_loss" in log and "distill/at_tiny/data-bin" in log
    assert "--latent-alignment ctc --upsample-ratio 3" in log and "--latent-dim 4" in log and "--glancing glat" in log
    final = [line for line in log.splitlines() if line.startswith("INFO:train:epoch")][-1]
    assert "kl" in final and "glanced" in final and "num_updates 30" in final
    ce = (tiny_run / "logs/train/tiny_en_de/mtnat_tiny.log").read_text(encoding="utf-8")
    assert "--latent-alignment none" in ce and "--glancing rnd" in ce and "length_loss" in ce
    weights = json.loads((corpus / "FNAT_beam_lm/lm_weights.json").read_text())
    assert len(weights["grid"]) == 4 and weights["beam"] == 5
    assert weights["valid_bleu"] == max(point["bleu"] for point in weights["grid"])
    beam = (tiny_run / "logs/evaluate/tiny_en_de/FNAT_beam_lm.translate.log").read_text(encoding="utf-8")
    assert (f"--ctc-beam 5 --beam 1 --max-tokens 8000 --ctc-lm-path results/tiny_en_de/distill/at_tiny/lm.arpa.bin "
            f"--ctc-lm-alpha {weights['alpha']} --ctc-lm-beta {weights['beta']}") in beam
    npd = (tiny_run / "logs/evaluate/tiny_en_de/FNAT_npd.translate.log").read_text(encoding="utf-8")
    assert "--npd-samples 3 --npd-temperature 0.1 --npd-teacher-path results/tiny_en_de/at_tiny/checkpoint.avg.pt" in npd
    for row in ("FNAT", "FNAT_beam_lm", "FNAT_npd", "mtnat_tiny"):
        hyps = (corpus / row / "test.hyp").read_text(encoding="utf-8").splitlines()
        assert len(hyps) == N_HELDOUT and not any("@@" in h for h in hyps)
    import pandas as pd

    pca = pd.read_csv(corpus / "latent_pca.csv")
    assert list(pca["component"]) == [1, 2, 3, 4] and set(pca["system"]) == {"fnat_tiny"}
    assert pca["explained_variance_ratio"].sum() == pytest.approx(1.0)
    markdown = (tiny_run / "results/tables/fully_nat.md").read_text(encoding="utf-8")
    table4 = markdown.split("## Table 4")[1].split("\n## ")[0]
    assert any("| FNAT |" in line and "KD+CTC+VAE+GLAT" in line and "27.21" in line for line in table4.splitlines())


def test_mtnat_trains_its_weak_ar_decoders_and_decodes_without_them(tiny_run):
    """The MT-NAT row (CE + RND glancing; its AR decoders on the decoder layer and the encoder share
    parameters, layer dropout trains one of the two per update): Eq. (1)'s terms in the training
    log, a scored test output, and a decoder whose checkpoint holds AR decoders it never runs."""
    import torch

    log = (tiny_run / "logs/train/tiny_en_de/mtnat_tiny.log").read_text(encoding="utf-8")
    assert "--criterion mtnat_loss" in log and "--ar-attach decoder+encoder --ar-share" in log
    assert "--ar-lambda 0.5 --ar-reduce sum --ar-label-smoothing 0.1 --ar-layer-dropout" in log
    final = [line for line in log.splitlines() if line.startswith("INFO:train:epoch")][-1]
    fields = dict(re.findall(r"\| (\w+) ([-\d.]+)", final))
    assert "nar_loss" in fields and "ar_loss" in fields and "num_updates 30" in final
    # Eq. (1) with lambda 0.5, each term per target token in bits as fairseq logs them
    assert float(fields["loss"]) == pytest.approx(0.5 * float(fields["nar_loss"]) + 0.5 * float(fields["ar_loss"]), abs=0.01)
    state = torch.load(tiny_run / "results/tiny_en_de/mtnat_tiny/checkpoint.avg.pt", map_location="cpu", weights_only=False)
    assert {k.split(".")[1] for k in state["model"] if k.startswith("ar_decoders.")} == {"0"}  # one shared decoder
    result = json.loads((tiny_run / "results/tiny_en_de/mtnat_tiny/test.bleu.json").read_text())
    assert result["n_sentences"] == N_HELDOUT and "repetition" in result


def test_hint_nart_learns_from_the_teachers_hints_and_rescores_length_candidates(tiny_run):
    """The hint-NART row reads at_tiny's checkpoint in training (Eq. 3's terms in its log), takes
    C from the distilled training data, decodes 5 length candidates rescored by the teacher, and
    stands in the paper table."""
    import torch

    corpus = tiny_run / "results/tiny_en_de"
    log = (tiny_run / "logs/train/tiny_en_de/hint_tiny.log").read_text(encoding="utf-8")
    assert "--criterion hint_nart_loss --label-smoothing 0.1 --hint-lambda 15.0 --hint-mu 4.0" in log
    assert "--hint-teacher-path results/tiny_en_de/at_tiny/checkpoint.avg.pt" in log and "distill/at_tiny/data-bin" in log
    final = [line for line in log.splitlines() if line.startswith("INFO:train:epoch")][-1]
    assert "hint_hid" in final and "hint_align" in final and "num_updates 30" in final
    pairs = zip(*((corpus / f"distill/at_tiny/train.{side}").read_text(encoding="utf-8").splitlines()
                  for side in ("src", "tgt")))
    differences = [len(tgt.split()) - len(src.split()) for src, tgt in pairs]
    state = torch.load(corpus / "hint_tiny/checkpoint.avg.pt", map_location="cpu", weights_only=False)
    assert float(state["model"]["length_offset"]) == pytest.approx(sum(differences) / len(differences), abs=1e-4)
    rescored = (tiny_run / "logs/evaluate/tiny_en_de/HINT_B2.translate.log").read_text(encoding="utf-8")
    assert "--length-halfwidth 2 --beam 1 --max-tokens 2000 --rescore-teacher-path results/tiny_en_de/at_tiny/checkpoint.avg.pt" in rescored
    for row in ("HINT", "HINT_B2"):
        result = json.loads((corpus / row / "test.bleu.json").read_text())
        assert result["n_sentences"] == N_HELDOUT and "repetition" in result
    markdown = (tiny_run / "results/tables/hint_nart.md").read_text(encoding="utf-8")
    table1 = markdown.split("## Table 1")[1].split("\n## ")[0]
    assert any("| HINT_B2 |" in line and "21.11" not in line for line in table1.splitlines())
    assert any("| HINT |" in line and "NART w/ hints [vs wmt14_en_de, cpu]" in line and "21.11" in line
               for line in table1.splitlines())


def test_xlmd_starts_from_the_downloaded_checkpoint_in_its_vocabulary(tiny_run):
    """The XLM-D row's checkpoint came through download (sha256 checked) and unpack_pretrained,
    its data was segmented with the archive's SentencePiece model and binarized with its dict.txt,
    training loaded every XLM-R tensor of it, and its 2-step decoding is scored in words."""
    from tiny_workflow import XLMR_ARCHIVE

    source = tiny_run / XLMR_ARCHIVE.replace(".tar.gz", "")
    unpacked = tiny_run / "data/pretrained/xlmr_tiny"
    for name in ("model.pt", "dict.txt", "sentencepiece.bpe.model"):
        assert (unpacked / name).read_bytes() == (source / name).read_bytes()
    data_bin = tiny_run / "results/tiny_en_de/vocab/xlmr_tiny/distill/at_tiny/data-bin"
    assert (data_bin / "dict.de.txt").read_text() == (source / "dict.txt").read_text()
    import sentencepiece as spm

    pieces = (tiny_run / "results/tiny_en_de/vocab/xlmr_tiny/subword/test.en").read_text(encoding="utf-8").splitlines()
    tokenized = (tiny_run / "results/tiny_en_de/prep/tok/test.src").read_text(encoding="utf-8").splitlines()
    processor = spm.SentencePieceProcessor(model_file=str(source / "sentencepiece.bpe.model"))
    assert [processor.decode(line.split()) for line in pieces[:20]] == tokenized[:20]
    log = (tiny_run / "logs/train/tiny_en_de/xlmd_tiny.log").read_text(encoding="utf-8")
    assert "--pretrained-checkpoint data/pretrained/xlmr_tiny/model.pt" in log and "--criterion xlmd_ctc" in log
    assert re.search(r"loaded \d+ pretrained tensors from data/pretrained/xlmr_tiny/model.pt", log)
    decode = (tiny_run / "logs/evaluate/tiny_en_de/xlmd_tiny.translate.log").read_text(encoding="utf-8")
    assert "--task translation_xlmd --iterations 2 --decode-block dynamic" in decode
    hyps = (tiny_run / "results/tiny_en_de/xlmd_tiny/test.hyp").read_text(encoding="utf-8").splitlines()
    assert len(hyps) == N_HELDOUT and not any("\u2581" in h or "<mask>" in h for h in hyps)
    assert json.loads((tiny_run / "results/tiny_en_de/xlmd_tiny/test.bleu.json").read_text())["n_sentences"] == N_HELDOUT


def test_longer_training_resumes_from_the_last_checkpoint_and_reruns_only_dependants(tiny_run):
    """Raising one student's max_update reruns that student (from its checkpoint_last.pt) and
    what depends on it, nothing else. Runs last: it changes the run's config."""
    more = tiny_run / "more.yaml"
    more.write_text(yaml.safe_dump({"models": {"at_tiny_md": {"train": {"max_update": 40}}}}))
    args = ("--directory", tiny_run, "--configfile", tiny_run / "tiny.yaml", more)
    planned = snakemake(*args, "-n", check=True).stdout
    counts = {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", planned.split("Job stats:")[1].split("total")[0], re.M)}
    # its row and its CTranslate2 row (converted again), the speed job of their group alone
    assert counts == {"train_model": 1, "average_checkpoints": 1, "convert_ctranslate2": 1, "translate_test": 2,
                      "score": 2, "summary_table": 1, "measure_speed": 1, "speed_table": 1, "paper_table": 5,
                      "learning_curves": 1, "all": 1}
    # run up to the model's BLEU only (its speed job and the speed table would follow otherwise)
    snakemake("results/tiny_en_de/at_tiny_md/test.bleu.json", *args, "--cores", "2", check=True, timeout=600)
    done = json.loads((tiny_run / "results/tiny_en_de/at_tiny_md/train.done.json").read_text())
    assert done["resumed"] is True
    log = (tiny_run / "logs/train/tiny_en_de/at_tiny_md.log").read_text(encoding="utf-8")
    assert re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ 30 updates\)", log)
    assert "num_updates 40" in log
