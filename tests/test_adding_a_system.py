"""CONTRIBUTING.md's "Adding a system", done for real: a copy of the repository gets one new folder,
natpipe/systems/toy_nat/ (tests/toy_system), and a config that uses it; nothing else changes.
The whole DAG is then planned (dry run) and the toy's fairseq flags are built by the scripts."""
import json
import os
import re
import shlex
import shutil
import subprocess
import sys

import pytest
import yaml

from conftest import REPO

SKIP = {".git", ".venv", "results", "logs", ".snakemake", "wheelhouse", "__pycache__", ".pytest_cache"}


@pytest.fixture(scope="module")
def repo_with_toy(tmp_path_factory):
    copy = tmp_path_factory.mktemp("repo") / "natpipe-copy"
    shutil.copytree(REPO, copy, ignore=lambda _, names: [n for n in names if n in SKIP])
    shutil.copytree(REPO / "tests" / "toy_system", copy / "natpipe" / "systems" / "toy_nat")
    return copy


def test_a_new_folder_under_natpipe_systems_runs_through_the_whole_dag(repo_with_toy, tmp_path):
    config = {"models": {"toy_sample": {"kind": "toy_nat", "arch": "nonautoregressive_transformer",
                                        "data": "distill", "paper_name": "TOY", "generate": {"iterations": 1}}},
              "corpora": {"sample_en_de": {"systems": ["at_sample", "toy_sample"]}},
              "synthetic": {"cmlm": None}}
    path = tmp_path / "toy.yaml"
    path.write_text(yaml.safe_dump(config))
    env = {**os.environ, "PYTHONPATH": str(repo_with_toy)}  # the copy's natpipe, not this checkout's
    result = subprocess.run([str(shutil.which("snakemake", path=os.path.dirname(sys.executable))), "-n", "-p",
                             "--forceall", "--snakefile", str(repo_with_toy / "Snakefile"), "--configfile", str(path)],
                            cwd=repo_with_toy, capture_output=True, text=True, env=env, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    jobs = dict(re.findall(r"^(\w+)\s+(\d+)$", out.split("Job stats:")[1].split("total")[0], re.M))
    # teacher + toy trained, both decoded and scored (and the teacher's 2 CTranslate2 rows), distillation
    # for the toy's data, speed, tables
    assert jobs["train_model"] == "2" and jobs["translate_test"] == "4" and jobs["score"] == "4"
    assert jobs["distill_shard"] == "2" and "synthetic_masking" not in jobs
    assert jobs["measure_speed"] == "1" and jobs["speed_table"] == "1"  # the sample's rows in one speed job, one table
    train = next(line for line in out.splitlines() if "train.py" in line and "toy_sample" in line)
    words = shlex.split(train.split(">")[0])
    model = json.loads(words[words.index("--model") + 1])
    assert model["length_loss"] == 0.3 and model["kind"] == "toy_nat"  # its own default, filled in
    assert json.loads(words[words.index("--inputs") + 1]) == {
        "teacher": "results/sample_en_de/at_sample/checkpoint.avg.pt"}  # a training-time teacher
    assert words[words.index("--data-bin") + 1] == "results/sample_en_de/distill/at_sample/data-bin"

    flags = subprocess.run(
        [sys.executable, "-c", "import json, sys, fairseq_args; print(json.dumps(fairseq_args.train_args("
         "json.loads(sys.argv[1]), 'bin', 'en', 'de', 'ckpt', 0, None, json.loads(sys.argv[2]))))",
         json.dumps(model), json.dumps({"teacher": "t.pt"})],
        cwd=repo_with_toy, capture_output=True, text=True, env={**env, "PYTHONPATH": f"{repo_with_toy}{os.pathsep}{repo_with_toy / 'scripts'}"},
        timeout=120)
    assert flags.returncode == 0, flags.stderr
    args = json.loads(flags.stdout)
    assert args[args.index("--length-loss-factor") + 1] == "0.3" and args[args.index("--toy-teacher-path") + 1] == "t.pt"
    assert args[args.index("--noise") + 1] == "full_mask"  # inherited from vanilla NAT


def test_the_guide_lists_at_most_five_places():
    guide = (REPO / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = guide.split("## Adding a system")[1].split("\n## ")[0]
    places = re.findall(r"^\d+\. ", section, re.M)
    assert 1 <= len(places) <= 5
