"""Benchmark a distillation shard against plain fairseq-generate on the same data.

In one invocation, alternating the variants for --repeats rounds (the order rotates every
round, so that drift on a shared machine does not favour one of them):

  natpipe   `scripts/distill.py shard ...` as a subprocess, exactly as rule distill_shard runs it
            (its own data preparation, natpipe's compatibility layer and per-sentence length cap);
  plain     fairseq's own CLI (`fairseq_cli.generate`, no --user-dir natpipe, so no length cap;
            only natpipe/compat.py, loaded by file path, so that fairseq imports on numpy 2 and
            torch 2.x) on the same checkpoint, over the same lines binarized beforehand (untimed),
            with the same --beam/--lenpen/--max-tokens/--max-len-a/--max-len-b (and, unless
            --plain-batching fairseq, natpipe's --num-workers 0 --required-batch-size-multiple 1);
  natpipe-old / natpipe-oldcap  optional baselines: another copy of distill.py (--old-distill)
            and/or of natpipe/decoding/length_cap.py (--old-length-cap, loaded in place of the
            package's module through an import hook), to measure before/after without git, e.g.
            git show HEAD:scripts/distill.py > /tmp/distill_old.py (same for length_cap.py).

Reported per variant: end-to-end wall time of the process, its CPU time (user + system of the
process tree: steadier than wall time on a shared machine), decode-only time (fairseq's own
"Translated N sentences ... in Xs"), sentences/s of both, the throughput ratio natpipe/plain,
and whether the outputs are identical. They may differ only where a hypothesis reaches the
per-sentence cap floor(a * source_tokens + b) (natpipe's best hypothesis has exactly cap tokens,
or plain's is longer than the cap); with --max-len-a 0 they must be identical.

    python scripts/bench_distill.py --sentences 1000 --repeats 3 --threads 1 --device cpu
    python scripts/bench_distill.py --device cuda --max-tokens 12000 --repeats 3   # the rule's shard 0 of 2

On an oversubscribed CPU use --threads 1: with 2 OpenMP threads and other jobs on the cores,
every op waits for a descheduled thread (measured here: 160 s instead of 25 s for 50 sentences).

Without --checkpoint it uses the default config's sample teacher (results/sample_en_de/...),
building it with snakemake when --build-teacher is given (about 6 minutes on 2 CPU cores).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SCRIPTS = Path(__file__).resolve().parent
REPO = SCRIPTS.parent

from common import PipelineError, read_lines, run_main, write_lines
from translate import parse_hypotheses

SAMPLE = {"checkpoint": "results/sample_en_de/at_sample/checkpoint.avg.pt",
          "data_bin": "results/sample_en_de/data-bin", "source": "results/sample_en_de/prep/subword/train.en"}
TRANSLATED = re.compile(r"Translated ([\d,]+) sentences \(([\d,]+) tokens\) in ([\d.]+)s")

# Plain fairseq-generate: natpipe's compat module by file path (the `natpipe` package is never
# imported, so its length cap is not installed), then fairseq's own entry point. It prints a
# marker line that the benchmark checks.
PLAIN_LAUNCHER = r"""
import importlib.util, sys
spec = importlib.util.spec_from_file_location("_bench_compat", sys.argv[1])
compat = importlib.util.module_from_spec(spec); spec.loader.exec_module(compat); compat.apply()
tool = sys.argv[2]
sys.argv = ["fairseq-" + tool] + sys.argv[3:]
module = importlib.import_module("fairseq_cli." + tool)
module.cli_main()
from fairseq import sequence_generator
loaded = sorted(m for m in sys.modules if m == "natpipe" or m.startswith("natpipe."))
wrapped = sequence_generator.SequenceGenerator.__init__.__module__ != "fairseq.sequence_generator"
print(f"[bench-plain] natpipe modules loaded: {loaded}; SequenceGenerator wrapped: {wrapped}", file=sys.stderr)
"""

# Makes `natpipe.decoding.length_cap` load from $NATPIPE_BENCH_LENGTH_CAP in every Python
# process of a variant (distill.py and its fairseq child), announcing it on stderr.
CAP_HOOK = r"""
import importlib.abc, importlib.util, os, sys

