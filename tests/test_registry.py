"""The system registry, the assembled config schema and the workflow's config resolution, without
Snakemake: defaults per kind, errors naming the key, rows and the files they read, quoting."""
import copy
import json
import shlex
from types import SimpleNamespace

import pytest
import yaml
from snakemake.utils import update_config

from conftest import REPO
from natpipe.config import config_schema, resolve_model, validate
from natpipe.errors import ConfigError
from natpipe.registry import Files, system_of, systems
from natpipe.workflow import PATHS, Workflow, flags

DEFAULT = yaml.safe_load((REPO / "config.yaml").read_text())
# every sample row (NPD, the LM row, CMLM1/4/10), as snakemake merges configs/sample_full.yaml over the default
FULL = copy.deepcopy(DEFAULT)
update_config(FULL, yaml.safe_load((REPO / "configs" / "sample_full.yaml").read_text()))


def workflow(**models):
    config = copy.deepcopy(FULL)
    for name, changes in models.items():
        config["models"][name] = {**config["models"][name], **changes}
    return Workflow(config)


class Inputs(SimpleNamespace):
    """Snakemake's named input list, as much as the input functions use of it."""

    def keys(self):
        return vars(self).keys()


def test_every_package_under_natpipe_systems_is_a_registered_kind():
    packages = sorted(p.name for p in (REPO / "natpipe" / "systems").iterdir() if (p / "system.py").exists())
    assert sorted({s.package for s in systems()}) == packages
    assert {s.kind for s in systems()} == {"at", "nat", "cmlm", "hrt", "fnat", "mtnat", "hint_nart", "xlmd"}
    assert config_schema()["$defs"]["model"]["properties"]["kind"]["enum"] == [s.kind for s in systems()]


def test_a_model_gets_the_defaults_of_its_own_kind_and_nothing_of_another():
    fnat = resolve_model({"kind": "fnat", "arch": "fully_nat_transformer"})
    # Gu & Kong 2021: CTC with lambda = 3, no latents or glancing unless asked; greedy decoding
    assert (fnat["loss"], fnat["upsample_ratio"], fnat["vae"], fnat["glancing"]) == ("ctc", 3.0, None, "none")
    assert fnat["generate"]["ctc_beam"] == 1 and fnat["generate"]["npd"] == 1 and fnat["generate"]["lm"] is False
    hrt = resolve_model({"kind": "hrt", "arch": "hrt_transformer"})
    assert hrt["chunk_size"] == 2 and hrt["curriculum"] == {"lambda": 1.0, "steps": None, "enabled": True}
    assert hrt["generate"]["b_nat"] == 1 and "loss" not in hrt and "ctc_beam" not in hrt["generate"]
    cmlm = resolve_model({"kind": "cmlm", "arch": "cmlm_transformer"})
    assert cmlm["generate"]["iterations"] == 10 and "chunk_size" not in cmlm  # mask-predict's 10 passes
    at = resolve_model({"kind": "at", "arch": "transformer"})
    assert set(at) == {"kind", "arch", "share_all_embeddings", "pre_norm", "data", "distill_teacher", "paper", "p_raw", "train", "generate",
                       "variants"}
    assert at["train"]["dropout"] == 0.1 and at["generate"]["beam"] == 5
    # nested defaults: a given VAE block is completed, a given value is kept
    vae = resolve_model({"kind": "fnat", "arch": "x", "vae": {"latent_dim": 4}})["vae"]
    assert vae == {"latent_dim": 4, "posterior_layers": 3, "free_bits": 1.0, "anneal_updates": 0}
    assert resolve_model(fnat) == fnat  # idempotent: scripts resolve again what the workflow resolved


@pytest.mark.parametrize("model, message", [
    ({"kind": "at", "arch": "t", "chunk_size": 3}, "config key models.m.chunk_size: only models of kind hrt have chunk_size"),
    ({"kind": "cmlm", "arch": "t", "generate": {"ctc_beam": 5}},
     "config key models.m.generate.ctc_beam: only models of kind fnat or mtnat decode with ctc_beam"),
    ({"kind": "nat", "arch": "t", "variants": {"V": {"b_nat": 2}}},
     "config key models.m.variants.V.b_nat: only models of kind hrt decode with b_nat"),
])
def test_keys_of_another_kind_are_rejected_with_the_kind_that_has_them(model, message):
    with pytest.raises(ConfigError) as err:
        resolve_model(model, "m")
    assert str(err.value) == message


