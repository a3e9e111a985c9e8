"""The workflow through a real SLURM scheduler, and fault tolerance under it.

scripts/slurm_local.sh brings up a one-node Slurm 22.05 cluster on 127.0.0.1 for this module
(Debian's slurmctld/slurmd/munge, two fake GPUs) and stops it by PID at the end. The tiny DAG's
teacher -> distillation -> NAT student path then runs with `--profile profiles/slurm-local` and
profiles/slurm-local/workflow.yaml (GPU rules ask for a GPU on partition `gpu`), and its outputs are
compared with the local run of the same config (conftest's `tiny_run`).

Marked `slurm`: `pytest -m "not slurm"` leaves it out, and it skips itself where the cluster
cannot be had (the script exits 3: not root, no apt-get). Every scheduler run has a hard timeout.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from conftest import REPO, snakemake
from tiny_workflow import write_tiny_config

pytestmark = pytest.mark.slurm

SCRIPT = REPO / "scripts" / "slurm_local.sh"
CORPUS = "results/tiny_en_de"
# The teacher -> distillation -> student path of the tiny DAG, up to both BLEU files.
TARGETS = [f"{CORPUS}/at_tiny/test.bleu.json", f"{CORPUS}/nat_tiny/test.bleu.json", f"{CORPUS}/distill/stats.json"]
GPU_RULES = {"train_model", "distill_shard", "translate_test", "measure_speed"}
SAVE_INTERVAL = 10  # nat_tiny's save_interval_updates (tests/tiny_workflow.py)
HARD_TIMEOUT = 600  # seconds for any one scheduler run


@dataclass
class Cluster:
    state: Path
    env: dict
    bring_up_seconds: float

    def jobs(self) -> dict[int, dict]:
        """Every job slurmctld still remembers (MinJobAge is an hour): id -> rule, wildcards,
        partition, GPUs asked for, state."""
        out = subprocess.run(["squeue", "-h", "-t", "all", "-O",
                              "JobID:20,Partition:20,tres-per-job:30,State:20,Comment:300"],
                             env=self.env, capture_output=True, text=True, check=True, timeout=60).stdout
        jobs = {}
        for line in out.splitlines():
            job_id, partition, tres, state, comment = line.split()
            named = re.fullmatch(r"rule_(.+?)(_wildcards_(.*))?", comment)
            if named is None:
                continue  # not submitted by Snakemake
            rule, wildcards = named.group(1, 3)
            jobs[int(job_id)] = {"rule": rule, "wildcards": wildcards or "", "partition": partition,
                                 "tres": tres, "state": state}
        return jobs


def free_port_pair() -> int:
    """A port p on 127.0.0.1 with p and p+1 both free (slurmctld and slurmd)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        if port < 65000:
            with socket.socket() as a, socket.socket() as b:
                try:
                    a.bind(("127.0.0.1", port))
                    b.bind(("127.0.0.1", port + 1))
                    return port
                except OSError:
                    continue
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("bash") is None or sys.platform != "linux":
        pytest.skip("the local SLURM cluster needs Linux and bash")
    state = Path(tempfile.mkdtemp(prefix="natpipe-slurm-"))  # not under pytest's 0700 tmp: munge checks paths
    env = {**os.environ, "SLURM_LOCAL_PORT": str(free_port_pair())}
    began = time.monotonic()
    started = subprocess.run(["bash", str(SCRIPT), "start", str(state)], env=env, capture_output=True,
                             text=True, timeout=300)
    if started.returncode == 3:
        pytest.skip(started.stderr.strip().splitlines()[-1])
    try:
        assert started.returncode == 0, started.stderr
        bring_up = time.monotonic() - began
        env["SLURM_CONF"] = str(state / "slurm.conf")
        env["PATH"] = f"{state / 'bin'}{os.pathsep}{env['PATH']}"
        assert started.stdout.strip() == f"export SLURM_CONF={state}/slurm.conf PATH={state}/bin:$PATH"
        print(f"\n[slurm] cluster up in {bring_up:.1f} s (script output: {started.stderr.strip()})")
        yield Cluster(state, env, bring_up)
    finally:
        stopped = subprocess.run(["bash", str(SCRIPT), "stop", str(state)], env=env, capture_output=True,
                                 text=True, timeout=120)
        assert stopped.returncode == 0, stopped.stderr
        for daemon in ("slurmd", "slurmctld", "munged"):
            assert not (state / f"{daemon}.pid").exists(), f"{daemon} still has a PID file"
        shutil.rmtree(state, ignore_errors=True)


