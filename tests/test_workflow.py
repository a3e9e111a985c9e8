"""The Snakemake DAG: dry runs of the default config and every preset, config errors, targets."""
import json
import re
import shlex

import pytest
import yaml

from conftest import REPO, snakemake

PRESETS = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
PIPELINE = ["assemble_split", "tokenize", "clean_train", "learn_subword", "apply_subword", "binarize",
            "train_model", "average_checkpoints", "translate_test", "score", "summary_table"]
GPU_RULES = ("train_model", "distill_shard", "translate_test", "measure_speed")  # the rest never get one


def job_counts(output: str) -> dict[str, int]:
    table = output.split("Job stats:")[1].split("total")[0]
    return {m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)}


def test_default_dry_run_lists_the_whole_pipeline():
    result = snakemake("-n", "--forceall", check=True)
    counts = job_counts(result.stdout)
    # seven models (AT teacher, CMLM, and one per paper: HRT, Fully-NAT KD+CTC, MT-NAT, hint-NART, XLM-D);
    # nine rows (CMLM10; the teacher converted once for its two CTranslate2 rows, float32 and int8); one
    # table per paper, the learning curves; the sample times all its rows in one speed job
    # (speed.rows_per_job 14). configs/sample_full.yaml has the rest (LM, NPD, latent PCA, ...).
    assert counts == {"assemble_split": 3, "tokenize": 6, "clean_train": 1, "learn_subword": 1,
                      "apply_subword": 6, "binarize": 1, "train_model": 7, "average_checkpoints": 7,
                      "convert_ctranslate2": 1, "translate_test": 9, "score": 9, "summary_table": 1,
                      "distill_shard": 2, "distill_merge": 1, "binarize_distill": 1, "measure_speed": 1,
                      "speed_table": 1, "synthetic_masking": 1, "paper_table": 5, "learning_curves": 1, "all": 1}


def test_speed_and_synthetic_targets_build_only_what_they_need():
    speed = job_counts(snakemake("-n", "--forceall", "speed", check=True).stdout)
    # one speed job for the sample's rows (with the reference), one table of it
    assert speed["measure_speed"] == 1 and speed["speed_table"] == 1
    assert speed["train_model"] == 7 and speed["convert_ctranslate2"] == 1
    assert "translate_test" not in speed and "synthetic_masking" not in speed
    synthetic = job_counts(snakemake("-n", "--forceall", "synthetic", check=True).stdout)
    # the teacher's translations to mask, and CMLM10's test BLEU for the dashed line
    assert synthetic["synthetic_masking"] == 1 and synthetic["translate_test"] == 2
    assert synthetic["train_model"] == 2 and "measure_speed" not in synthetic


def test_synthetic_masking_masks_the_translations_of_the_chosen_at_model(tmp_path):
    """HRT App. B masks a Transformer-Base's translations where the teacher is deeper."""
    def synthetic_inputs(*args):
        out = snakemake("-n", "--forceall", "-p", "synthetic", *args, check=True).stdout
        block = out[out.index("rule synthetic_masking:"):]
        return block[:block.index("\n", block.index("input:"))]
    assert "results/sample_en_de/at_sample/test.hyp" in synthetic_inputs()
    override = tmp_path / "base.yaml"
    override.write_text(yaml.safe_dump({"synthetic": {"at_model": "at_12_1_sample"}}))
    chosen = synthetic_inputs("--configfile", "configs/sample_full.yaml", override)
    assert "results/sample_en_de/at_12_1_sample/test.hyp" in chosen and "at_sample/test.hyp" not in chosen


def test_distill_target_builds_shards_merge_and_binarized_sets():
    counts = job_counts(snakemake("-n", "--forceall", "distill", check=True).stdout)
    assert {k: counts[k] for k in ("distill_shard", "distill_merge", "binarize_distill", "train_model")} == \
        {"distill_shard": 2, "distill_merge": 1, "binarize_distill": 1, "train_model": 1}
    assert "translate_test" not in counts  # the teacher's test BLEU is not needed to distill


def test_the_preset_list_is_complete():
    assert PRESETS == sorted(["wmt14_en_de", "wmt14_de_en", "wmt16_en_ro", "wmt16_ro_en", "iwslt14_de_en",
                              "wmt14_en_fr", "wmt20_ja_en", "iwslt17_ko_en", "iwslt17_ar_en", "nist_zh_en",
                              "sample_full", "sample_gpu", "sample_learn"])


def test_sample_full_adds_the_deep_shallow_pair_to_the_sample():
    counts = job_counts(snakemake("-n", "--forceall", "--configfile=configs/sample_full.yaml", check=True).stdout)
    # plus vanilla NAT, +VAE (3 rows) and +GLAT, CMLM1/4, hint-NART's row with 9 teacher-rescored length
    # candidates, XLM-D decoded with T = 1 and 8, and 2 CTranslate2 rows of each of the 2 ATs
    assert counts["train_model"] == 12 and counts["translate_test"] == 23 and "download" not in counts
    assert counts["convert_ctranslate2"] == 2 and counts["latent_pca"] == 1 and counts["tune_lm_weights"] == 1


