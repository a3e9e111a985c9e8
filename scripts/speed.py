"""The one speed protocol of natpipe (HRT Table 10 / Figure 1), for every evaluation row.

Each row's checkpoint is loaded once per run, then for every device (CPU with a fixed thread
count; the GPU too when the job has one) and batch size B the first N test sentences are
translated in corpus order in batches of exactly B sentences: `warmup` untimed batches, then R
timed passes over all N sentences (model loading excluded; the GPU is synchronised). One CSV
row per system x device x batch x run. alpha = T(reference) / T(system) uses medians from the
same invocation (run_id) on the same device, never numbers from another run.

`measure` is one speed job (rules/speed.smk measure_speed): its rows (one, or speed.rows_per_job)
timed together with the corpus's speed reference (the reference's own job times it alone), so that
every alpha pairs two timings of one run on one node. `aggregate` (speed_table) puts the jobs' CSVs into the corpus's
speed.csv, every job's reference timings kept (the tables compute alpha per run from it), and
writes the Table 10 markdown and Figure 1 with each row's timings from its own job.

Translations must not depend on B (padding bugs are a known NAT trap): `agreement` is the
fraction of sentences whose output equals the smallest batch size's.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

import pandas as pd


from common import PipelineError, atomic_output, run_main, usable_gpus
from fairseq_args import generate_args
from natpipe.tables import latency_throughput, summarize

COLUMNS = ["run_id", "corpus", "system", "kind", "device", "device_name", "threads", "batch_size", "run",
           "seconds", "n_sentences", "output_tokens", "agreement", "status"]


# Where a run times: (label in the CSV and tables, torch device). The GPU row is labelled "cuda"
# whatever its index; tests map that label onto the CPU to exercise the two-device path.
CPU = ("cpu", "cpu")
GPU = ("cuda", "cuda:0")


def timing_devices(want_gpu: bool, granted_gpus: int, cpu_fallback: bool = False) -> list[tuple[str, str]]:
    """The CPU always; the GPU too when the speed settings ask for it and the job was granted one
    (a granted GPU that torch cannot use fails as in every GPU job, unless cpu_fallback)."""
    return [CPU] + ([GPU] if want_gpu and usable_gpus(granted_gpus, cpu_fallback) > 0 else [])


def device_name(device: str) -> str:
    import platform

    import torch

    if torch.device(device).type == "cpu":
        try:
            for line in Path("/proc/cpuinfo").read_text().splitlines():
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
        except OSError:
            pass
        return platform.processor() or platform.machine()
    return torch.cuda.get_device_name(torch.device(device))


def synchronize(device: str) -> None:
    import torch

    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def time_system(system, ids: list[int], batch_sizes: list[int], runs: int, warmup: int, device: str):
    """Yield (batch_size, run, seconds, outputs | None, status) for one loaded system on one device."""
    import torch

    for size in sorted(batch_sizes):
        batches = [ids[k:k + size] for k in range(0, len(ids), size)]
        try:
            for batch in batches[:warmup]:
                system.translate(batch)
            for run in range(runs):
                outputs = {}
                synchronize(device)
                start = time.perf_counter()
                for batch in batches:
                    outputs.update(system.translate(batch))
                synchronize(device)
                yield size, run, time.perf_counter() - start, outputs, "ok"
        except torch.cuda.OutOfMemoryError:  # Table 10's N/A: the batch does not fit
            torch.cuda.empty_cache()
            yield size, -1, float("nan"), None, "oom"


def measure(rows: list[dict], args, devices: list[tuple[str, str]]) -> pd.DataFrame:
    """Time every row on every (label, torch device); one record per row x device x batch x run."""
    import torch

    from natpipe.decoding.systems import load_system

    run_id = uuid.uuid4().hex[:12]
    records = []
    for row in rows:
        flags = generate_args(row["model"], row.get("data_bin", args.data_bin), args.src, args.tgt, row["checkpoint"],
                              row.get("subword", args.subword),
                              "test", gpus=0)
        system = load_system(flags)
        total = len(system.dataset)
        ids = list(range(min(total, args.max_sentences or total)))
        for label, device in devices:
            system.to(device)
            first = None
            for size, run, seconds, outputs, status in time_system(system, ids, args.batch_sizes, args.runs,
                                                                    args.warmup_batches, device):
                agreement = float("nan")
                if outputs is not None:
                    first = first or outputs
                    agreement = sum(outputs[i] == first[i] for i in ids) / len(ids)
                records.append({
                    "run_id": run_id, "corpus": args.corpus, "system": row["name"], "kind": row["model"]["kind"],
                    "device": label, "device_name": device_name(device), "threads": args.threads,
                    "batch_size": size, "run": run, "seconds": round(seconds, 4), "n_sentences": len(ids),
                    "output_tokens": sum(len(t) for t in outputs.values()) if outputs else 0,
                    "agreement": agreement, "status": status})
                if status == "ok":
                    print(f"speed: {row['name']} {label} B={size} run {run}: {seconds:.2f}s", file=sys.stderr,
                          flush=True)
        del system
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return pd.DataFrame(records, columns=COLUMNS)


def markdown(summary: pd.DataFrame, table: pd.DataFrame, reference: str) -> str:
    """Table 10 layout: per device, time (median s, spread) and alpha per batch size, average alpha."""
    sizes = sorted(table["batch_size"].unique())  # with the sizes that did not fit anywhere
    latency = latency_throughput(summary).set_index(["device", "system"])
    oom = table[table["status"] == "oom"]
    lines = [f"# Decoding speed (alpha relative to {reference}, same run and device)", ""]
    for device in summary["device"].unique():
        part = summary[summary["device"] == device]
        name = "; ".join(table[table["device"] == device]["device_name"].unique())  # one per node the jobs ran on
        threads = table[table["device"] == device]["threads"].iloc[0]
        where = f"{name}, {threads} threads" if device == "cpu" else name
        lines += [f"## On {device.upper()} ({where}); {int(part['n_sentences'].iloc[0])} sentences, "
                  f"median of {int(part['runs'].max())} runs", ""]
        header = "| System | " + " | ".join(f"B={b} time (s) | B={b} α" for b in sizes)
        lines += [header + " | Avg α | L1 (ms/sent) | Lmax (sent/s) | same output at every B |",
                  "|---" * (2 * len(sizes) + 5) + "|"]
        for system in part["system"].unique():
            cells = []
            for size in sizes:
                hit = part[(part["system"] == system) & (part["batch_size"] == size)]
                if len(hit):
                    r = hit.iloc[0]
                    cells += [f"{r['median']:.2f} ±{r['spread_pct']:.0f}%", f"{r['alpha']:.2f}"]
                else:
                    failed = ((oom["system"] == system) & (oom["batch_size"] == size) & (oom["device"] == device)).any()
                    cells += ["N/A" if failed else "", ""]
            rows = part[part["system"] == system]
            lat = latency.loc[(device, system)]
            same = "yes" if rows["agreement"].min() == 1 else f"no ({rows['agreement'].min():.1%})"
            lines.append(f"| {system} | " + " | ".join(cells) + f" | {rows['alpha'].mean():.2f} | "
                         f"{lat['L1_ms']:.1f} | {lat['Lmax_sent_per_s']:.1f} (B={int(lat['Lmax_batch'])}) | {same} |")
        lines.append("")
    return "\n".join(lines)


def measure_main(args) -> None:
    """One speed job: its rows (the reference, then the job's rows; or the reference alone) in one invocation."""
    rows = json.loads(args.rows)
    if args.reference not in [row["name"] for row in rows]:
        raise PipelineError(f"speed.reference: '{args.reference}' is not one of the rows {[r['name'] for r in rows]}")
    import torch

    torch.set_num_threads(args.threads)
    devices = timing_devices(args.gpu, args.gpus, args.cpu_fallback)
    table = measure(rows, args, devices)
    summary = summarize(table, args.reference)
    with atomic_output(args.csv) as handle:
        table.to_csv(handle, index=False)
    print(summary[["device", "system", "batch_size", "median", "alpha"]].to_string(index=False))


def gather(paths: list[str], reference: str) -> tuple[pd.DataFrame, dict]:
    """The speed jobs' CSVs as one table (in the order given), and each system's own run: the
    run_id of the job that timed it (the reference's: the job that timed it alone, else its first)."""
    parts, own = [], {}
    for path in paths:
        part = pd.read_csv(path)
        if list(part.columns) != COLUMNS:
            raise PipelineError(f"speed: {path} has columns {list(part.columns)}, expected {COLUMNS}")
        runs, systems = part["run_id"].unique(), list(part["system"].unique())
        if len(runs) != 1 or reference not in systems:
            raise PipelineError(f"speed: {path} is not one speed job's CSV (one run_id, the reference "
                                f"'{reference}' and the job's rows): runs {list(runs)}, rows {systems}")
        rows = [s for s in systems if s != reference] or [reference]
        twice = [row for row in rows if row in own]
        if twice or any(runs[0] in p["run_id"].values for p in parts):
            raise PipelineError(f"speed: row '{(twice or rows)[0]}' or run {runs[0]} appears twice ({path})")
        own.update(dict.fromkeys(rows, runs[0]))
        parts.append(part)
    table = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=COLUMNS)
    if reference not in own and len(table):
        own[reference] = table[table["system"] == reference]["run_id"].iloc[0]
    return table, own


