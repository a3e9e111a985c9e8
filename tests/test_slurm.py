"""The workflow through a real SLURM scheduler, and fault tolerance under it.

tests/slurm_scenario.py drives a one-node cluster on 127.0.0.1 (scripts/slurm_local.sh) in the
background from the start of the session; these tests check what it recorded and compare its
outputs with the local run of the same tiny config (conftest's `tiny_run`).

Marked `slurm`: `pytest -m "not slurm"` leaves it out, and it skips itself where the cluster
cannot be had (the script exits 3: not root, no apt-get).
"""
from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from conftest import SCENARIO_KEY
from slurm_scenario import CORPUS, Unavailable, planned_jobs

pytestmark = pytest.mark.slurm

GPU_RULES = {"train_model", "distill_shard", "translate_test", "measure_speed"}
SAVE_INTERVAL = 10  # nat_tiny's save_interval_updates (tests/tiny_workflow.py)
STUDENT_JOBS = Counter({"train_model": 1, "average_checkpoints": 1, "translate_test": 1, "score": 1})


@pytest.fixture(scope="module")
def scenario(request):
    return request.config.stash[SCENARIO_KEY]  # started by conftest.pytest_collection_finish


def step(scenario, name):
    try:
        return scenario.record(name)
    except Unavailable as why:
        pytest.skip(f"no local SLURM cluster here: {why}")


def test_cluster_comes_up_on_loopback(scenario):
    cluster = step(scenario, "cluster")
    state = cluster["state"]
    assert cluster["stdout"].strip() == f"export SLURM_CONF={state}/slurm.conf PATH={state}/bin:$PATH"
    conf = open(f"{state}/slurm.conf", encoding="utf-8").read()
    assert "NodeAddr=127.0.0.1" in conf and "SlurmctldHost=localhost(127.0.0.1)" in conf
    print(f"\n[slurm] cluster up in {cluster['seconds']:.1f} s")


def test_every_job_went_through_sbatch_and_gpu_rules_asked_for_gpus(scenario):
    runs = [step(scenario, name) for name in ("dag", "rerun", "resume")]
    jobs = [job for run in runs for job in run["jobs"]]
    # the three runs together submitted the DAG once, plus the redone shard and the resumed training
    expected = planned_jobs(runs[0]["output"]) + Counter({"distill_shard": 1, "train_model": 1})
    assert Counter(job["rule"] for job in jobs) == expected
    for job in jobs:
        want = ("gpu", "gres:gpu:1") if job["rule"] in GPU_RULES else ("cpu", "N/A")
        assert (job["partition"], job["tres"]) == want, job
    assert {job["rule"] for job in jobs} >= {"tokenize", "binarize", "train_model", "distill_shard", "translate_test"}
    outputs = step(scenario, "resume")["outputs"]
    # the jobs saw their fake GPU and ran on the CPU, as the GPU-less torch must
    for system in ("at_tiny", "nat_tiny"):
        done = outputs[system]["done"]
        assert done["slurm_job_id"].isdigit() and done["cuda_visible_devices"] == "0"
        assert (done["gpus_requested"], done["gpus"]) == (1, 0)
        log = outputs[system]["log"]
        assert "1 GPU(s) requested but torch" in log and "running on the CPU" in log and "--cpu" in log
    seconds = [round(run["seconds"]) for run in runs]
    print(f"\n[slurm] DAG through SLURM in three runs (alongside the other tests): {sum(seconds)} s {seconds}")


def test_outputs_equal_those_of_the_local_run(scenario, tiny_run):
    outputs = step(scenario, "resume")["outputs"]
    local = tiny_run / CORPUS
    for system in ("at_tiny", "nat_tiny"):
        assert outputs[system]["bleu"] == json.loads((local / system / "test.bleu.json").read_text())
        assert outputs[system]["hyp"] == (local / system / "test.hyp").read_bytes()


def test_killed_distillation_shard_is_redone_alone_and_the_merge_is_identical(scenario, tiny_run):
    dag, rerun = step(scenario, "dag"), step(scenario, "rerun")
    assert dag["returncode"] != 0 and f"SLURM-job '{dag['job_id']}' failed" in dag["output"]
    # --keep-going: the other two shards finished; shard 1 and the merge left nothing behind
    assert dag["distill_files"] == ["shards/0.json", "shards/0.tgt", "shards/2.json", "shards/2.tgt"]
    assert Counter(job["rule"] for job in dag["jobs"])["distill_merge"] == 0
    redone = [job["wildcards"] for job in rerun["jobs"] if job["rule"] == "distill_shard"]
    assert redone == ["tiny_en_de_at_tiny_1"] and [j["rule"] for j in rerun["jobs"]].count("distill_merge") == 1
    outputs, local = step(scenario, "resume")["outputs"], tiny_run / CORPUS / "distill" / "at_tiny"
    assert outputs["distilled"] == (local / "train.tgt").read_bytes()
    assert outputs["shards"] == [(local / f"shards/{i}.tgt").read_bytes() for i in range(3)]


def test_a_killed_job_leaves_nothing_that_looks_complete(scenario):
    rerun = step(scenario, "rerun")
    assert rerun["returncode"] != 0 and f"SLURM-job '{rerun['job_id']}' failed" in rerun["output"]
    assert rerun["state"] == "CANCELLED"
    # no declared output (train.done.json, checkpoint.avg.pt); only the resumable checkpoints
    assert rerun["outputs_left"] == [] and "checkpoint_last.pt" in rerun["checkpoints_left"]
    assert rerun["planned_after"] == STUDENT_JOBS


def test_killed_training_resumes_from_its_last_checkpoint(scenario, tiny_run):
    rerun, resume = step(scenario, "rerun"), step(scenario, "resume")
    assert Counter(job["rule"] for job in resume["jobs"]) == STUDENT_JOBS
    assert all(job["wildcards"].endswith("nat_tiny") for job in resume["jobs"])
    student = resume["outputs"]["nat_tiny"]
    assert student["done"]["resumed"] is True
    reached = max(int(n) for n in re.findall(r"num_updates (\d+)", rerun["log"]))
    resumed_at = int(re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ (\d+) updates\)",
                               student["log"]).group(1))
    print(f"\n[slurm] training scancelled at update {reached}, resumed from update {resumed_at}: "
          f"{reached - resumed_at} updates lost (save interval {SAVE_INTERVAL})")
    assert 0 <= reached - resumed_at <= SAVE_INTERVAL and "num_updates 30" in student["log"]
    # fairseq restores the data position and seeds by update: the result equals the uninterrupted run
    assert student["bleu"] == json.loads((tiny_run / CORPUS / "nat_tiny/test.bleu.json").read_text())


def test_deleting_one_models_outputs_resubmits_only_that_model(scenario):
    partial = step(scenario, "partial")
    assert Counter(job["rule"] for job in partial["jobs"]) == STUDENT_JOBS
    assert all(job["wildcards"] == "tiny_en_de_nat_tiny" for job in partial["jobs"])
    assert partial["done"]["resumed"] is True  # its checkpoints were kept: nothing to train again
    assert partial["bleu"] == step(scenario, "resume")["outputs"]["nat_tiny"]["bleu"]
