"""The one speed protocol of natpipe (HRT Table 10 / Figure 1), for every evaluation row.

Each row's checkpoint is loaded once per run, then for every device (CPU with a fixed thread
count; the GPU too when the job has one) and batch size B the first N test sentences are
translated in batches of exactly B sentences, cut from fairseq-generate's length-sorted order
(speed.batching sorted, as the papers timed `fairseq-generate --batch-size B`) or from corpus
order: `warmup` untimed batches, then R timed passes over all N sentences (model loading
excluded; the GPU is synchronised). After the grid of batch sizes, Lmax (the most sentences a
batch holds, Fully-NAT §4.1) is probed per system and device and timed like a batch size when
the grid lacks it. One CSV row per system x device x batch x run. alpha = T(reference) /
T(system), T the mean (or median: speed.alpha_from) of the runs, from the same invocation
(run_id) on the same device, never numbers from another run.

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
from natpipe.tables import ALPHA_FROM, fmt, grid_only, latency_throughput, summarize

COLUMNS = ["run_id", "corpus", "system", "kind", "engine", "device", "device_name", "threads", "batching", "alpha_from",
           "batch_size", "grid", "lmax", "run", "seconds", "n_sentences", "output_tokens", "agreement", "status"]
BATCHING = {"sorted": "fairseq-generate's length-sorted order", "corpus": "corpus order"}


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


def out_of_memory(error: BaseException) -> bool:
    """torch's CUDA out-of-memory error, or CTranslate2's (a RuntimeError naming it)."""
    import torch

    return isinstance(error, torch.cuda.OutOfMemoryError) or "out of memory" in str(error).lower()


def engine(model: dict) -> str:
    """`fairseq`, or `ctranslate2 <compute type>` for a CTranslate2 row."""
    generate = model["generate"]
    return f"ctranslate2 {generate['compute_type']}" if generate.get("engine") == "ctranslate2" else "fairseq"


def load_row(row: dict, args):
    """The row's system, in process: fairseq's (natpipe.decoding.systems) or CTranslate2's
    (natpipe.decoding.ctranslate2), both on the CPU until moved."""
    data_bin = row.get("data_bin", args.data_bin)
    if row["model"]["generate"].get("engine") == "ctranslate2":
        from natpipe.decoding.ctranslate2 import load_ctranslate2_system

        return load_ctranslate2_system(row["model"], data_bin, args.src, args.tgt, "test", args.threads)
    from natpipe.decoding.systems import load_system

    return load_system(generate_args(row["model"], data_bin, args.src, args.tgt, row["checkpoint"],
                                     row.get("subword", args.subword), "test", gpus=0))


def batch_order(dataset, n: int, batching: str) -> list[int]:
    """The first n sentence ids in the order batches are cut from: `sorted` is fairseq-generate's
    (dataset.ordered_indices(): by source, then target length, stable) restricted to them, so a
    batch holds sentences of similar length as in the papers' timings; `corpus` is 0..n-1."""
    if batching == "corpus":
        return list(range(n))
    return [int(i) for i in dataset.ordered_indices() if i < n]


def batches(order: list[int], size: int) -> list[list[int]]:
    """Consecutive batches of `size` sentences (the last one shorter), as fairseq cuts --batch-size."""
    return [order[k:k + size] for k in range(0, len(order), size)]


def probe_lmax(system, longest: list[int], start: int, cap: int) -> int | None:
    """Lmax: the largest batch of the `longest` sentences (ids, longest first: the hardest batch
    for memory) that translates, from `start` doubling (clamped to `cap` and to the number of
    sentences) until the first CUDA out-of-memory error; each size is translated once. None when
    not even `start` fits. The CPU never runs out of memory: there the cap is the limit."""
    import torch

    limit = min(cap, len(longest))
    size, fitted = min(start, len(longest)), None
    while True:
        try:
            system.translate(longest[:size])
        except (torch.cuda.OutOfMemoryError, RuntimeError) as error:
            if not out_of_memory(error):
                raise
            torch.cuda.empty_cache()
            return fitted
        fitted = size
        if size >= limit:
            return fitted
        size = min(2 * size, limit)