def test_sample_gpu_runs_the_default_dag_with_every_training_and_decoding_job_on_the_gpu():
    default = snakemake("-n", "--forceall", check=True).stdout
    result = snakemake("-n", "--forceall", "--configfile=configs/sample_gpu.yaml", check=True).stdout
    # and the teacher's CTranslate2 rows at the GPU's compute types (float16, bfloat16)
    gpu_rows = {"translate_test": 2, "score": 2}
    assert job_counts(result) == {k: v + gpu_rows.get(k, 0) for k, v in job_counts(default).items()}
    for job in result.split("\n\n"):
        rule = re.search(r"rule (\w+):", job)
        if rule and "resources:" in job:
            gpus = 1 if rule.group(1) in GPU_RULES else 0
            assert re.search(rf"\bgpu={gpus}\b", job), job


def test_sample_learn_trains_each_student_with_valid_bleu_points():
    out = snakemake("-n", "--forceall", "-p", "--configfile=configs/sample_learn.yaml", "evaluate",
                    "results/sample_en_de/learning_curves.csv", check=True).stdout
    trained = {}
    for command in re.findall(r"python \S*train\.py --model '(.*?)' ", out):
        model = json.loads(command)
        trained[model["kind"]] = model
    assert set(trained) == {"at", "nat", "cmlm", "hrt", "fnat", "mtnat", "xlmd"}
    assert all(trained[k]["train"]["bleu_at"] for k in ("nat", "cmlm", "hrt", "fnat", "mtnat", "xlmd"))
    assert trained["hrt"]["train"]["lr"] == 0.002 and trained["nat"]["init"] == "transformer"
    assert trained["xlmd"]["reset_init"] == "transformer" and trained["xlmd"]["data"] == "raw"
    assert "rule learning_curves:" in out


@pytest.mark.parametrize("preset", [p for p in PRESETS if p not in ("nist_zh_en", "sample_full", "sample_gpu",
                                                                    "sample_learn")])
def test_preset_dry_run_downloads_and_runs_every_stage(preset):
    config = yaml.safe_load((REPO / "configs" / f"{preset}.yaml").read_text())
    corpus = config["corpora"][config["run"][0]]
    urls = {s["url"] for s in corpus["sources"].values() if s["kind"] == "url"}
    # and the pretrained archive (XLM-R) of the systems that start from one or use its vocabulary
    used = {config["models"][s].get(key) for s in corpus["systems"] for key in ("pretrained", "vocabulary")}
    urls |= {entry["url"] for name, entry in config.get("pretrained", {}).items() if name in used}
    result = snakemake("-n", "--configfile", f"configs/{preset}.yaml", check=True)
    counts = job_counts(result.stdout)
    assert counts["download"] == len(urls)
    assert counts["extract"] == 2 * len(corpus["sources"])
    assert all(counts.get(rule, 0) >= 1 for rule in PIPELINE), counts
    assert counts["train_model"] == len(corpus["systems"])
    assert counts["tokenize"] == 6 and counts["apply_subword"] == 6


def test_licensed_corpus_without_data_fails_with_an_explanation():
    result = snakemake("-n", "--configfile", "configs/nist_zh_en.yaml")
    assert result.returncode != 0
    assert "config key corpora.nist_zh_en.sources." in result.stderr + result.stdout
    assert "licensed data" in result.stderr + result.stdout


def test_slurm_profile_dry_run_requests_gpus_for_training_and_distillation():
    config = yaml.safe_load((REPO / "configs" / "wmt14_en_de.yaml").read_text())
    corpus = config["corpora"]["wmt14_en_de"]
    result = snakemake("-n", "--profile", "profiles/slurm", "--configfile", "configs/wmt14_en_de.yaml",
                       check=True)
    jobs = result.stdout.split("\n\n")

    def of_rule(name):
        return [job for job in jobs if f"rule {name}:" in job]

    gpus = config["compute"]["gpus_per_training_job"]
    assert len(of_rule("train_model")) == len(corpus["systems"])
    assert all(re.search(rf"\bgpu={gpus}\b", job) for job in of_rule("train_model"))
    # HRT's AT-20L distils for HRT, Fully NAT's base AT for its KD models: one distillation each
    models = config["models"]
    teachers = {models[s].get("distill_teacher") or corpus["teacher"] for s in corpus["systems"]
                if models[s].get("data", "raw") != "raw"}
    assert teachers == {"at_20l", "at_base"}
    shards = of_rule("distill_shard")
    assert len(shards) == 2 * corpus["distill"]["shards"] and all(re.search(r"\bgpu=1\b", job) for job in shards)
    assert len(of_rule("distill_merge")) == 2
    assert of_rule("tokenize") and all(re.search(r"\bgpu=0\b", job) for job in of_rule("tokenize"))
    assert "slurm_partition" not in result.stdout  # the preset names none: the site default applies


