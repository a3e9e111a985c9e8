"""train.bleu_at: a training that stops at chosen updates to decode the valid set is the same run
as one that never stops, and the BLEU it records is that of the checkpoint of that update."""
import json
import os
import subprocess
import sys

import sacrebleu
import torch

from conftest import REPO
from tiny_workflow import TINY

sys.path.insert(0, str(REPO / "scripts"))
from fairseq_args import decode_args  # noqa: E402

from natpipe.registry import system_of  # noqa: E402


def train(tiny_run, tmp_path, name, **train_settings):
    model = {**TINY, "train": {**TINY["train"], "max_update": 20, "save_interval_updates": 10, **train_settings}}
    save_dir = tmp_path / name
    done = tmp_path / f"{name}.json"
    subprocess.run([sys.executable, str(REPO / "scripts" / "train.py"), "--model", json.dumps(model),
                    "--data-bin", str(tiny_run / "results/tiny_en_de/data-bin"), "--src", "en", "--tgt", "de",
                    "--save-dir", str(save_dir), "--done", str(done)],
                   check=True, capture_output=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return model, save_dir, json.loads(done.read_text())


def test_legs_make_the_same_run_and_record_the_bleu_of_their_checkpoint(tiny_run, tmp_path):
    model, legs, done = train(tiny_run, tmp_path, "legs", bleu_at=[10])
    _, straight, straight_done = train(tiny_run, tmp_path, "straight")
    ours = torch.load(legs / "checkpoint_last.pt", map_location="cpu", weights_only=False)["model"]
    theirs = torch.load(straight / "checkpoint_last.pt", map_location="cpu", weights_only=False)["model"]
    assert ours.keys() == theirs.keys()
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    assert [p["valid_loss"] for p in done["curve"]] == [p["valid_loss"] for p in straight_done["curve"]]

    points = {p["update"]: p for p in done["curve"]}
    assert "valid_bleu" in points[10] and "valid_bleu" not in points[20]
    # independently: decode the checkpoint fairseq kept at update 10 and score it with sacrebleu
    checkpoint = next(legs.glob("checkpoint_*_10.pt"))
    args = decode_args(model, str(tiny_run / "results/tiny_en_de/data-bin"), "en", "de", str(checkpoint), "valid",
                       0, "subword_nmt")
    out = subprocess.run([sys.executable, "-m", "natpipe.fairseq_cli", "generate", *args], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    hyps = {int(line.split("\t")[0][2:]): line.split("\t")[2] for line in out if line.startswith("H-")}
    refs = {int(line.split("\t")[0][2:]): line.split("\t")[1] for line in out if line.startswith("T-")}
    expected = sacrebleu.corpus_bleu([hyps[i] for i in sorted(hyps)], [[refs[i] for i in sorted(hyps)]],
                                     tokenize="none", smooth_method="none").score
    assert points[10]["valid_bleu"] == round(expected, 2)


def test_decoding_without_second_files():
    fnat = {"kind": "fnat", "generate": {"ctc_beam": 20, "lm": True, "npd": 9}}
    assert system_of(fnat).standalone_decoding(fnat["generate"]) == {"ctc_beam": 20, "lm": False, "npd": 1}
    hrt = {"kind": "hrt", "generate": {"beam": 5, "skip_cmlm_from": "other"}}
    assert system_of(hrt).standalone_decoding(hrt["generate"])["skip_cmlm_from"] is None
    at = {"kind": "at", "generate": {"beam": 5}}
    assert system_of(at).standalone_decoding(at["generate"]) == {"beam": 5}
