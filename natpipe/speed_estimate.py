"""Runtime estimate of one speed job (rules/speed.smk `measure_speed`: one evaluation row timed
together with its corpus's speed reference), from the speed protocol and the rows' models. Plain
Python, no torch: the Workflow checks every job's estimate against its runtime limit at each dry
run, and the cost plan (scripts/plan.py) reads the same numbers (Workflow.speed_job_estimate_s).

Anchor: HRT Table 10 (data/papers/hrt.csv, rows `table10`; the paper's App. A): seconds to
decode WMT14 En-De newstest2014 (3,003 sentences) once, per system x device x batch size, with
Transformer-Base models (6+6 layers, 512/2048, App. B) on a 2080Ti GPU and an Intel Xeon
E5-2683 v4 CPU (footnote 5). One pass of the AT (beam 5) over B = 1/8/16/32 takes 1,118 + 314.1
+ 246.3 + 201.3 = 1,879.7 s on that CPU and 857.2 + 137.8 + 73.1 + 40.1 = 1,108.2 s on the GPU.

What a row costs per sentence on device d at batch size B:

    sum over its SpeedCost terms  weight x T10(system, setting, d, B') / 3,003 x size(model, d) x threads(d)
    + search_s (CPU-side search per sentence, e.g. Fully NAT's CTC beam)

* The terms come from the row's System (natpipe.registry.System.speed_cost): the AT is Table
  10's AT, a CMLM with I iterations lies between CMLM1/4/10, HRT is the HRT line of its setting,
  Fully NAT is CMLM1 (one pass) times its candidates; a kind that says nothing is costed as the
  slowest Table 10 system.
* B' is the largest batch size of Table 10 that is <= B and has a time (HRT b_nat=5 ran out of
  memory at B=32 on the GPU): every Table 10 line gets cheaper per sentence as B grows (CMLM4 and
  CMLM10 on the GPU level off), so a smaller batch's figure over-, never under-estimates.
* size: layers (ENCODER_WEIGHT x E + D) / (ENCODER_WEIGHT x 6 + 6), the decoder dominating;
  width: the FLOPs of one layer per token, 4d^2 + 2d x ffn, over Transformer-Base's. A smaller
  model is never costed cheaper for its width (per-step overhead dominates small models: the
  sample's 3-layer 256-wide AT took 160 ms per sentence at B=1 with one thread on the 2-core
  test machine, Table 10's Base AT 372 ms). On the GPU the width counts by its square root:
  [FNAT] Table 3 has a Transformer-Big as fast as a Base on the GPU at B=1 (345 vs 342 ms) and
  1.41x slower on the CPU (923 vs 653 ms), where we count the full FLOPs ratio (4x).
* threads: HRT does not give its thread count; torch's default is one per physical core, 16 on
  an E5-2683 v4. CPU time is taken to scale linearly with threads below that (an upper bound:
  decoding at small batches gains less from threads), so 2 threads count 8x Table 10's CPU time.
* A job: START_S, then per row (the job's rows and the reference, once each) LOAD_S and,
  per device and batch size, `warmup_batches` batches and `runs` passes over the sentences.
* Lmax (speed.lmax_cap): when the grid's largest B holds fewer than the timed sentences, one
  batch per probe size (B doubling up to min(cap, sentences); no out-of-memory error assumed,
  an upper bound), each of the longest sentences, costed LONGEST_FACTOR x an average sentence;
  then the probed size timed like a grid size when the grid lacks it.

Deliberately simple and conservative (it should overestimate): it does not know the test set's
sentence lengths (newstest2014's are the anchor's), the node, or what else runs there.
"""
from __future__ import annotations

import csv
import functools
import math
from pathlib import Path

from natpipe.registry import SLOWEST, SpeedCost, system_of

TABLE10_CSV = Path(__file__).resolve().parent.parent / "data" / "papers" / "hrt.csv"
TABLE10_SENTENCES = 3003  # WMT14 En-De newstest2014, the set Table 10 decodes
DEFAULT_TEST_SENTENCES = TABLE10_SENTENCES  # speed.test_sentences null: a test set of newstest2014's size
PAPER_CPU_THREADS = 16  # E5-2683 v4: 16 cores (HRT footnote 5; the thread count is not given)
BASE = {"encoder_layers": 6, "decoder_layers": 6, "embed_dim": 512, "ffn_dim": 2048}  # HRT App. B Transformer-Base
BIG = {"encoder_layers": 6, "decoder_layers": 6, "embed_dim": 1024, "ffn_dim": 4096}  # fairseq's *_big archs
# Encoder layer / decoder layer. Fitted to Table 10's AT vs AT12-1 (6+6 vs 12+1 layers): 0.12 at B=1
# and 0.27 at B=32 on the CPU, rounded up so that deep encoders (AT-20L) are not under-costed.
ENCODER_WEIGHT = 0.3
START_S = 60.0  # assumed: start-up, torch and fairseq imports
LOAD_S = 60.0  # assumed per row: checkpoint, data-bin and the second device
LONGEST_FACTOR = 2.0  # assumed: a sentence of an Lmax probe (the longest of the set) costs 2x an average one