def test_cluster_resources_and_partitions_come_from_the_config(tmp_path):
    overlay = tmp_path / "site.yaml"
    overlay.write_text(yaml.safe_dump({"compute": {
        "gpus_per_training_job": 2, "gpus_per_decoding_job": 1,
        "slurm": {"partition": "short", "gpu_partition": "a100", "account": "nmt", "gpu_model": "a100"},
        "resources": {"default": {"runtime": 30, "mem_mb": 2000, "cpus": 3},
                      "train_model": {"runtime": 2880, "mem_mb": 64000, "cpus": 16},
                      # the sample's one speed job (12 rows) is estimated at ~42 min (it runs ~4)
                      "measure_speed": {"runtime": 120}}}}))
    # --cores: a dry run otherwise caps threads at 1
    result = snakemake("-n", "--forceall", "--cores", "64", "--profile", "profiles/slurm", f"--configfile={overlay}", "distill",
                       check=True)
    jobs = {}
    for job in result.stdout.split("\n\n"):
        rule = re.search(r"rule (\w+):", job)
        if rule and "resources:" in job:
            jobs.setdefault(rule.group(1), job)
    train = jobs["train_model"]
    for expected in ("gpu=2", "runtime=2880", "mem_mb=64000", "slurm_partition=a100", "slurm_account=nmt", "gpu_model=a100"):
        assert re.search(rf"\b{expected}\b", train), (expected, train)
    assert re.search(r"threads: 16\b", train)
    shard = jobs["distill_shard"]
    assert all(re.search(rf"\b{e}\b", shard) for e in ("gpu=1", "runtime=30", "slurm_partition=a100"))
    tokenize = jobs["tokenize"]
    assert all(re.search(rf"\b{e}\b", tokenize) for e in ("gpu=0", "mem_mb=2000", "slurm_partition=short"))
    assert re.search(r"threads: 3\b", tokenize) and "gpu_model" not in tokenize
    assert re.search(r"\bnodes=1\b", train) and "nodes" not in shard  # DDP stays on one node


def test_gpu_training_jobs_get_cpus_and_loader_workers_per_gpu(tmp_path):
    overlay = tmp_path / "gpus.yaml"
    overlay.write_text(yaml.safe_dump({"compute": {"gpus_per_training_job": 8, "cpus_per_gpu": 5}}))
    result = snakemake("-n", "--forceall", "-p", "--cores", "64", f"--configfile={overlay}",
                       "results/sample_en_de/nat_sample/train.done.json", check=True).stdout
    train = next(job for job in result.split("\n\n") if "rule train_model:" in job and "nat_sample" in job)
    assert re.search(r"threads: 40\b", train) and re.search(r"\bnodes=1\b", train)
    assert "--loader-workers 4 " in train
    cpu = snakemake("-n", "--forceall", "-p", "--cores", "64", "results/sample_en_de/nat_sample/train.done.json",
                    check=True).stdout
    cpu_train = next(job for job in cpu.split("\n\n") if "rule train_model:" in job and "nat_sample" in job)
    assert re.search(r"threads: 2\b", cpu_train) and "--loader-workers 0 " in cpu_train and "nodes=" not in cpu_train


def test_a_gpu_job_whose_torch_cannot_use_the_gpu_fails_unless_the_config_allows_the_cpu(capsys):
    """On this CPU build of torch a granted GPU is unusable: one clear error by default (a WMT
    training must not run on the CPU for weeks unnoticed); compute.cpu_fallback runs on the CPU."""
    import torch

    from common import PipelineError, usable_gpus

    assert torch.cuda.device_count() == 0 and usable_gpus(0) == 0
    with pytest.raises(PipelineError, match=r"1 GPU\(s\) requested but torch .* sees 0 .*compute.cpu_fallback"):
        usable_gpus(1)
    assert usable_gpus(1, cpu_fallback=True) == 0 and "running on the CPU" in capsys.readouterr().err


def test_only_the_test_cluster_opts_in_to_the_cpu_fallback():
    def commands(*config):
        out = snakemake("-n", "-p", "--forceall", *config, "results/sample_en_de/speed.csv",
                       "results/sample_en_de/at_sample/test.bleu.json", check=True).stdout
        return {rule.group(1): job for job in out.split("\n\n") if (rule := re.search(r"rule (\w+):", job))}

    default = commands()
    fake_gpus = commands("--configfile=profiles/slurm-local/workflow.yaml")
    for rule in GPU_RULES:
        assert "--cpu-fallback" not in default[rule] and "--cpu-fallback" in fake_gpus[rule], rule
        assert "--gpus 0" in default[rule] and "--gpus 1" in fake_gpus[rule], rule
    assert not any("--cpu-fallback" in job for rule, job in fake_gpus.items() if rule not in GPU_RULES)