def time_system(system, order: list[int], batch_sizes: list[int], runs: int, warmup: int, device: str):
    """Yield (batch_size, run, seconds, outputs | None, status) for one loaded system on one device,
    its batches cut from `order` (batch_order)."""
    import torch

    for size in sorted(batch_sizes):
        cut = batches(order, size)
        try:
            for batch in cut[:warmup]:
                system.translate(batch)
            for run in range(runs):
                outputs = {}
                synchronize(device)
                start = time.perf_counter()
                for batch in cut:
                    outputs.update(system.translate(batch))
                synchronize(device)
                yield size, run, time.perf_counter() - start, outputs, "ok"
        except (torch.cuda.OutOfMemoryError, RuntimeError) as error:  # Table 10's N/A: the batch does not fit
            if not out_of_memory(error):
                raise
            torch.cuda.empty_cache()
            yield size, -1, float("nan"), None, "oom"


def device_lmax(system, longest: list[int], grid: list[int], fitted: list[int], cap: int) -> int:
    """The Lmax of one system on one device: probed (probe_lmax) from the grid's largest size, unless
    that size already holds every timed sentence (its one batch is the whole set, timed with the
    grid); when not even that size fits, the largest grid size that ran (`fitted`)."""
    start = max(grid)
    if start >= len(longest):
        return start
    return probe_lmax(system, longest, start, cap) or max(fitted, default=start)


def timed_runs(system, name: str, order: list[int], sizes: list[int], args, device: str, first: dict | None):
    """Time `sizes` (time_system): one dict per run (batch_size, run, seconds, output_tokens,
    agreement, status), and the outputs `agreement` compares with (the first size's that ran)."""
    out = []
    for size, run, seconds, outputs, status in time_system(system, order, sizes, args.runs, args.warmup_batches,
                                                            device):
        agreement = float("nan")
        if outputs is not None:
            first = first or outputs
            agreement = sum(outputs[i] == first[i] for i in order) / len(order)
        out.append({"batch_size": size, "run": run, "seconds": round(seconds, 4),
                    "output_tokens": sum(len(t) for t in outputs.values()) if outputs else 0,
                    "agreement": agreement, "status": status})
        if status == "ok":
            print(f"speed: {name} {device} B={size} run {run}: {seconds:.2f}s", file=sys.stderr, flush=True)
    return out, first


def measure(rows: list[dict], args, devices: list[tuple[str, str]]) -> pd.DataFrame:
    """Time every row on every (label, torch device); one record per row x device x batch x run:
    the grid's batch sizes, then the probed Lmax when the grid lacks it (grid False)."""
    import torch

    run_id = uuid.uuid4().hex[:12]
    caps = {"cpu": args.lmax_cap_cpu, "cuda": args.lmax_cap_gpu}
    records = []
    for row in rows:
        system = load_row(row, args)
        total = len(system.dataset)
        n = min(total, args.max_sentences or total)
        order = batch_order(system.dataset, n, args.batching)
        longest = batch_order(system.dataset, n, "sorted")[::-1]
        for label, device in devices:
            if not system.supports(device):  # a CTranslate2 compute type the device lacks (float16 on a CPU)
                print(f"speed: {row['name']} not timed on {label}: its compute type does not run there",
                      file=sys.stderr, flush=True)
                continue
            system.to(device)
            runs, first = timed_runs(system, row["name"], order, args.batch_sizes, args, device, None)
            fitted = [r["batch_size"] for r in runs if r["status"] == "ok"]
            lmax = device_lmax(system, longest, args.batch_sizes, fitted, caps[label])
            print(f"speed: {row['name']} {label} Lmax = {lmax}", file=sys.stderr, flush=True)
            extra = timed_runs(system, row["name"], order, [lmax], args, device, first)[0] \
                if lmax not in args.batch_sizes else []
            common = {"run_id": run_id, "corpus": args.corpus, "system": row["name"], "kind": row["model"]["kind"],
                      "engine": engine(row["model"]),
                      "device": label, "device_name": device_name(device),
                      "threads": getattr(system, "threads", args.threads),  # a CTranslate2 row's own count
                      "batching": args.batching, "alpha_from": args.alpha_from, "lmax": lmax, "n_sentences": n}
            records += [{**common, **r, "grid": True} for r in runs] + [{**common, **r, "grid": False} for r in extra]
        del system
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    return pd.DataFrame(records, columns=COLUMNS)


def row_label(system: str, table: pd.DataFrame) -> str:
    """The row's name; a CTranslate2 row's also names its compute type and thread count."""
    timed = table[table["system"] == system].iloc[0]
    if str(timed["engine"]).startswith("ctranslate2"):
        threads = int(timed["threads"])
        return f"{system} (CTranslate2 {str(timed['engine']).split()[1]}, {threads} thread{'s' * (threads > 1)})"
    return system


