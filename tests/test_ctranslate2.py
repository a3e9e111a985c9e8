"""CTranslate2 rows: the tiny AT of the end-to-end run converted by ct2-fairseq-converter must
translate as fairseq does (greedy: token for token; beam 5: BLEU within 0.3), the conversion must
record its source, and the workflow must add one row per compute type."""
import copy
import hashlib
import json

import pytest
import sacrebleu
import yaml

from conftest import REPO
from tiny_workflow import TINY

CORPUS = "tiny_en_de"


def fairseq_and_ctranslate2(tiny_run, beam: int, compute_type: str = "float32"):
    from fairseq_args import generate_args

    from natpipe.decoding.ctranslate2 import load_ctranslate2_system
    from natpipe.decoding.systems import load_system

    results = tiny_run / "results" / CORPUS
    generate = {**TINY["generate"], "beam": beam, "lenpen": 1.0}
    model = {**TINY, "generate": generate}
    data_bin = str(results / "data-bin")
    fairseq = load_system(generate_args(model, data_bin, "en", "de", str(results / "at_tiny/checkpoint.avg.pt"),
                                        "bpe", "test", 0))
    ct2 = load_ctranslate2_system({"generate": {**generate, "ct2_model": str(results / "at_tiny/ctranslate2"),
                                                "compute_type": compute_type}}, data_bin, "en", "de")
    return fairseq, ct2


def translate_all(system, batches):
    out = {}
    for batch in batches:
        out.update(system.translate(batch))
    return out


def test_greedy_translations_equal_fairseqs(tiny_run):
    fairseq, ct2 = fairseq_and_ctranslate2(tiny_run, beam=1)
    batches = ct2.generate_batches()
    assert sorted(i for b in batches for i in b) == list(range(len(fairseq.dataset)))
    expected, got = translate_all(fairseq, batches), translate_all(ct2, batches)
    assert got == expected
    assert any(len(tokens) > 0 for tokens in got.values())
    # cutting at each sentence's own cap inside a batch gives the same tokens as decoding it alone
    alone = {i: ct2.translate([i])[i] for i in range(0, len(fairseq.dataset), 7)}
    assert alone == {i: got[i] for i in alone}


def test_the_converted_network_scores_references_as_fairseqs(tiny_run):
    """Teacher-forced log-probabilities of every reference token (EOS included) from fairseq's
    network and from CTranslate2's converted one: the whole network compared, not only argmaxes
    (the 30-update model's greedy outputs are short)."""
    import torch

    fairseq, ct2 = fairseq_and_ctranslate2(tiny_run, beam=1)
    ct2.to("cpu")
    ids = list(range(len(fairseq.dataset)))
    sample = fairseq.batch(ids)
    model = fairseq.models[0]
    with torch.no_grad():
        lprobs = model.get_normalized_probs(model(**sample["net_input"]), log_probs=True)
    expected = lprobs.gather(-1, sample["target"].unsqueeze(-1)).squeeze(-1)
    pad = fairseq.tgt_dict.pad()
    targets = {i: [fairseq.tgt_dict[t] for t in fairseq.dataset.tgt[i].tolist()[:-1]] for i in ids}
    scored = ct2.translator.score_batch([ct2.source_tokens(i) for i in ids], [targets[i] for i in ids])
    for row, sentence_id in enumerate(sample["id"].tolist()):
        want = expected[row][sample["target"][row] != pad]
        got = torch.tensor(scored[ids.index(sentence_id)].log_probs)
        assert len(got) == len(want) == len(targets[sentence_id]) + 1
        assert torch.allclose(got, want, atol=1e-3), sentence_id


def test_beam_5_bleu_within_0_3_of_fairseqs(tiny_run):
    fairseq, ct2 = fairseq_and_ctranslate2(tiny_run, beam=5)
    batches = ct2.generate_batches()
    expected = translate_all(fairseq, batches)
    got = {i: tokens for i, (tokens, _) in ct2.decode().items()}
    assert sorted(got) == sorted(expected)
    refs = (tiny_run / "results" / CORPUS / "prep/tok/test.tgt").read_text(encoding="utf-8").splitlines()

    def bleu(hyps):
        lines = [fairseq.string(hyps[i], "subword_nmt") for i in range(len(refs))]
        return sacrebleu.corpus_bleu(lines, [refs], tokenize="none").score

    assert abs(bleu(got) - bleu(expected)) <= 0.3
    assert sum(got[i] == expected[i] for i in got) >= 0.8 * len(got)