@pytest.mark.parametrize("override,message", [
    ({"corpora": {"sample_en_de": {"preprocess": {"subword": {"method": "bpe", "operation": 10}}}}},
     "config key corpora.sample_en_de.preprocess.subword.operation: unknown key; did you mean 'operations'?"),
    ({"models": {"at_sample": {"train": {"max_update": "many"}}}},
     "config key models.at_sample.train.max_update: 'many' is not of type 'integer'"),
    ({"corpora": {"sample_en_de": {"teacher": "at_missing"}}},
     "config key corpora.sample_en_de.teacher: 'at_missing' is not a key of models"),
    ({"run": ["nowhere"]}, "config key run: 'nowhere' is not a key of corpora"),
    ({"mirrors": "x"}, "config key mirrors: unknown key; did you mean 'mirror'?"),
    ({"compute": {"resources": {"train": {"mem_mb": 8000}}}},
     "config key compute.resources.train: unknown key; did you mean 'train_model'?"),
    ({"models": {"cmlm_sample": {"variants": {"nat_sample": {"iterations": 2}}}}},
     "config key models.cmlm_sample.variants.nat_sample: row 'nat_sample' of corpus sample_en_de is also a row of 'nat_sample'"),
    ({"synthetic": {"cmlm": "nat_sample"}}, "config key synthetic.cmlm: 'nat_sample' is not a model of kind cmlm"),
    ({"synthetic": {"at_model": "cmlm_sample"}},
     "config key synthetic.at_model: 'cmlm_sample' is not an AT system of corpus sample_en_de"),
    ({"models": {"cmlm_sample": {"vocabulary": "xlmr"}}},
     "config key models.cmlm_sample.vocabulary: 'xlmr' is not a key of vocabularies"),
    ({"speed": {"reference": "CMLM99"}}, "config key speed.reference: 'CMLM99' is neither a model nor a row of corpus sample_en_de"),
    ({"models": {"nat_sample": {"data": "mixdistill"}}}, "config key models.nat_sample.data: mixdistill is not available for kind nat"),
    ({"models": {"hrt_sample": {"init_from": "cmlm_sample"}}},
     "config key models.hrt_sample.init_from: 'cmlm_sample' is not a model of kind at"),
    ({"models": {"hrt_sample": {"generate": {"skip_cmlm_from": "at_sample"}}}},
     "config key models.hrt_sample.generate.skip_cmlm_from: 'at_sample' must be a model of kind hrt"),
    ({"models": {"cmlm_sample": {"kind": "ctc"}}},
     "config key models.cmlm_sample.kind: 'ctc' is not one of ['at', 'fnat', 'hint_nart', 'hrt', 'mtnat', 'nat', 'cmlm', 'xlmd']"),
    ({"models": {"at_sample": {"loss": "ctc"}}}, "config key models.at_sample.loss: only models of kind fnat or mtnat have loss"),
    ({"models": {"fnat_ctc_sample": {"generate": {"npd": 3}}}},
     "config key models.fnat_ctc_sample.generate.npd: noisy parallel decoding samples VAE latents: set vae"),
    ({"models": {"fnat_vae_sample": {"variants": {"FNAT_VAE": {"lm": True}}}}},
     "config key models.fnat_vae_sample.variants.FNAT_VAE.lm: the LM is used by CTC beam search: set ctc_beam > 1"),
    ({"models": {"fnat_glat_sample": {"loss": "ce", "generate": {"ctc_beam": 5}}}},
     "config key models.fnat_glat_sample.generate.ctc_beam: beam search needs loss: ctc"),
    ({"corpora": {"sample_en_de": {"sources": {"sample_test": {"references": {"fr": ["data/sample/test.de"]}}}}}},
     "config key corpora.sample_en_de.sources.sample_test.references.fr: 'fr' is neither side of corpus sample_en_de (en-de)"),
    ({"corpora": {"sample_en_de": {"sources": {"sample_test": {"references": {"de": "data/sample/test.de"}}}}}},
     "config key corpora.sample_en_de.sources.sample_test.references.de: 'data/sample/test.de' is not of type 'array'"),
    ({"corpora": {"sample_en_de": {"sources": {"sample_test": {"references": {"de": ["data/sample/test.de"]}}},
                                   "splits": {"test": ["sample_test", "sample_valid"]}}}},
     "config key corpora.sample_en_de.splits.test: every test sentence must have the same number of references, "
     "but sample_test has 2, sample_valid has 1"),
    ({"corpora": {"sample_en_de": {"sources": {"sample_test": {"references": {"de": ["data/sample/nowhere.de"]}}}}}},
     "config key corpora.sample_en_de.sources.sample_test.references.de[0]: data/sample/nowhere.de does not exist."),
    ({"corpora": {"sample_en_de": {"preprocess": {"romanian": {"remove_diacritics": True}}}}},
     "config key corpora.sample_en_de.preprocess.romanian: applies to a side whose language is 'ro', and corpus "
     "sample_en_de is en-de"),
    ({"models": {"at_sample": {"paper": "vaswani"}}},
     "config key models.at_sample.paper: 'vaswani' is not a paper with tables (fully_nat, hint_nart, hrt, mtnat, xlmd)"),
    ({"models": {"nat_sample": {"distill_teacher": "at_other"}}},
     "config key models.nat_sample.distill_teacher: 'at_other' is not a key of models"),
    ({"models": {"nat_sample": {"distill_teacher": "cmlm_sample"}}},
     "config key models.nat_sample.distill_teacher: the teacher 'cmlm_sample' must be of kind at"),
    ({"models": {"at_two": {"kind": "at", "arch": "transformer", "data": "distill"},
                 "nat_sample": {"distill_teacher": "at_two"}}},
     "config key models.nat_sample.distill_teacher: the teacher 'at_two' must train on raw data"),
    ({"corpora": {"sample_en_de": {"preprocess": {"romanian": {"diacritics": False}}}}},
     "config key corpora.sample_en_de.preprocess.romanian.diacritics: unknown key; did you mean 'remove_diacritics'?"),
])
def test_config_errors_name_the_key(tmp_path, override, message):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(override))
    result = snakemake("-n", "--configfile", "configs/sample_full.yaml", path)  # every sample model is a system
    assert result.returncode != 0
    assert message in result.stderr + result.stdout