def test_variants_take_a_kinds_decoding_keys_without_filling_them_in():
    config = copy.deepcopy(FULL)
    validate(config)
    variants = config["models"]["fnat_vae_sample"]["variants"]
    assert all("npd_temperature" not in spec for spec in variants.values())  # only generate has defaults
    with pytest.raises(ConfigError, match="models.cmlm_sample.variants.CMLM1.iterations: 0 is less than"):
        bad = copy.deepcopy(FULL)
        bad["models"]["cmlm_sample"]["variants"]["CMLM1"]["iterations"] = 0
        validate(bad)


def test_a_row_is_its_model_with_the_variant_merged_and_the_files_its_system_reads():
    w = workflow()
    teacher = PATHS["average"].format(corpus="sample_en_de", system="at_sample")
    rows = {row: w.row_spec("sample_en_de", row) for row in w.rows_of("sample_en_de")}
    npd = next(r for r, spec in rows.items() if spec["generate"].get("npd", 1) > 1)
    assert rows[npd]["generate"]["npd_teacher_checkpoint"] == teacher
    assert teacher in w.row_files("sample_en_de", npd)
    lm_row = next(r for r, spec in rows.items() if spec["generate"].get("lm"))
    assert set(w.row_files("sample_en_de", lm_row)) == {
        "results/sample_en_de/distill/at_sample/lm.arpa.bin", f"results/sample_en_de/{lm_row}/lm_weights.json"}
    cmlm = FULL["models"]["cmlm_sample"]["variants"]
    for name, spec in cmlm.items():  # CMLM1/4/10: the variant's iterations over the model's generate
        assert rows[name]["generate"]["iterations"] == spec["iterations"]
        assert w.row_model("sample_en_de", name) == "cmlm_sample" and w.row_files("sample_en_de", name) == []
    assert all("paper_name" not in spec for spec in rows.values())  # labels never reach the decoder
    job = next(j for j in w.speed_jobs("sample_en_de") if lm_row in w.speed_job_rows("sample_en_de", j))
    speed = w.speed_inputs(SimpleNamespace(corpus="sample_en_de", system=job))  # the LM row's job, with the reference
    assert teacher in speed and "results/sample_en_de/distill/at_sample/lm.arpa.bin" in speed and len(speed) == len(set(speed))


def test_training_inputs_come_from_the_data_strategy_and_the_system():
    w = workflow()
    hrt = w.training_inputs(SimpleNamespace(corpus="sample_en_de", system="hrt_sample"))
    assert hrt == {"data": "results/sample_en_de/data-bin", "distill": "results/sample_en_de/distill/at_sample/data-bin",
                   "init": "results/sample_en_de/at_sample/checkpoint.avg.pt"}  # MixDistill + FT from the AT
    words = shlex.split(w.training_flags(None, Inputs(**hrt)))
    assert words[:2] == ["--distill-bin", hrt["distill"]]
    assert json.loads(words[words.index("--inputs") + 1]) == {"init": hrt["init"]}
    nat = w.training_inputs(SimpleNamespace(corpus="sample_en_de", system="nat_sample"))
    assert nat == {"data": "results/sample_en_de/distill/at_sample/data-bin"} and w.training_flags(None, Inputs(**nat)) == ""
    assert system_of("hrt").training_input_args({"init": "a b.pt"}) == ["--finetune-from-model", "a b.pt"]


def test_files_name_the_corpus_checkpoints():
    files = Files("c", "t", PATHS)
    assert files.teacher_checkpoint() == "results/c/t/checkpoint.avg.pt" == files.checkpoint("t")


NASTY = "dir with space/it's; touch PWNED"


def test_config_values_reaching_a_shell_stay_one_word():
    assert shlex.split(flags("--x", NASTY, "", None, 3)) == ["--x", NASTY, "3"]
    config = copy.deepcopy(DEFAULT)
    config["mirror"] = NASTY
    config["corpora"]["sample_en_de"]["sources"]["cat"] = {
        "kind": "gettext", "lang": "de", "catalog_dir": NASTY, "extra_packages": ["vlc-l10n"], "cache_dir": NASTY + "2"}
    w = Workflow(config)
    assert shlex.split(w.mirror_flags()) == ["--mirror", NASTY]
    words = shlex.split(w.gettext_flags(SimpleNamespace(corpus="sample_en_de", source="cat")))
    assert words[words.index("--catalog-dir") + 1] == NASTY and words[words.index("--cache") + 1] == NASTY + "2"
