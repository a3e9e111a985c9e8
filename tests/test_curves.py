"""Learning curves parsed from fairseq-train's log (natpipe.curves) and drawn per corpus."""
import json
import subprocess
import sys

import pandas as pd

from conftest import REPO
from natpipe.curves import parse_training_log

LOG = """\
2026-11-30 INFO:fairseq_cli.train:model transformer, criterion LabelSmoothedCrossEntropyCriterion
INFO:train_inner:epoch 001:     50 / 317 loss=9.1, nll_loss=8.9, ppl=477.7, wps=1755.7, ups=2.11, wpb=800, bsz=46.5, num_updates=50, lr=0.0001, gnorm=0.786, train_wall=16, wall=18
INFO:train_inner:epoch 001:    100 / 317 loss=8.4, nll_loss=7.75, ppl=215.26, wps=1711.8, ups=2.06, wpb=1000, bsz=49.4, num_updates=100, lr=0.0002, gnorm=0.814, train_wall=24, wall=42
INFO:valid:epoch 001 | valid on 'valid' subset | loss 8.25 | nll_loss 7.5 | ppl 181.02 | wps 5854.6 | wpb 627.1 | bsz 35.7 | num_updates 120 | best_loss 8.25
INFO:train:epoch 001 | loss 8.7 | nll_loss 8.1 | num_updates 120
INFO:train_inner:epoch 002:     30 / 317 loss=8.0, nll_loss=7.2, wps=1700, ups=2.0, wpb=600, bsz=40, num_updates=150, lr=0.0003
INFO:valid:epoch 002 | valid on 'valid' subset | loss 7.5 | nll_loss 6.75 | skip_at_loss 3.25 | ppl 107.6 | num_updates 150 | best_loss 7.5
"""


def test_validation_points_with_the_target_tokens_seen():
    points = parse_training_log(LOG.splitlines())
    # 50 x 800 + 50 x 1000 = 90,000 tokens at update 100; update 120 carries the last rate on:
    # + 20 x 1000; update 150: 90,000 + 50 x 600 (the line at 150 covers updates 101-150)
    assert [(p["update"], p["target_tokens"]) for p in points] == [(120, 110_000), (150, 120_000)]
    assert points[0]["valid_loss"] == 8.25 and points[0]["valid_nll_loss"] == 7.5 and points[0]["valid_ppl"] == 181.02
    assert points[1]["valid_skip_at_loss"] == 3.25  # a system's own losses come along
    assert "valid_wps" not in points[0] and "valid_best_loss" not in points[0]


def test_a_resumed_run_forgets_what_was_logged_past_its_checkpoint():
    # killed after validating at 150, resumed from the checkpoint of update 100
    resumed = LOG + """\
INFO:train_inner:epoch 001:    110 / 317 loss=8.3, wpb=500, num_updates=110
INFO:valid:epoch 001 | valid on 'valid' subset | loss 8.0 | nll_loss 7.25 | num_updates 130
"""
    points = parse_training_log(resumed.splitlines())
    # the points at 120 and 150 lay past the restart; tokens: 90,000 at update 100, + 10 x 500 at
    # 110, + 20 x 500 carried to 130
    assert [(p["update"], p["target_tokens"], p["valid_loss"]) for p in points] == [(130, 105_000, 8.0)]


def test_the_corpus_table_and_figure(tmp_path):
    done = []
    for name, loss in (("at", 5.0), ("nat", 9.0)):
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"curve": [{"update": 10, "target_tokens": 100, "valid_loss": loss,
                                               "valid_nll_loss": loss - 1},
                                              {"update": 20, "target_tokens": 200, "valid_loss": loss - 2,
                                               "valid_nll_loss": loss - 3}]}))
        done.append(str(path))
    csv, png = tmp_path / "curves.csv", tmp_path / "curves.png"
    subprocess.run([sys.executable, str(REPO / "scripts" / "curves.py"), "--done", *done, "--systems", "at", "nat",
                    "--csv", str(csv), "--figure", str(png)], check=True, capture_output=True)
    table = pd.read_csv(csv)
    assert table[["system", "update", "valid_nll_loss"]].values.tolist() == [
        ["at", 10, 4.0], ["at", 20, 2.0], ["nat", 10, 8.0], ["nat", 20, 6.0]]
    assert png.read_bytes()[:4] == b"\x89PNG"
    (tmp_path / "old.json").write_text("{}")
    old = subprocess.run([sys.executable, str(REPO / "scripts" / "curves.py"), "--done", str(tmp_path / "old.json"),
                          "--systems", "at", "--csv", str(tmp_path / "x.csv"), "--figure", str(tmp_path / "x.png")],
                         capture_output=True, text=True)
    assert old.returncode == 1 and "no validation point recorded" in old.stderr and not (tmp_path / "x.csv").exists()


def test_valid_bleu_points_join_the_table_where_they_were_decoded(tmp_path):
    done = []
    for name, bleu in (("at", None), ("nat", 3.5)):
        point = {"update": 10, "target_tokens": 100, "valid_loss": 5.0, "valid_nll_loss": 4.0}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"curve": [point if bleu is None else {**point, "valid_bleu": bleu},
                                              {**point, "update": 20}]}))
        done.append(str(path))
    csv, png = tmp_path / "curves.csv", tmp_path / "curves.png"
    subprocess.run([sys.executable, str(REPO / "scripts" / "curves.py"), "--done", *done, "--systems", "at", "nat",
                    "--csv", str(csv), "--figure", str(png)], check=True, capture_output=True)
    table = pd.read_csv(csv)
    assert table["valid_bleu"].tolist()[2] == 3.5 and table["valid_bleu"].isna().sum() == 3
    assert png.read_bytes()[:4] == b"\x89PNG"