def test_each_teacher_distils_once_and_each_student_learns_from_its_own(tmp_path):
    """Fully NAT distils from a Transformer-base where HRT uses a deep teacher: a model's
    distill_teacher gets its own shards, merge and data-bin (shared by every model naming it), and
    its LM and NPD reranker follow it; the others keep the corpus's teacher."""
    override = tmp_path / "teachers.yaml"
    override.write_text(yaml.safe_dump({"models": {
        "at_two": {"kind": "at", "arch": "transformer", "encoder_layers": 1, "decoder_layers": 1, "embed_dim": 16,
                   "ffn_dim": 32, "heads": 2},
        **{name: {"distill_teacher": "at_two"} for name in ("nat_sample", "fnat_ctc_sample", "fnat_vae_sample")}}}))
    result = snakemake("-n", "-p", "--forceall", "--configfile", "configs/sample_full.yaml", override, check=True)
    counts = job_counts(result.stdout)
    assert (counts["distill_shard"], counts["distill_merge"], counts["binarize_distill"]) == (4, 2, 2)
    assert counts["train_model"] == 13 and counts["train_ctc_lm"] == 1  # at_two trains; one LM, at_two's
    lines = result.stdout.splitlines()

    def command(script, *marks):
        return shlex.split(next(line for line in lines if script in line and all(m in line for m in marks)).split(">")[0])

    def data_bin(system):
        words = command("train.py", f"{system}/train.done.json")
        return words[words.index("--data-bin") + 1]
    two, sample = "results/sample_en_de/distill/at_two/data-bin", "results/sample_en_de/distill/at_sample/data-bin"
    assert [data_bin(s) for s in ("nat_sample", "fnat_ctc_sample", "cmlm_sample")] == [two, two, sample]
    hrt = command("train.py", "hrt_sample/train.done.json")  # MixDistill reads the corpus teacher's
    assert hrt[hrt.index("--distill-bin") + 1] == sample
    shards = [command("distill.py shard", f"distill/{t}/shards/0.tgt") for t in ("at_two", "at_sample")]
    assert [w[w.index("--checkpoint") + 1] for w in shards] == [
        "results/sample_en_de/at_two/checkpoint.avg.pt", "results/sample_en_de/at_sample/checkpoint.avg.pt"]
    assert json.loads(shards[0][shards[0].index("--teacher-model") + 1])["encoder_layers"] == 1
    lm = command("train_lm.py")
    assert lm[lm.index("--text") + 1] == "results/sample_en_de/distill/at_two/train.tgt"
    npd = command("translate.py", "FNAT_VAE_npd5/test.hyp")
    spec = json.loads(npd[npd.index("--model") + 1])
    assert spec["generate"]["npd_teacher_checkpoint"] == "results/sample_en_de/at_two/checkpoint.avg.pt"


def test_a_single_target_builds_only_its_ancestors():
    result = snakemake("-n", "--forceall", "results/sample_en_de/at_sample/test.bleu.json", check=True)
    assert "summary_table" not in job_counts(result.stdout)
    # the German test side needs the BPE model (train text of both sides) and its own text only
    result = snakemake("-n", "--forceall", "results/sample_en_de/prep/subword/test.de", check=True)
    assert job_counts(result.stdout) == {"assemble_split": 2, "tokenize": 3, "clean_train": 1,
                                         "learn_subword": 1, "apply_subword": 1}


def test_snakemake_lint_is_quiet():
    result = snakemake("--lint")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Lints for" not in result.stdout + result.stderr