def cluster_snakemake(cluster, work, *targets, extra=(), timeout=HARD_TIMEOUT):
    return snakemake(*targets, "--directory", work, "--profile", REPO / "profiles/slurm-local",
                     *extra, "--configfile", work / "tiny.yaml", REPO / "profiles/slurm-local/workflow.yaml", work / "log.yaml",
                     env=cluster.env, timeout=timeout)


def planned_jobs(output: str) -> Counter:
    table = output.split("Job stats:")[1].split("total")[0]
    return Counter({m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)})


def submitted_since(cluster, before: set[int]) -> list[dict]:
    return [job for job_id, job in sorted(cluster.jobs().items()) if job_id not in before]


@pytest.fixture(scope="module")
def slurm_run(cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm")
    write_tiny_config(work)
    # nat_tiny logs every update, so that the fault test can count the updates a kill loses
    (work / "log.yaml").write_text(yaml.safe_dump({"models": {"nat_tiny": {"train": {"log_interval": 1}}}}))
    before = set(cluster.jobs())
    began = time.monotonic()
    result = cluster_snakemake(cluster, work, *TARGETS)
    wall = time.monotonic() - began
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    print(f"\n[slurm] tiny DAG (teacher, distillation, student; {len(TARGETS)} targets) through SLURM: {wall:.0f} s")
    return {"work": work, "output": result.stdout + result.stderr, "jobs": submitted_since(cluster, before),
            "wall": wall}


def test_every_job_went_through_sbatch_and_gpu_rules_asked_for_gpus(slurm_run):
    jobs = slurm_run["jobs"]
    assert Counter(job["rule"] for job in jobs) == planned_jobs(slurm_run["output"])
    assert {job["state"] for job in jobs} == {"COMPLETED"}
    for job in jobs:
        if job["rule"] in GPU_RULES:
            assert (job["partition"], job["tres"]) == ("gpu", "gres:gpu:1"), job
        else:
            assert (job["partition"], job["tres"]) == ("cpu", "N/A"), job
    assert {job["rule"] for job in jobs} >= {"tokenize", "binarize", "train_model", "distill_shard", "translate_test"}
    # the jobs saw their fake GPU and ran on the CPU, as the GPU-less torch must
    for system in ("at_tiny", "nat_tiny"):
        done = json.loads((slurm_run["work"] / CORPUS / system / "train.done.json").read_text())
        assert done["slurm_job_id"].isdigit() and done["cuda_visible_devices"] == "0"
        assert (done["gpus_requested"], done["gpus"]) == (1, 0)
        log = (slurm_run["work"] / f"logs/train/tiny_en_de/{system}.log").read_text(encoding="utf-8")
        assert "1 GPU(s) requested but torch" in log and "running on the CPU" in log and "--cpu" in log


def test_outputs_equal_those_of_the_local_run(slurm_run, tiny_run):
    for system in ("at_tiny", "nat_tiny"):
        ours = json.loads((slurm_run["work"] / CORPUS / system / "test.bleu.json").read_text())
        local = json.loads((tiny_run / CORPUS / system / "test.bleu.json").read_text())
        assert ours == local
        assert (slurm_run["work"] / CORPUS / system / "test.hyp").read_bytes() == (tiny_run / CORPUS / system / "test.hyp").read_bytes()
    assert (slurm_run["work"] / CORPUS / "distill/train.tgt").read_bytes() == (tiny_run / CORPUS / "distill/train.tgt").read_bytes()


def wait_for(condition, what: str, timeout: float = 300, every: float = 0.2):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def running_job(cluster, rule: str, wildcards: str):
    def find():
        for job_id, job in cluster.jobs().items():
            if job["rule"] == rule and job["wildcards"] == wildcards and job["state"] == "RUNNING":
                return job_id
        return None
    return find


def start_cluster_snakemake(cluster, work, *targets, extra=()) -> subprocess.Popen:
    exe = Path(sys.executable).with_name("snakemake")
    env = dict(cluster.env)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    return subprocess.Popen([str(exe), "--snakefile", str(REPO / "Snakefile"), *targets, "--directory", str(work),
                             "--profile", str(REPO / "profiles/slurm-local"), *extra, "--configfile",
                             str(work / "tiny.yaml"), str(REPO / "profiles/slurm-local/workflow.yaml"), str(work / "log.yaml")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def finish(process: subprocess.Popen, timeout: float = HARD_TIMEOUT) -> tuple[int, str]:
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
        output, _ = process.communicate()
        raise AssertionError(f"snakemake ran past {timeout} s:\n{output[-3000:]}")
    return process.returncode, output


def test_killed_training_resumes_and_only_the_models_dependants_rerun(cluster, slurm_run, tiny_run):
    """Delete the student's outputs, scancel its training right after its first checkpoint, rerun:
    only the student and what depends on it are submitted, training resumes from checkpoint_last.pt
    losing at most one save interval, and the BLEU file equals the uninterrupted local run's."""
    work = slurm_run["work"]
    model_dir = work / CORPUS / "nat_tiny"
    shutil.rmtree(model_dir)
    before = set(cluster.jobs())
    process = start_cluster_snakemake(cluster, work, *TARGETS)
    job_id = wait_for(running_job(cluster, "train_model", "tiny_en_de_nat_tiny"), "the student's training job")
    wait_for(lambda: (model_dir / "checkpoints/checkpoint_last.pt").exists(), "the first checkpoint")
    subprocess.run(["scancel", str(job_id)], env=cluster.env, check=True, timeout=60)
    code, output = finish(process)
    assert code != 0 and f"SLURM-job '{job_id}' failed" in output
    # nothing a later run could take for complete: no declared output, only the resumable checkpoints
    assert not (model_dir / "train.done.json").exists() and not (model_dir / "checkpoint.avg.pt").exists()
    killed_log = (work / "logs/train/tiny_en_de/nat_tiny.log").read_text(encoding="utf-8")
    reached = max(int(n) for n in re.findall(r"num_updates (\d+)", killed_log))
    assert [job["rule"] for job in submitted_since(cluster, before)] == ["train_model"]
    assert cluster.jobs()[job_id]["state"] == "CANCELLED"
    planned = snakemake(*TARGETS, "-n", "--directory", work, "--configfile", work / "tiny.yaml",
                        REPO / "profiles/slurm-local/workflow.yaml", work / "log.yaml", env=cluster.env, check=True)
    assert planned_jobs(planned.stdout) == Counter({"train_model": 1, "average_checkpoints": 1, "translate_test": 1, "score": 1})

    before = set(cluster.jobs())
    result = cluster_snakemake(cluster, work, *TARGETS)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    resubmitted = Counter(job["rule"] for job in submitted_since(cluster, before))
    assert resubmitted == Counter({"train_model": 1, "average_checkpoints": 1, "translate_test": 1, "score": 1})
    assert all(job["wildcards"].endswith("nat_tiny") for job in submitted_since(cluster, before))
    done = json.loads((model_dir / "train.done.json").read_text())
    assert done["resumed"] is True
    log = (work / "logs/train/tiny_en_de/nat_tiny.log").read_text(encoding="utf-8")
    resumed_at = int(re.search(r"Loaded checkpoint .*checkpoint_last\.pt \(epoch \d+ @ (\d+) updates\)", log).group(1))
    lost = reached - resumed_at
    print(f"\n[slurm] training scancelled at update {reached}, resumed from update {resumed_at}: {lost} updates lost "
          f"(save interval {SAVE_INTERVAL} updates or one epoch)")
    assert 0 <= lost <= SAVE_INTERVAL and "num_updates 30" in log
    local = json.loads((tiny_run / CORPUS / "nat_tiny/test.bleu.json").read_text())
    assert json.loads((model_dir / "test.bleu.json").read_text()) == local


def test_killed_distillation_shard_is_redone_alone_and_the_merge_is_identical(cluster, slurm_run, tiny_run):
    work = slurm_run["work"]
    distill = work / CORPUS / "distill"
    shutil.rmtree(distill)
    target = f"{CORPUS}/distill/train.tgt"
    before = set(cluster.jobs())
    process = start_cluster_snakemake(cluster, work, target, extra=("--keep-going",))
    job_id = wait_for(running_job(cluster, "distill_shard", "tiny_en_de_1"), "shard 1's job")
    wait_for(lambda: (distill / "shards/1.tgt.work").exists(), "shard 1 to start translating")
    subprocess.run(["scancel", str(job_id)], env=cluster.env, check=True, timeout=60)
    code, output = finish(process)
    assert code != 0
    first = Counter(job["rule"] for job in submitted_since(cluster, before))
    assert first == Counter({"distill_shard": 3})  # --keep-going: the other shards finished, no merge
    assert (distill / "shards/0.tgt").exists() and (distill / "shards/2.tgt").exists()
    assert not (distill / "shards/1.tgt").exists() and not (distill / "shards/1.json").exists()
    assert not (distill / "train.tgt").exists()

    before = set(cluster.jobs())
    result = cluster_snakemake(cluster, work, target)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    again = submitted_since(cluster, before)
    assert sorted((job["rule"], job["wildcards"]) for job in again) == [
        ("distill_merge", "tiny_en_de"), ("distill_shard", "tiny_en_de_1")]
    assert (distill / "train.tgt").read_bytes() == (tiny_run / CORPUS / "distill/train.tgt").read_bytes()
    for shard in range(3):
        assert (distill / f"shards/{shard}.tgt").read_bytes() == (tiny_run / CORPUS / f"distill/shards/{shard}.tgt").read_bytes()