class _BenchLengthCap(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        override = os.environ.get("NATPIPE_BENCH_LENGTH_CAP")
        if name != "natpipe.decoding.length_cap" or not override:
            return None
        print(f"[bench-hook] natpipe.decoding.length_cap from {override}", file=sys.stderr, flush=True)
        return importlib.util.spec_from_file_location(name, override)

sys.meta_path.insert(0, _BenchLengthCap())
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", flush=True)


def children_cpu() -> float:
    """User + system CPU seconds of finished child processes: steadier than wall time on a
    shared machine."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def translated(text: str):
    """(sentences, decode seconds) from fairseq-generate's summary line."""
    matches = TRANSLATED.findall(text)
    if not matches:
        return None, None
    sentences, _, seconds = matches[-1]
    return int(sentences.replace(",", "")), float(seconds)


class Bench:
    def __init__(self, args):
        self.args = args
        self.work = Path(args.work or tempfile.mkdtemp(prefix="bench_distill."))
        self.work.mkdir(parents=True, exist_ok=True)
        self.search = {"beam": args.beam, "lenpen": args.lenpen, "max_tokens": args.max_tokens,
                       "max_len_a": args.max_len_a, "max_len_b": args.max_len_b}
        self.gpus = 1 if args.device == "cuda" else 0
        self.hook_dir = self.work / "hook"
        self.hook_dir.mkdir(exist_ok=True)
        (self.hook_dir / "sitecustomize.py").write_text(CAP_HOOK, encoding="utf-8")

    # ---- inputs -------------------------------------------------------------------------
    def prepare(self) -> None:
        args = self.args
        lines = read_lines(args.source)
        if args.sentences:
            start, end = args.first_line - 1, args.first_line - 1 + args.sentences
        else:
            import distill
            start, end = distill.shard_range(len(lines), args.num_shards, args.shard)
        self.lines = lines[start:end]
        if not self.lines:
            raise PipelineError(f"no sentences selected from {args.source}")
        self.range = (start + 1, start + len(self.lines))
        # the natpipe variant gets exactly these lines as a one-shard corpus (what a shard sees)
        self.source = self.work / f"source.{args.src}"
        write_lines(self.source, self.lines)
        self.caps = [math.floor(args.max_len_a * len(line.split()) + args.max_len_b) for line in self.lines]
        bin_dir = self.work / "plain-bin"
        shutil.rmtree(bin_dir, ignore_errors=True)
        log(f"binarizing {len(self.lines)} lines ({args.source}:{self.range[0]}-{self.range[1]}) for plain "
            "fairseq-generate (untimed)")
        self.fairseq("preprocess", ["--only-source", "--source-lang", args.src, "--target-lang", args.tgt,
                                    "--srcdict", f"{args.data_bin}/dict.{args.src}.txt", "--testpref",
                                    str(self.work / "source"), "--destdir", str(bin_dir), "--workers", "1"],
                     stdout=subprocess.DEVNULL, check=True)
        shutil.copyfile(f"{args.data_bin}/dict.{args.tgt}.txt", bin_dir / f"dict.{args.tgt}.txt")
        self.plain_bin = bin_dir

    def env(self, length_cap: str | None = None) -> dict:
        env = dict(os.environ)
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(self.args.threads)
        if length_cap:
            env["NATPIPE_BENCH_LENGTH_CAP"] = str(Path(length_cap).resolve())
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(self.hook_dir), env.get("PYTHONPATH")]))
        if self.args.device == "cpu":
            env["CUDA_VISIBLE_DEVICES"] = ""
        return env

    def fairseq(self, tool: str, argv: list[str], **kwargs):
        command = [sys.executable, "-c", PLAIN_LAUNCHER, str(REPO / "natpipe" / "compat.py"), tool, *argv]
        return subprocess.run(command, env=self.env(), **kwargs)

    # ---- variants -----------------------------------------------------------------------
    def run_natpipe(self, name: str, run: int, distill_script: Path, length_cap: str | None) -> dict:
        out = self.work / f"{name}.{run}.tgt"
        stats = self.work / f"{name}.{run}.json"
        command = [sys.executable, str(distill_script), "shard", "--source", str(self.source), "--data-bin",
                   self.args.data_bin, "--checkpoint", self.args.checkpoint, "--src", self.args.src, "--tgt",
                   self.args.tgt, "--teacher-model", json.dumps({"kind": "at", "arch": "transformer", "generate": self.search}), "--shard", "0", "--num-shards", "1",
                   "--gpus", str(self.gpus), "--threads", str(self.args.threads), "--out", str(out),
                   "--stats", str(stats)]
        env = self.env(length_cap)
        if distill_script.resolve().parent != SCRIPTS:  # an old copy still imports common, fairseq_args, ...
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SCRIPTS), env.get("PYTHONPATH")]))
        began, cpu = time.perf_counter(), children_cpu()
        result = subprocess.run(command, env=env, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - began, children_cpu() - cpu
        (self.work / f"{name}.{run}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
        if result.returncode != 0:
            raise PipelineError(f"{name} run {run} failed (status {result.returncode}):\n{result.stderr[-3000:]}")
        if length_cap and "[bench-hook]" not in result.stderr:
            raise PipelineError(f"{name}: the length-cap override was not loaded")
        shard = json.loads(stats.read_text(encoding="utf-8"))
        # fairseq logs its summary on stderr (fairseq's own imports configure the root logger first),
        # which the shard passes through
        _, decode = translated(result.stdout + result.stderr)
        return {"wall": wall, "cpu": cpu, "decode": decode, "shard_seconds": shard.get("seconds"),
                "hyps": read_lines(out)}

    def run_plain(self, run: int) -> dict:
        args = self.args
        argv = [str(self.plain_bin), "--task", "translation", "-s", args.src, "-t", args.tgt, "--path",
                args.checkpoint, "--gen-subset", "test", "--beam", str(args.beam), "--lenpen", str(args.lenpen),
                "--max-tokens", str(args.max_tokens), "--max-len-a", str(args.max_len_a),
                "--max-len-b", str(args.max_len_b)]
        if args.plain_batching == "natpipe":  # the data-loading flags natpipe's decode_args adds
            argv += ["--num-workers", "0", "--required-batch-size-multiple", "1"]
        argv += ["--cpu"] if self.gpus == 0 else []
        began, cpu = time.perf_counter(), children_cpu()
        result = self.fairseq("generate", argv, capture_output=True, text=True)
        wall, cpu = time.perf_counter() - began, children_cpu() - cpu
        (self.work / f"plain.{run}.log").write_text(result.stdout + result.stderr, encoding="utf-8")
        if result.returncode != 0:
            raise PipelineError(f"plain run {run} failed (status {result.returncode}):\n{result.stderr[-3000:]}")
        marker = re.search(r"\[bench-plain\] natpipe modules loaded: (.*); SequenceGenerator wrapped: (\w+)",
                           result.stderr)
        if not marker or marker.group(1) != "[]" or marker.group(2) != "False":
            raise PipelineError(f"plain run {run} was not plain fairseq: {marker and marker.group(0)}")
        _, decode = translated(result.stdout + result.stderr)
        return {"wall": wall, "cpu": cpu, "decode": decode, "hyps": parse_hypotheses(result.stdout.splitlines(), len(self.lines))}

    def variants(self) -> list[tuple[str, callable]]:
        args, table = self.args, {}
        table["natpipe"] = lambda r: self.run_natpipe("natpipe", r, SCRIPTS / "distill.py", None)
        table["plain"] = self.run_plain
        if args.old_length_cap:
            table["natpipe-oldcap"] = lambda r: self.run_natpipe("natpipe-oldcap", r, SCRIPTS / "distill.py",
                                                                 args.old_length_cap)
        if args.old_distill:
            table["natpipe-old"] = lambda r: self.run_natpipe("natpipe-old", r, Path(args.old_distill),
                                                              args.old_length_cap)
        wanted = args.variants.split(",") if args.variants else list(table)
        missing = [v for v in wanted if v not in table]
        if missing:
            raise PipelineError(f"unknown or unconfigured variants {missing} (have {sorted(table)})")
        return [(v, table[v]) for v in wanted]

    # ---- comparison ---------------------------------------------------------------------
    def compare(self, hyps: list[str], reference: list[str]) -> dict:
        """Lines that differ from plain fairseq, and whether each is explained by the length cap."""
        differ = [i for i, (a, b) in enumerate(zip(hyps, reference)) if a != b]
        unexplained = [i for i in differ
                       if not (len(hyps[i].split()) >= self.caps[i] or len(reference[i].split()) > self.caps[i])]
        return {"differ": len(differ), "differ_unexplained_by_cap": len(unexplained),
                "examples_unexplained": [self.lines[i] for i in unexplained[:3]]}

    def main(self) -> dict:
        args = self.args
        self.prepare()
        n = len(self.lines)
        variants = self.variants()
        log(f"{n} sentences, device {args.device}, threads {args.threads}, search {json.dumps(self.search)}, "
            f"variants {[v for v, _ in variants]}, {args.warmup} warm-up + {args.repeats} timed rounds, work {self.work}")
        results: dict[str, list[dict]] = {v: [] for v, _ in variants}
        for run in range(-args.warmup, args.repeats):
            shift = run % len(variants)
            for name, fn in variants[shift:] + variants[:shift]:
                res = fn(run)
                decode = f"{res['decode']:.1f}s" if res["decode"] is not None else "n/a"
                log(f"{'warm-up' if run < 0 else f'round {run + 1}/{args.repeats}'} {name:15s} wall {res['wall']:6.1f}s "
                    f"({n / res['wall']:6.1f} sent/s)  cpu {res['cpu']:6.1f}s  decode {decode}")
                if run >= 0:
                    results[name].append(res)
        summary = {"sentences": n, "lines": list(self.range), "source": args.source, "checkpoint": args.checkpoint,
                   "device": args.device, "threads": args.threads, "search": self.search, "repeats": args.repeats,
                   "plain_batching": args.plain_batching, "variants": {}}
        plain = results.get("plain")
        reference = plain[0]["hyps"] if plain else None
        for name, runs in results.items():
            walls, cpus = [r["wall"] for r in runs], [r["cpu"] for r in runs]
            decodes = [r["decode"] for r in runs if r["decode"] is not None]
            entry = {"wall_s": [round(w, 2) for w in walls], "wall_median_s": round(statistics.median(walls), 2),
                     "wall_sent_per_s": round(n / statistics.median(walls), 1),
                     "cpu_s": [round(c, 2) for c in cpus], "cpu_median_s": round(statistics.median(cpus), 2),
                     "decode_s": [round(d, 2) for d in decodes],
                     "decode_median_s": round(statistics.median(decodes), 2) if decodes else None,
                     "decode_sent_per_s": round(n / statistics.median(decodes), 1) if decodes else None,
                     "deterministic": all(r["hyps"] == runs[0]["hyps"] for r in runs),
                     "cap_hits": sum(len(h.split()) >= c for h, c in zip(runs[0]["hyps"], self.caps))}
            if reference is not None and name != "plain":
                entry.update(self.compare(runs[0]["hyps"], reference))
                pw = statistics.median(r["wall"] for r in plain)
                entry["ratio_wall"] = round(pw / entry["wall_median_s"], 3)
                entry["ratio_cpu"] = round(statistics.median(r["cpu"] for r in plain) / entry["cpu_median_s"], 3)
                pd = [r["decode"] for r in plain if r["decode"] is not None]
                if decodes and pd:
                    entry["ratio_decode"] = round(statistics.median(pd) / entry["decode_median_s"], 3)
            if name not in ("natpipe", "plain") and "natpipe" in results:
                entry["identical_to_natpipe"] = runs[0]["hyps"] == results["natpipe"][0]["hyps"]
            summary["variants"][name] = entry
        return summary


def report(summary: dict) -> str:
    lines = []
    for name, v in summary["variants"].items():
        decode = (f"decode median {v['decode_median_s']}s ({v['decode_sent_per_s']} sent/s) {v['decode_s']}"
                  if v["decode_median_s"] is not None else "decode n/a")
        extra = ""
        if "ratio_wall" in v:
            extra = (f"  ratio vs plain: wall {v['ratio_wall']}x, cpu {v['ratio_cpu']}x, decode {v.get('ratio_decode', 'n/a')}x; "
                     f"outputs differ on {v['differ']} lines ({v['differ_unexplained_by_cap']} not explained by the cap)")
        if "identical_to_natpipe" in v:
            extra += f"; identical to natpipe: {v['identical_to_natpipe']}"
        lines.append(f"  {name:15s} wall median {v['wall_median_s']}s ({v['wall_sent_per_s']} sent/s) {v['wall_s']}; "
                     f"cpu median {v['cpu_median_s']}s {v['cpu_s']}; "
                     f"{decode}; cap hits {v['cap_hits']}; deterministic {v['deterministic']}{extra}")
    nat = summary["variants"].get("natpipe", {})
    lines.append(f"SUMMARY natpipe/plain throughput: wall {nat.get('ratio_wall', 'n/a')}x, cpu {nat.get('ratio_cpu', 'n/a')}x, decode "
                 f"{nat.get('ratio_decode', 'n/a')}x; {summary['sentences']} sentences, device {summary['device']}, "
                 f"{summary['repeats']} repeats; outputs differ on {nat.get('differ', 'n/a')} lines "
                 f"({nat.get('differ_unexplained_by_cap', 'n/a')} not explained by the length cap)")
    return "\n".join(lines)


def build_teacher() -> None:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    targets = [SAMPLE["checkpoint"], SAMPLE["source"], SAMPLE["data_bin"]]
    log(f"building the sample teacher with snakemake: {targets}")
    result = subprocess.run(["snakemake", "--cores", str(os.cpu_count() or 1), *targets], cwd=REPO, env=env)
    if result.returncode != 0:
        raise PipelineError("snakemake failed to build the sample teacher")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoint", help=f"teacher checkpoint (default: {SAMPLE['checkpoint']})")
    parser.add_argument("--data-bin", help=f"the teacher's data-bin, for its dictionaries (default: {SAMPLE['data_bin']})")
    parser.add_argument("--source", help=f"subword-segmented source lines (default: {SAMPLE['source']})")
    parser.add_argument("--build-teacher", action="store_true",
                        help="build the default sample teacher with snakemake if it is missing (~6 min on 2 cores)")
    parser.add_argument("--src", default="en")
    parser.add_argument("--tgt", default="de")
    parser.add_argument("--sentences", type=int, help="translate lines first-line .. first-line+N-1 "
                                                      "(default: shard --shard of --num-shards, as the rule)")
    parser.add_argument("--first-line", type=int, default=1)
    parser.add_argument("--num-shards", type=int, default=2)
    parser.add_argument("--shard", type=int, default=0)
    parser.add_argument("--beam", type=int, default=5)
    parser.add_argument("--lenpen", type=float, default=1.0)
    parser.add_argument("--max-tokens", type=int, default=8000)
    parser.add_argument("--max-len-a", type=float, default=1.2)
    parser.add_argument("--max-len-b", type=int, default=10)
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="OMP/MKL threads of every variant")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=0, help="untimed rounds first (cold caches)")
    parser.add_argument("--variants", help="comma-separated, in round order (default: all configured)")
    parser.add_argument("--plain-batching", choices=["natpipe", "fairseq"], default="natpipe",
                        help="plain with natpipe's --num-workers 0 --required-batch-size-multiple 1, "
                             "or with fairseq's defaults")
    parser.add_argument("--old-length-cap", help="a copy of length_cap.py: adds variant natpipe-oldcap")
    parser.add_argument("--old-distill", help="a copy of distill.py: adds variant natpipe-old (with --old-length-cap "
                                              "if given)")
    parser.add_argument("--work", help="scratch directory (default: a new one under $TMPDIR)")
    parser.add_argument("--json", help="write the summary here")
    args = parser.parse_args()
    if not (args.checkpoint or Path(REPO / SAMPLE["checkpoint"]).is_file()) and args.build_teacher:
        build_teacher()
    args.checkpoint = str(Path(args.checkpoint or REPO / SAMPLE["checkpoint"]).resolve())
    args.data_bin = str(Path(args.data_bin or REPO / SAMPLE["data_bin"]).resolve())
    args.source = str(Path(args.source or REPO / SAMPLE["source"]).resolve())
    for path in (args.checkpoint, args.source):
        if not Path(path).is_file():
            raise PipelineError(f"{path}: not found (pass --checkpoint/--data-bin/--source, or --build-teacher)")
    if args.device == "cuda":
        import torch
        if not torch.cuda.is_available():
            raise PipelineError("--device cuda but torch sees no GPU")
    summary = Bench(args).main()
    print(report(summary), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(summary, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    run_main(main)