def test_gettext_source_is_built_once_and_split_into_parts(tmp_path):
    config = {"run": ["gt"], "corpora": {"gt": {
        "src": "en", "tgt": "de", "sources": {"catalogs": {"kind": "gettext", "lang": "de", "extra_packages": ["vlc-l10n"]}},
        "splits": {"train": ["catalogs:train"], "valid": ["catalogs:valid"], "test": ["catalogs:test"]},
        "preprocess": {"subword": {"method": "sentencepiece", "vocab_size": 1000}},
        "teacher": "at_sample", "systems": ["at_sample"]}}}
    path = tmp_path / "gt.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "-p", "--configfile", path, "--directory", tmp_path, check=True)
    counts = job_counts(result.stdout)
    assert counts["gettext_corpus"] == 1 and counts["assemble_split"] == 3
    assert ("--lang de --catalog-dir /usr/share/locale --valid 1000 --test 1000 --extra-packages vlc-l10n "
            "--cache data/downloads/debs --drop-placeholders") in result.stdout


NASTY = "dir with space/it's; touch PWNED"


def test_config_values_with_a_space_a_quote_and_a_semicolon_reach_the_scripts_as_one_argument(tmp_path):
    """The download mirror and a gettext source's directories are pasted into shell commands:
    each must arrive as exactly one argument, and the `;` must run nothing."""
    override = tmp_path / "nasty.yaml"
    override.write_text(yaml.safe_dump({"mirror": NASTY}))
    result = snakemake("-n", "-p", "--forceall", "--configfile", "configs/wmt16_en_ro.yaml", override,
                       "--directory", tmp_path, check=True)
    commands = [line for line in result.stdout.splitlines() if "download.py fetch" in line]
    assert commands
    for command in commands:
        words = shlex.split(command)
        assert words[words.index("--mirror") + 1] == NASTY and "touch" not in words
    gettext = tmp_path / "gt.yaml"
    gettext.write_text(yaml.safe_dump({"run": ["gt"], "corpora": {"gt": {
        "src": "en", "tgt": "de", "sources": {"catalogs": {"kind": "gettext", "lang": "de", "catalog_dir": NASTY,
                                                           "extra_packages": ["vlc-l10n"], "cache_dir": NASTY}},
        "splits": {"train": ["catalogs:train"], "valid": ["catalogs:valid"], "test": ["catalogs:test"]},
        "preprocess": {"subword": {"method": "sentencepiece", "vocab_size": 1000}}, "teacher": "at_sample", "systems": ["at_sample"]}}}))
    result = snakemake("-n", "-p", "--configfile", gettext, "--directory", tmp_path, check=True)
    words = shlex.split(next(line for line in result.stdout.splitlines() if "gettext_corpus.py" in line))
    assert words[words.index("--catalog-dir") + 1] == NASTY and words[words.index("--cache") + 1] == NASTY
    assert not (tmp_path / "PWNED").exists()


def test_a_model_with_its_own_vocabulary_is_segmented_and_binarized_with_it(tmp_path):
    """XLM-D's case: a pretrained SentencePiece model and dictionary instead of the corpus's own;
    its raw and distilled data, test decoding and the mask filling it serves follow it."""
    model, dictionary = tmp_path / "xlmr.model", tmp_path / "dict.txt"
    model.write_text("not read by a dry run")
    dictionary.write_text("a 1\n")
    override = tmp_path / "vocab.yaml"
    override.write_text(yaml.safe_dump({
        "vocabularies": {"xlmr": {"method": "sentencepiece", "model": str(model), "dictionary": str(dictionary)}},
        "models": {"cmlm_sample": {"vocabulary": "xlmr"}}}))
    result = snakemake("-n", "-p", "--forceall", "--configfile", "configs/sample_full.yaml", override, check=True)
    counts = job_counts(result.stdout)
    assert counts["segment_for_vocabulary"] == 6 and counts["resegment_distilled"] == 2
    assert counts["binarize_vocabulary"] == 1 and counts["binarize_vocabulary_distill"] == 1
    assert counts["binarize"] == 1  # the corpus's own data-bin still serves every other model
    lines = result.stdout.splitlines()

    def command(script, *marks):
        return shlex.split(next(line for line in lines if script in line and all(m in line for m in marks)).split(">")[0])

    train = command("train.py", "cmlm_sample/train.done.json")
    assert train[train.index("--data-bin") + 1] == "results/sample_en_de/vocab/xlmr/distill/at_sample/data-bin"
    nat = command("train.py", "nat_sample/train.done.json")
    assert nat[nat.index("--data-bin") + 1] == "results/sample_en_de/distill/at_sample/data-bin"
    decode = command("translate.py", "CMLM4/test.hyp")
    assert decode[decode.index("--data-bin") + 1] == "results/sample_en_de/vocab/xlmr/data-bin"
    assert decode[decode.index("--subword") + 1] == "sentencepiece"
    segment = command("subword.py apply", "vocab/xlmr/subword/train.en")
    assert segment[segment.index("--model") + 1] == str(model)
    assert segment[segment.index("--input") + 1] == "results/sample_en_de/prep/clean/train.src"
    again = command("subword.py resegment", "vocab/xlmr/distill/at_sample/train.de")
    assert again[again.index("--from-method") + 1] == "bpe" and again[again.index("--input") + 1] == (
        "results/sample_en_de/distill/at_sample/train.tgt")
    synthetic = command("synthetic.py")
    assert synthetic[synthetic.index("--subword-model") + 1] == str(model)


