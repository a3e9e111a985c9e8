"""The scheduler scenario behind tests/test_slurm.py, run in a background thread.

scripts/slurm_local.sh brings up a one-node Slurm cluster on 127.0.0.1; the tiny DAG's teacher ->
distillation -> NAT student path then runs with `--profile profiles/slurm-local`: a distillation
shard is scancelled mid-run (dag), the rerun redoes it and the student's training is scancelled
two updates after its first checkpoint (rerun), the next run resumes it (resume), and deleting the
student's outputs reruns only its jobs (partial). Each step records what it observed; the tests
assert on those records. The scenario waits mostly on the scheduler (job start-up, status polls),
so conftest starts it when the session's tests are collected and the rest of the suite runs
meanwhile. Every scheduler run has a hard timeout.
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
import threading
import time
import traceback
from collections import Counter
from pathlib import Path

import yaml

from conftest import REPO
from tiny_workflow import write_tiny_config

SCRIPT = REPO / "scripts" / "slurm_local.sh"
PROFILE = REPO / "profiles" / "slurm-local"
CORPUS = "results/tiny_en_de"
# The teacher -> distillation -> student path of the tiny DAG, up to both BLEU files.
TARGETS = [f"{CORPUS}/at_tiny/test.bleu.json", f"{CORPUS}/nat_tiny/test.bleu.json", f"{CORPUS}/distill/at_tiny/stats.json"]
HARD_TIMEOUT = 900  # seconds for any one scheduler run
UNAVAILABLE = 3  # slurm_local.sh's exit status when SLURM cannot be had here
STEPS = ("cluster", "dag", "rerun", "resume", "partial")


class Unavailable(Exception):
    pass


def free_port_pair() -> int:
    """A port p on 127.0.0.1 with p and p+1 both free (slurmctld and slurmd)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        with socket.socket() as a, socket.socket() as b:
            try:
                a.bind(("127.0.0.1", port))
                b.bind(("127.0.0.1", port + 1))
                return port
            except OSError:
                continue
    raise RuntimeError("no two consecutive free ports on 127.0.0.1")


def planned_jobs(output: str) -> Counter:
    table = output.split("Job stats:")[1].split("total")[0]
    return Counter({m.group(1): int(m.group(2)) for m in re.finditer(r"^(\w+)\s+(\d+)$", table, re.M)})