def aggregate_main(args) -> None:
    """The corpus's speed.csv (every job's timings: alpha needs the reference of each run), and
    the table and figure with each row's timings from its own job."""
    table, own = gather(args.rows, args.reference)
    summary = summarize(table, args.reference)

    def mine(frame: pd.DataFrame) -> pd.DataFrame:
        return frame[[own.get(system) == run for system, run in zip(frame["system"], frame["run_id"])]]

    from figures import acceleration_figure

    with atomic_output(args.csv) as handle:
        table.to_csv(handle, index=False)
    with atomic_output(args.table) as handle:
        handle.write(markdown(mine(summary), mine(table), args.reference))
    acceleration_figure(mine(summary), args.reference, args.figure)
    print(mine(summary)[["device", "system", "batch_size", "median", "alpha"]].to_string(index=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    job = commands.add_parser("measure", help="time the rows of one speed job (the reference, then its rows)")
    job.add_argument("--rows", required=True, help="JSON list of {name, model, checkpoint}")
    job.add_argument("--reference", required=True, help="row alpha is relative to")
    job.add_argument("--data-bin", required=True)
    job.add_argument("--src", required=True)
    job.add_argument("--tgt", required=True)
    job.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    job.add_argument("--corpus", required=True)
    job.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8, 16, 32])
    job.add_argument("--runs", type=int, default=5)
    job.add_argument("--warmup-batches", type=int, default=2)
    job.add_argument("--max-sentences", type=int)
    job.add_argument("--threads", type=int, default=1)
    job.add_argument("--gpu", action="store_true", help="also time on the GPU when the job has one")
    job.add_argument("--gpus", type=int, default=0, help="GPUs granted to the job")
    job.add_argument("--cpu-fallback", action="store_true", help="a granted GPU torch cannot use: time the CPU only")
    job.add_argument("--csv", required=True, help="this job's timings")
    table = commands.add_parser("aggregate", help="the corpus's speed CSV, table and figure from its jobs' CSVs")
    table.add_argument("--reference", required=True, help="row alpha is relative to")
    table.add_argument("--csv", required=True, help="every job's timings in one CSV")
    table.add_argument("--table", required=True, help="markdown, Table 10 layout")
    table.add_argument("--figure", required=True, help="alpha against batch size (Figure 1)")
    table.add_argument("rows", nargs="+", help="the speed jobs' CSVs (the reference's own first)")
    args = parser.parse_args()
    (measure_main if args.command == "measure" else aggregate_main)(args)


if __name__ == "__main__":
    run_main(main)