def score_command(output: str, bleu: str) -> list[str]:
    line = next(line for line in output.splitlines() if "evaluate.py" in line and f"--out {bleu}" in line)
    return shlex.split(line.split(" > ")[0])


def option_values(words: list[str], option: str) -> list[str]:
    """The words after `option` up to the next option."""
    start = words.index(option) + 1
    end = next((i for i in range(start, len(words)) if words[i].startswith("--")), len(words))
    return words[start:end]


def test_a_multi_reference_test_set_is_scored_against_every_reference(tmp_path):
    """A test source with a second reference (local file): it is assembled against the test source,
    Moses-processed exactly as reference 1 and never segmented; the score command gets both references,
    tokenized and raw, reference 1 first; the synthetic experiment (HRT §4) reads both too."""
    (tmp_path / "data").mkdir()
    for name in ("train", "valid", "test"):
        for lang in ("en", "de"):
            (tmp_path / f"data/{name}.{lang}").write_text("a b\n", encoding="utf-8")
    (tmp_path / "data/test.de.2").write_text("a b\n", encoding="utf-8")
    config = {"run": ["multi"], "corpora": {"multi": {
        "src": "en", "tgt": "de",
        "sources": {"train": {"kind": "local", "prefix": "data/train"}, "valid": {"kind": "local", "prefix": "data/valid"},
                    "test": {"kind": "local", "prefix": "data/test", "references": {"de": ["data/test.de.2"]}}},
        "splits": {"train": ["train"], "valid": ["valid"], "test": [{"source": "test", "every": 2, "invert": True}]},
        "preprocess": {"subword": {"method": "bpe", "operations": 10}},
        "teacher": "at_sample", "systems": ["at_sample", "cmlm_sample"],
        "speed": {"test_sentences": 1}}}}  # the speed jobs' estimate (no default 3,003-sentence test set)
    path = tmp_path / "multi.yaml"
    path.write_text(yaml.safe_dump(config))
    result = snakemake("-n", "-p", "--configfile", path, "--directory", tmp_path, check=True)
    counts = job_counts(result.stdout)
    assert counts["assemble_reference"] == 1 and counts["tokenize_reference"] == 1
    assert counts["tokenize"] == 6 and counts["apply_subword"] == 6  # the second reference is not segmented
    words = score_command(result.stdout, "results/multi/at_sample/test.bleu.json")
    assert option_values(words, "--ref-tok") == ["results/multi/prep/tok/test.tgt", "results/multi/prep/tok/test.ref2.tgt"]
    assert option_values(words, "--ref") == ["results/multi/raw/test.tgt", "results/multi/raw/test.ref2.tgt"]
    synthetic = shlex.split(next(line for line in result.stdout.splitlines() if "synthetic.py" in line).split(" > ")[0])
    assert option_values(synthetic, "--ref-tok") == option_values(words, "--ref-tok")
    assert option_values(synthetic, "--ref") == option_values(words, "--ref")
    lines = result.stdout.splitlines()
    moses = {out: shlex.split(next(line for line in lines if "moses.py" in line and f"--output {out}" in line).split(" > ")[0])
             for out in ("results/multi/prep/tok/test.tgt", "results/multi/prep/tok/test.ref2.tgt")}
    first, second = moses.values()
    assert option_values(second, "--input") == ["results/multi/raw/test.ref2.tgt"]
    strip = lambda ws: [w for w in ws if not w.startswith("results/")]  # noqa: E731
    assert strip(first) == strip(second)  # same language, normalisation, tokenizer, dash splits
    assemble = shlex.split(next(line for line in lines if "assemble.py" in line and "--out-ref" in line).split(" > ")[0])
    # the reference is checked against the test source and takes its entry's line selection
    assert json.loads(option_values(assemble, "--parts")[0]) == [{"src": "data/test.en", "ref": "data/test.de.2",
                                                                  "every": 2, "invert": True}]
    assert option_values(assemble, "--out-ref") == ["results/multi/raw/test.ref2.tgt"]


def test_a_single_reference_corpus_is_scored_as_before():
    result = snakemake("-n", "-p", "--forceall", "results/sample_en_de/at_sample/test.bleu.json", check=True)
    counts = job_counts(result.stdout)
    assert "assemble_reference" not in counts and "tokenize_reference" not in counts
    line = next(line for line in result.stdout.splitlines() if "evaluate.py" in line)
    assert line.split("Shell command: ")[-1].strip() == (
        f"python {REPO}/scripts/evaluate.py --hyp results/sample_en_de/at_sample/test.hyp "
        "--ref-tok results/sample_en_de/prep/tok/test.tgt --ref results/sample_en_de/raw/test.tgt --lang de "
        "--aggressive-dash-splits --corpus sample_en_de --system at_sample --model at_sample "
        "--out results/sample_en_de/at_sample/test.bleu.json > logs/evaluate/sample_en_de/at_sample.score.log 2>&1")