def test_conversion_records_its_source_and_the_rows_bleu(tiny_run):
    results = tiny_run / "results" / CORPUS
    record = json.loads((results / "at_tiny/ctranslate2/natpipe_source.json").read_text())
    checkpoint = results / "at_tiny/checkpoint.avg.pt"
    assert record["checkpoint_sha256"] == hashlib.sha256(checkpoint.read_bytes()).hexdigest()
    assert record["ctranslate2"] == "4.8.5" and (results / "at_tiny/ctranslate2/model.bin").stat().st_size > 0
    # the summary's CTranslate2 rows decode the same test set with the model's beam (2 here)
    for model in ("at_tiny", "at_tiny_md"):
        fairseq = json.loads((results / model / "test.bleu.json").read_text())
        ct2 = json.loads((results / f"{model}_ct2_int8" / "test.bleu.json").read_text())
        assert ct2["model"] == model and ct2["n_sentences"] == fairseq["n_sentences"]
        assert abs(ct2["bleu_tok"] - fairseq["bleu_tok"]) <= 1.0  # int8 weights: close, not equal


def test_an_unsupported_model_is_one_error_and_leaves_nothing(tiny_run, tmp_path):
    import subprocess
    import sys

    results = tiny_run / "results" / CORPUS
    out = tmp_path / "nat" / "ctranslate2"
    run = subprocess.run([sys.executable, str(REPO / "scripts/ctranslate2_convert.py"), "--checkpoint",
                          str(results / "nat_tiny/checkpoint.avg.pt"), "--data-bin", str(results / "data-bin"),
                          "--src", "en", "--tgt", "de", "--output-dir", str(out)], capture_output=True, text=True)
    assert run.returncode == 1
    last = run.stderr.strip().splitlines()[-1]
    assert last.startswith("ctranslate2_convert.py: error: ") and "ct2-fairseq-converter cannot convert it" in last
    assert "'nonautoregressive_transformer' is not supported" in last
    assert not out.exists() and list(out.parent.iterdir()) == []


CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))  # the sample: at_sample is the AT


@pytest.mark.parametrize("settings, gpus, expected", [
    ({}, 0, ["float32", "int8"]),
    ({}, 1, ["float32", "int8", "float16", "bfloat16"]),
    ({"cpu": ["int8"], "gpu": ["int8", "float16"]}, 1, ["int8", "float16"]),
    ({"cpu": [], "gpu": []}, 1, []),
])
def test_the_workflow_adds_a_row_per_compute_type(settings, gpus, expected):
    from natpipe.workflow import Workflow

    config = copy.deepcopy(CONFIG)
    config["ctranslate2"] = settings
    config["compute"]["gpus_per_decoding_job"] = gpus
    workflow = Workflow(config)
    rows = workflow.rows_of("sample_en_de")
    ct2 = [f"at_sample_ct2_{t}" for t in expected]
    assert rows[:len(ct2) + 2] == ["at_sample", *ct2, "CMLM10"]
    assert not any("_ct2_" in row for row in rows[len(ct2) + 1:])  # no other model is an AT
    for row, compute_type in zip(ct2, expected):
        spec = workflow.row_spec("sample_en_de", row)
        assert workflow.row_model("sample_en_de", row) == "at_sample"
        assert spec["generate"]["engine"] == "ctranslate2" and spec["generate"]["compute_type"] == compute_type
        assert spec["generate"]["beam"] == CONFIG["models"]["at_sample"]["generate"]["beam"]
        assert workflow.row_files("sample_en_de", row) == ["results/sample_en_de/at_sample/ctranslate2"]
    assert workflow.row_spec("sample_en_de", "at_sample")["generate"]["engine"] == "fairseq"
    assert all("_ct2_" not in r["row"] for r in json.loads(workflow.paper_rows_json()))  # no paper has them


def test_a_row_named_like_a_ctranslate2_row_is_a_config_error():
    from natpipe.errors import ConfigError
    from natpipe.workflow import Workflow

    config = copy.deepcopy(CONFIG)
    config["models"]["nat_sample"]["variants"] = {"at_sample_ct2_int8": {}}
    config["corpora"]["sample_en_de"]["systems"].append("nat_sample")
    with pytest.raises(ConfigError, match="config key ctranslate2: the CTranslate2 row 'at_sample_ct2_int8' .* 'nat_sample'"):
        Workflow(config)
    config = copy.deepcopy(CONFIG)
    config["corpora"]["sample_en_de"]["ctranslate2"] = {"models": ["at_sample", "cmlm_sample"]}
    with pytest.raises(ConfigError, match="config key corpora.sample_en_de.ctranslate2.models: 'cmlm_sample' is "
                       "not an AT system of corpus sample_en_de .CTranslate2 converts kind at."):
        Workflow(config)
    config["corpora"]["sample_en_de"]["ctranslate2"] = {"models": []}
    assert not any("_ct2_" in row for row in Workflow(config).rows_of("sample_en_de"))