class Scenario:
    def __init__(self, root: Path):
        self.root = root
        self.state = Path(tempfile.mkdtemp(prefix="natpipe-slurm-"))  # outside pytest's 0700 tmp: munge checks paths
        self.env = {**os.environ, "SLURM_LOCAL_PORT": str(free_port_pair())}
        self.env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{self.env['PATH']}"
        self.records: dict[str, dict] = {}
        self.done = {name: threading.Event() for name in STEPS}
        self.error: str | None = None
        self.unavailable: str | None = None
        self.thread = threading.Thread(target=self._run, name="slurm-scenario", daemon=True)

    # --- control -------------------------------------------------------------------------
    def start(self) -> None:
        self.thread.start()

    def record(self, name: str, timeout: float = 3 * HARD_TIMEOUT) -> dict:
        """Wait for one step; its record, or the reason the scenario stopped before it."""
        if not self.done[name].wait(timeout):
            raise AssertionError(f"the SLURM scenario did not reach '{name}' within {timeout} s")
        if self.unavailable:
            raise Unavailable(self.unavailable)
        if name not in self.records:
            raise AssertionError(f"the SLURM scenario stopped before '{name}':\n{self.error}")
        return self.records[name]

    def stop(self) -> dict:
        """Cancel what runs, stop the daemons by PID; which daemons still have PID files after."""
        self.thread.join(timeout=5)
        stopped = subprocess.run(["bash", str(SCRIPT), "stop", str(self.state)], env=self.env,
                                 capture_output=True, text=True, timeout=120)
        left = [d for d in ("slurmd", "slurmctld", "munged") if (self.state / f"{d}.pid").exists()]
        shutil.rmtree(self.state, ignore_errors=True)
        return {"returncode": stopped.returncode, "stderr": stopped.stderr, "left": left}

    def summary(self) -> str:
        """The scenario's figures in one line, for the session's terminal summary."""
        if self.unavailable:
            return f"not run: {self.unavailable}"
        r = self.records
        parts = []
        if "cluster" in r:
            parts.append(f"cluster up in {r['cluster']['seconds']:.1f} s")
        if "resume" in r:
            runs = [round(r[name]["seconds"]) for name in ("dag", "rerun", "resume")]
            parts.append(f"DAG in three runs {sum(runs)} s {runs}")
            reached = max(int(n) for n in re.findall(r"num_updates (\d+)", r["rerun"]["log"]))
            resumed = re.search(r"@ (\d+) updates\)", r["resume"]["outputs"]["nat_tiny"]["log"])
            if resumed:
                parts.append(f"training scancelled at update {reached}, resumed from {resumed.group(1)}")
        if "partial" in r:
            parts.append(f"partial rerun {r['partial']['seconds']:.0f} s")
        if self.error:
            parts.append("stopped by an error (see the failing test)")
        return "; ".join(parts)

    def _run(self) -> None:
        try:
            for name in STEPS:
                self.records[name] = getattr(self, f"_{name}")()
                self.done[name].set()
        except Unavailable as why:
            self.unavailable = str(why)
        except BaseException:  # noqa: BLE001  (reported by the tests)
            self.error = traceback.format_exc()
        finally:
            for event in self.done.values():
                event.set()

    # --- helpers -------------------------------------------------------------------------
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
            if named:
                jobs[int(job_id)] = {"rule": named.group(1), "wildcards": named.group(3) or "",
                                     "partition": partition, "tres": tres, "state": state}
        return jobs

    def since(self, before: set[int]) -> list[dict]:
        return [job for job_id, job in sorted(self.jobs().items()) if job_id not in before]

    def command(self, *targets, extra=()) -> list[str]:
        return [str(Path(sys.executable).with_name("snakemake")), "--snakefile", str(REPO / "Snakefile"), *targets,
                "--directory", str(self.work), "--profile", str(PROFILE), *extra, "--configfile",
                str(self.work / "tiny.yaml"), str(PROFILE / "workflow.yaml"), str(self.work / "log.yaml")]

    def snakemake(self, *targets, extra=()) -> tuple[int, str]:
        return self.finish(self._launch(*targets, extra=extra))

    @staticmethod
    def finish(process: subprocess.Popen) -> tuple[int, str]:
        try:
            output, _ = process.communicate(timeout=HARD_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGKILL)
            output, _ = process.communicate()
            raise AssertionError(f"snakemake ran past {HARD_TIMEOUT} s:\n{output[-3000:]}")
        return process.returncode, output

    @staticmethod
    def wait_for(condition, what: str, timeout: float = 600, every: float = 0.2):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = condition()
            if value:
                return value
            time.sleep(every)
        raise AssertionError(f"timed out after {timeout} s waiting for {what}")

    def running(self, rule: str, wildcards: str):
        def find():
            return next((job_id for job_id, job in self.jobs().items() if job["rule"] == rule
                         and job["wildcards"] == wildcards and job["state"] == "RUNNING"), None)
        return find

    @staticmethod
    def updates(log: Path) -> int:
        """The last update a training log reports (log_interval 1)."""
        return max((int(n) for n in re.findall(r"num_updates (\d+)", log.read_text(encoding="utf-8"))), default=0)

    def scancel(self, job_id: int) -> None:
        subprocess.run(["scancel", str(job_id)], env=self.env, check=True, timeout=60)

    # --- steps ---------------------------------------------------------------------------
    def _cluster(self) -> dict:
        began = time.monotonic()
        started = subprocess.run(["bash", str(SCRIPT), "start", str(self.state)], env=self.env,
                                 capture_output=True, text=True, timeout=300)
        if started.returncode == UNAVAILABLE:
            raise Unavailable(started.stderr.strip().splitlines()[-1])
        if started.returncode != 0:
            raise AssertionError(f"slurm_local.sh start failed:\n{started.stderr}")
        self.env["SLURM_CONF"] = str(self.state / "slurm.conf")
        self.env["PATH"] = f"{self.state / 'bin'}{os.pathsep}{self.env['PATH']}"
        return {"seconds": time.monotonic() - began, "stdout": started.stdout, "stderr": started.stderr,
                "state": str(self.state)}

    def _launch(self, *targets, extra=()) -> subprocess.Popen:
        return subprocess.Popen(self.command(*targets, extra=extra), env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)

    def _outputs(self) -> dict:
        """What the tests compare with the local run, read now (later steps delete files)."""
        corpus = self.work / CORPUS
        out = {"distilled": (corpus / "distill/at_tiny/train.tgt").read_bytes(),
               "shards": [(corpus / f"distill/at_tiny/shards/{i}.tgt").read_bytes() for i in range(3)]}
        for system in ("at_tiny", "nat_tiny"):
            out[system] = {"bleu": json.loads((corpus / system / "test.bleu.json").read_text()),
                           "hyp": (corpus / system / "test.hyp").read_bytes(),
                           "done": json.loads((corpus / system / "train.done.json").read_text()),
                           "log": (self.work / f"logs/train/tiny_en_de/{system}.log").read_text(encoding="utf-8")}
        return out

    def _dag(self) -> dict:
        """The tiny DAG with --keep-going; distillation shard 1 is scancelled once it translates."""
        self.work = self.root / "slurm"
        self.work.mkdir(parents=True)
        write_tiny_config(self.work)
        # nat_tiny logs every update, so that a later step can count the updates a kill loses
        (self.work / "log.yaml").write_text(yaml.safe_dump({"models": {"nat_tiny": {"train": {"log_interval": 1}}}}))
        distill = self.work / CORPUS / "distill" / "at_tiny"
        before = set(self.jobs())
        began = time.monotonic()
        process = self._launch(*TARGETS, extra=("--keep-going",))
        job_id = self.wait_for(self.running("distill_shard", "tiny_en_de_at_tiny_1"), "shard 1's job")
        self.wait_for(lambda: (distill / "shards/1.tgt.work").exists(), "shard 1 to start translating")
        self.scancel(job_id)
        code, output = self.finish(process)
        return {"seconds": time.monotonic() - began, "returncode": code, "output": output, "job_id": job_id,
                "jobs": self.since(before), "work": self.work,
                "distill_files": sorted(str(p.relative_to(distill)) for p in distill.rglob("*")
                                        if p.is_file() and ".work" not in str(p))}

    def _rerun(self) -> dict:
        """Rerun: shard 1 and the merge, then the student, whose training is scancelled two updates
        after its first checkpoint."""
        model_dir = self.work / CORPUS / "nat_tiny"
        before = set(self.jobs())
        began = time.monotonic()
        process = self._launch(*TARGETS)
        job_id = self.wait_for(self.running("train_model", "tiny_en_de_nat_tiny"), "the student's training job")
        self.wait_for(lambda: (model_dir / "checkpoints/checkpoint_last.pt").exists(), "the first checkpoint")
        log = self.work / "logs/train/tiny_en_de/nat_tiny.log"
        at_checkpoint = self.updates(log)
        # a little past the checkpoint, so that the kill loses work (30 updates in all leave a margin)
        self.wait_for(lambda: self.updates(log) >= at_checkpoint + 2, "two more updates", timeout=120, every=0.05)
        self.scancel(job_id)
        code, output = self.finish(process)
        record = {"seconds": time.monotonic() - began, "returncode": code, "output": output, "job_id": job_id,
                  "state": self.jobs()[job_id]["state"], "jobs": self.since(before),
                  "log": (self.work / "logs/train/tiny_en_de/nat_tiny.log").read_text(encoding="utf-8"),
                  "outputs_left": sorted(p.name for p in model_dir.iterdir() if p.is_file()),
                  "checkpoints_left": sorted(p.name for p in (model_dir / "checkpoints").iterdir())}
        dry = subprocess.run(self.command(*TARGETS, extra=("-n",)), env=self.env, capture_output=True, text=True,
                             timeout=300)
        record["planned_after"] = planned_jobs(dry.stdout)
        return record

    def _resume(self) -> dict:
        before = set(self.jobs())
        began = time.monotonic()
        code, output = self.snakemake(*TARGETS)
        if code != 0:
            raise AssertionError(f"the resumed run failed:\n{output[-5000:]}")
        return {"seconds": time.monotonic() - began, "jobs": self.since(before), "outputs": self._outputs()}

    def _partial(self) -> dict:
        """Delete one model's outputs (the student's; its checkpoints stay) and rerun. Deleting only an
        intermediate file would rerun nothing: Snakemake does not rebuild a missing intermediate
        whose dependants are up to date."""
        for path in (self.work / CORPUS / "nat_tiny").iterdir():
            if path.is_file():
                path.unlink()
        before = set(self.jobs())
        began = time.monotonic()
        code, output = self.snakemake(*TARGETS)
        if code != 0:
            raise AssertionError(f"the partial rerun failed:\n{output[-5000:]}")
        return {"seconds": time.monotonic() - began, "jobs": self.since(before),
                "done": json.loads((self.work / CORPUS / "nat_tiny/train.done.json").read_text()),
                "bleu": json.loads((self.work / CORPUS / "nat_tiny/test.bleu.json").read_text())}