ROMANIAN_FLAGS = ["--romanian-normalize", "--remove-diacritics"]


def shell_commands(output: str, script: str) -> dict[str, list[str]]:
    """Each printed command of `script`, as words up to the log redirection, keyed by its --output/--out."""
    commands = {}
    for line in output.splitlines():
        if f"scripts/{script}" in line:
            words = shlex.split(line.split("Shell command: ")[-1].split(" > ")[0])
            commands[option_values(words, "--output" if "--output" in words else "--out")[0]] = words
    return commands


@pytest.mark.parametrize("preset,ro_side", [("wmt16_en_ro", "tgt"), ("wmt16_ro_en", "src")])
def test_wmt16_presets_apply_the_romanian_steps_to_the_romanian_side_only(preset, ro_side):
    """WMT16 En-Ro recipe: normalise-romanian + remove-diacritics on the Romanian side of every split; the English
    side is Moses-processed as before; scoring applies the steps to the raw references of a Romanian target only."""
    corpus = preset
    targets = [f"results/{corpus}/prep/tok/{split}.{side}" for split in ("train", "valid", "test")
               for side in ("src", "tgt")]
    result = snakemake("-n", "-p", "--forceall", f"--configfile=configs/{preset}.yaml", *targets,
                       f"results/{corpus}/at_base/test.bleu.json", check=True)
    moses = shell_commands(result.stdout, "moses.py")
    assert sorted(moses) == sorted(targets)
    for output, words in moses.items():
        side = output.rsplit(".", 1)[1]
        assert option_values(words, "--lang") == (["ro"] if side == ro_side else ["en"]), output
        assert all((flag in words) == (side == ro_side) for flag in ROMANIAN_FLAGS), output
        assert "--aggressive-dash-splits" in words and "--no-normalize" not in words  # the Moses steps are unchanged
    score = score_command(result.stdout, f"results/{corpus}/at_base/test.bleu.json")
    assert all((flag in score) == (ro_side == "tgt") for flag in ROMANIAN_FLAGS)


def test_the_romanian_steps_reach_every_reference_and_every_scorer(tmp_path):
    """A local en-ro corpus with a second test reference: both references are tokenized with the steps,
    the English source without; the score and synthetic jobs get them for the raw references; with the
    option off (the default) no job gets them."""
    (tmp_path / "data").mkdir()
    for name in ("train", "valid", "test"):
        for lang in ("en", "ro"):
            (tmp_path / f"data/{name}.{lang}").write_text("a b\n", encoding="utf-8")
    (tmp_path / "data/test.ro.2").write_text("a b\n", encoding="utf-8")
    corpus = {"src": "en", "tgt": "ro",
              "sources": {"train": {"kind": "local", "prefix": "data/train"},
                          "valid": {"kind": "local", "prefix": "data/valid"},
                          "test": {"kind": "local", "prefix": "data/test", "references": {"ro": ["data/test.ro.2"]}}},
              "splits": {"train": ["train"], "valid": ["valid"], "test": ["test"]},
              "preprocess": {"subword": {"method": "bpe", "operations": 10},
                             "romanian": {"normalize": True, "remove_diacritics": True}},
              "teacher": "at_sample", "systems": ["at_sample", "cmlm_sample"], "speed": {"test_sentences": 1}}
    commands = {}
    for name, romanian in (("on", corpus["preprocess"]["romanian"]), ("off", {})):
        preprocess = {**corpus["preprocess"], "romanian": romanian}
        config = {"run": ["enro"], "corpora": {"enro": {**corpus, "preprocess": preprocess}}}
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(config))
        out = snakemake("-n", "-p", "--configfile", path, "--directory", tmp_path, check=True).stdout
        synthetic = next(line for line in out.splitlines() if "synthetic.py" in line)
        commands[name] = {**shell_commands(out, "moses.py"), **shell_commands(out, "evaluate.py"),
                          "synthetic": shlex.split(synthetic.split(" > ")[0])}
    on, off = commands["on"], commands["off"]
    romanian = [key for key, words in on.items() if all(flag in words for flag in ROMANIAN_FLAGS)]
    scores = [key for key in on if key.endswith("/test.bleu.json")]  # every row: at_sample, CMLM1, CMLM4, ...
    assert "results/enro/at_sample/test.bleu.json" in scores and len(scores) > 2
    assert sorted(romanian) == sorted([f"results/enro/prep/tok/{split}.tgt" for split in ("train", "valid", "test")] +
                                      ["results/enro/prep/tok/test.ref2.tgt", "synthetic", *scores])
    assert not any(flag in words for key, words in on.items() if key not in romanian for flag in ROMANIAN_FLAGS)
    assert sorted(off) == sorted(on) and not any(flag in words for words in off.values() for flag in ROMANIAN_FLAGS)