@functools.lru_cache(maxsize=None)
def table10() -> dict[tuple[str, str], dict[tuple[str, int], float]]:
    """(system, setting) -> {(device cpu|gpu, batch size): seconds for the 3,003 sentences}."""
    found: dict[tuple[str, str], dict[tuple[str, int], float]] = {}
    with open(TABLE10_CSV, encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            if row["table"] != "table10" or not row["metric"].startswith("time_"):
                continue
            _, device, batch = row["metric"].split("_")  # time_cpu_b32
            found.setdefault((row["system"], row["setting"]), {})[(device, int(batch[1:]))] = float(row["value"])
    return found


def anchor_seconds(system: str, setting: str, device: str, batch: int) -> float:
    """Table 10's seconds for 3,003 sentences at the largest batch size <= `batch` it has."""
    if system == SLOWEST:
        return max(anchor_seconds(s, t, device, batch) for s, t in table10())
    times = table10()[(system, setting)]
    sizes = [b for (d, b) in times if d == device and b <= batch]
    if not sizes:
        sizes = [min(b for (d, b) in times if d == device)]
    return times[(device, max(sizes))]


def dims(model: dict) -> dict:
    """The model's layers and widths; unset ones are its fairseq architecture's (Big for *_big)."""
    default = BIG if "big" in model.get("arch", "") else BASE
    return {key: model.get(key) or value for key, value in default.items()}


def size_factor(model: dict, device: str) -> float:
    size = dims(model)
    layers = ((ENCODER_WEIGHT * size["encoder_layers"] + size["decoder_layers"])
              / (ENCODER_WEIGHT * BASE["encoder_layers"] + BASE["decoder_layers"]))

    def flops(d):
        return 4 * d["embed_dim"] ** 2 + 2 * d["embed_dim"] * d["ffn_dim"]

    width = max(1.0, flops(size) / flops(BASE))
    return layers * (width if device == "cpu" else math.sqrt(width))


def thread_factor(device: str, threads: int) -> float:
    return max(1.0, PAPER_CPU_THREADS / threads) if device == "cpu" else 1.0


def sentence_seconds(model: dict, device: str, batch: int, threads: int) -> float:
    """Estimated seconds per sentence of one row (resolved model) on `device` (cpu|gpu) at `batch`."""
    cost: SpeedCost = system_of(model).speed_cost(model)
    table = sum(weight * anchor_seconds(system, setting, device, batch) for system, setting, weight in cost.table10)
    return table / TABLE10_SENTENCES * size_factor(model, device) * thread_factor(device, threads) + cost.search_s


def lmax_probes(sentences: int, batch_sizes: list[int], cap: int) -> tuple[list[int], int]:
    """The batch sizes the harness's Lmax probe translates when nothing runs out of memory, and
    the Lmax it finds (scripts/speed.py device_lmax / probe_lmax)."""
    start = max(batch_sizes)
    if start >= sentences:
        return [], start
    probes, limit = [start], min(cap, sentences)
    while probes[-1] < limit:
        probes.append(min(2 * probes[-1], limit))
    return probes, probes[-1]


def job_seconds(models: list[dict], sentences: int, batch_sizes: list[int], runs: int, warmup_batches: int,
                threads: int, gpu: bool, lmax_cap: dict | None = None) -> float:
    """Estimated wall seconds of one speed job timing `models` (resolved rows) in turn: on the CPU,
    and on the GPU too when `gpu`, at every batch size, warm-up batches and `runs` passes each;
    with `lmax_cap` ({cpu, gpu}), the Lmax probes and the probed size too."""
    total = START_S
    for model in models:
        total += LOAD_S
        for device in ("cpu", "gpu") if gpu else ("cpu",):
            probes, lmax = lmax_probes(sentences, batch_sizes, lmax_cap[device]) if lmax_cap else ([], None)
            for batch in probes:
                total += LONGEST_FACTOR * batch * sentence_seconds(model, device, batch, threads)
            for batch in batch_sizes + ([lmax] if lmax and lmax not in batch_sizes else []):
                timed = runs * sentences + min(warmup_batches * batch, sentences)
                total += timed * sentence_seconds(model, device, batch, threads)
    return total