def time_cell(r) -> str:
    """mean ± sample sd (– for one run), and the median, of one cell's timed passes."""
    sd = "–" if pd.isna(r["sd"]) else f"{r['sd']:.2f}"
    return f"{r['mean']:.2f} ± {sd} (median {r['median']:.2f})"


def markdown(summary: pd.DataFrame, table: pd.DataFrame, reference: str) -> str:
    """Table 10 layout: per device, time (mean ± sd, median, in s) and alpha per grid batch size,
    average alpha over the grid, L1, Lmax at the probed size; the heading states the batching and
    the statistic alpha comes from."""
    grid_table = table[table["grid"].astype(bool)]
    sizes = sorted(grid_table["batch_size"].unique())  # with the sizes that did not fit anywhere
    latency = latency_throughput(summary).set_index(["device", "system"])
    oom = grid_table[grid_table["status"] == "oom"]
    lines = [f"# Decoding speed (alpha relative to {reference}, same run and device)", ""]
    for device in summary["device"].unique():
        part = summary[summary["device"] == device]
        mine = table[table["device"] == device]
        name = "; ".join(mine["device_name"].unique())  # one per node the jobs ran on
        fairseq_rows = mine[mine["engine"].astype(str) == "fairseq"]
        threads = (fairseq_rows if len(fairseq_rows) else mine)["threads"].iloc[0]
        where = f"{name}, {threads} threads" if device == "cpu" else name
        order = " / ".join(BATCHING.get(b, str(b)) for b in mine["batching"].unique())
        statistic = " / ".join(str(a) for a in mine["alpha_from"].unique())
        lines += [f"## On {device.upper()} ({where}); {int(part['n_sentences'].iloc[0])} sentences, "
                  f"batches of B in {order}; time: mean ± sd (median) of {int(part['runs'].max())} runs, "
                  f"α from the {statistic} of {int(part['runs'].max())} runs", ""]
        ct2 = part["alpha_ct2"].notna().any()  # a second alpha: against CTranslate2's fastest AT row
        if ct2:
            lines += ["α CT2 = time of the fastest CTranslate2 AT row at that B on this device / time of the "
                      "row (> 1: faster than the optimised AT).", ""]
        per_size = ["time (s)", "α"] + (["α CT2"] if ct2 else [])
        header = "| System | " + " | ".join(f"B={b} {what}" for b in sizes for what in per_size)
        lines += [header + " | Avg α" + (" | Avg α CT2" if ct2 else "")
                  + " | L1 (ms/sent) | Lmax (sent/s) | same output at every B |",
                  "|---" * (len(per_size) * len(sizes) + 5 + ct2) + "|"]
        for system in part["system"].unique():
            cells = []
            rows = part[part["system"] == system]
            grid_rows = grid_only(rows)
            for size in sizes:
                hit = grid_rows[grid_rows["batch_size"] == size]
                if len(hit):
                    r = hit.iloc[0]
                    cells += [time_cell(r), f"{r['alpha']:.2f}"] + ([fmt(r["alpha_ct2"])] if ct2 else [])
                else:
                    failed = ((oom["system"] == system) & (oom["batch_size"] == size) & (oom["device"] == device)).any()
                    cells += ["N/A" if failed else ""] + [""] * (len(per_size) - 1)
            lat = latency.loc[(device, system)]
            same = "yes" if rows["agreement"].min() == 1 else f"no ({rows['agreement'].min():.1%})"
            avg_ct2 = f" | {fmt(grid_rows['alpha_ct2'].mean())}" if ct2 else ""
            lines.append(f"| {row_label(system, mine)} | " + " | ".join(cells) + f" | {grid_rows['alpha'].mean():.2f}{avg_ct2} | "
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
    print(summary[["device", "system", "batch_size", "mean", "median", "alpha"]].to_string(index=False))


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
    print(mine(summary)[["device", "system", "batch_size", "mean", "median", "alpha"]].to_string(index=False))


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
    job.add_argument("--batching", choices=list(BATCHING), default="sorted",
                     help="cut batches from fairseq-generate's length-sorted order, or from corpus order")
    job.add_argument("--alpha-from", choices=list(ALPHA_FROM), default="mean",
                     help="the statistic of the runs alpha and latency use (written to the CSV)")
    job.add_argument("--lmax-cap-cpu", type=int, default=256, help="largest batch the CPU's Lmax probe tries")
    job.add_argument("--lmax-cap-gpu", type=int, default=4096, help="largest batch the GPU's Lmax probe tries")
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
