"""Cost plan of a run: per job kind, how many jobs the DAG has and the GPU-hours they take.

    python scripts/plan.py --preset wmt14_en_de            # = --configfile configs/wmt14_en_de.yaml
    python scripts/plan.py --configfile configs/wmt14_en_de.yaml --by-table --models
    python scripts/plan.py --preset wmt14_en_de --throughput results/plan/throughput-cuda.json
    make plan PRESET=wmt14_en_de

The config is config.yaml with each --configfile merged over it, as Snakemake merges them. Every
count comes from natpipe.workflow.Workflow, from the same input functions the rules call: the
targets of `rule all` are resolved back through training inputs, decoding rows, distillation
teachers and shards, so a model trained only because another needs it (an HRT's init_from, a
distillation teacher, NPD's reranker) is counted as Snakemake would count it. Costs come from
natpipe.costs: the config's updates and batch sizes, corpus sizes, and a throughput measured on
one architecture and scaled to each by FLOPs (see that module for what the anchors are worth).

    python scripts/plan.py --measure --preset wmt14_en_de --device cuda [--models at_base,at_big]

times a few real training updates (fairseq-train with natpipe's own flags, on a synthetic corpus
with the preset's vocabulary size) of every distinct architecture of the preset on this machine's
device and writes a throughput file (default results/plan/throughput-<device>.json) that
`--throughput FILE` reads instead of the anchors.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from distill import shard_range  # noqa: E402
from natpipe import costs  # noqa: E402
from natpipe.errors import ConfigError, PipelineError  # noqa: E402
from natpipe.speed_estimate import sentence_seconds  # noqa: E402

GPU_RULES = ("train_model", "distill_shard", "translate_test", "measure_speed")
# the CPU jobs the plan counts (the rest: download, preprocessing, per-vocabulary segmentation, tables)
CPU_RULES = ("average_checkpoints", "score", "distill_merge", "binarize_distill", "distill_external",
             "train_ctc_lm", "tune_lm_weights", "synthetic_masking", "latent_pca", "learning_curves", "speed_table",
             "summary_table")


def presets() -> list[str]:
    return sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))


def preset_file(name: str) -> Path:
    path = REPO / "configs" / f"{name}.yaml"
    if not path.exists():
        raise PipelineError(f"unknown preset '{name}' (known: {', '.join(presets())})")
    return path


def load_config(configfiles: list) -> dict:
    """config.yaml with every configfile merged over it, exactly as `snakemake --configfile` does."""
    from snakemake.common.configfile import load_configfile
    from snakemake.utils import update_config

    config = load_configfile(str(REPO / "config.yaml"))
    for path in configfiles:
        if not Path(path).exists():
            raise PipelineError(f"{path}: no such config file (presets: {', '.join(presets())})")
        update_config(config, load_configfile(str(path)))
    return config


def workflow(configfiles: list):
    from natpipe.workflow import Workflow

    return Workflow(load_config(configfiles), local_exec=False)  # a cluster's view (speed threads)


# -- the DAG, from the Workflow's input functions ------------------------------------------------
def template_regex(template: str) -> re.Pattern:
    parts = re.split(r"\{(\w+)\}", template)
    pattern = "".join(re.escape(p) if i % 2 == 0 else f"(?P<{p}>[^/]+)" for i, p in enumerate(parts))
    return re.compile(pattern + "$")


def wildcards(**kw) -> SimpleNamespace:
    return SimpleNamespace(**kw)


def flat(values) -> list[str]:
    out = []
    for value in values:
        if isinstance(value, (list, tuple)):
            out += flat(value)
        elif isinstance(value, dict):
            out += flat(list(value.values()))
        elif value:
            out.append(str(value))
    return out


class Dag:
    """The jobs of the GPU rules and of the CPU rules in CPU_RULES that the targets need, found by
    following the Workflow's input functions back from the targets, as Snakemake does. A job is
    (rule, corpus, name[, shard]); `needs(paths)` is the set of jobs behind some files."""

    def __init__(self, w):
        self.w = w
        self.templates = [(key, template_regex(t)) for key, t in w.paths.items()]

    def match(self, path: str):
        for key, regex in self.templates:
            found = regex.match(path)
            if found:
                return key, found.groupdict()
        return None, {}

    def targets(self) -> list[str]:
        return list(self.w.all_targets([]))

    def needs(self, paths) -> set:
        jobs, seen, todo = set(), set(), list(flat(paths))
        while todo:
            path = todo.pop()
            if path in seen:
                continue
            seen.add(path)
            for job, deps in self.resolve(path):
                jobs.add(job)
                todo += flat(deps)
        return jobs

    def row_inputs(self, corpus, row) -> list[str]:
        return [self.w.row_own_checkpoint(corpus, row), *self.w.row_files(corpus, row)]

    def resolve(self, path: str) -> list[tuple]:
        """[(job, its input files)] for one file; [] for files of rules the plan does not follow."""
        w = self.w
        key, wc = self.match(path)
        corpus = wc.get("corpus")
        if key in ("summary_csv", "summary_md"):
            return [(("summary_table", "", "summary"), w.per_row(w.paths["bleu"]))]
        if corpus is None:
            return []
        if key == "bleu":
            return [(("score", corpus, wc["system"]), [w.path("hyp", corpus=corpus, system=wc["system"])])]
        if key in ("hyp", "generate_raw", "translate_stats"):
            return [(("translate_test", corpus, wc["system"]), self.row_inputs(corpus, wc["system"]))]
        if key == "average":
            return [(("average_checkpoints", corpus, wc["system"]), [w.path("train_done", **wc)])]
        if key == "train_done":
            inputs = w.training_inputs(wildcards(corpus=corpus, system=wc["system"]))
            return [(("train_model", corpus, wc["system"]), list(inputs.values()))]
        if key in ("data_bin_distill", "vocab_data_bin_distill"):
            texts = [w.path("distill_text", corpus=corpus, teacher=wc["teacher"], side=s) for s in ("src", "tgt")]
            rule = "binarize_distill" if key == "data_bin_distill" else "binarize_vocabulary_distill"
            return [((rule, corpus, wc["teacher"]), texts)]
        if key in ("distill_text", "distill_stats"):
            return [(("distill_merge", corpus, wc["teacher"]), w.distill_shards(wildcards(corpus=corpus, teacher=wc["teacher"])))]
        if key == "distill_shard":
            teacher = wc["teacher"]
            return [(("distill_shard", corpus, teacher, int(wc["shard"])), [w.path("average", corpus=corpus, system=teacher)])]
        if key == "distill_external":
            return [(("distill_external", corpus, "external"), [])]
        if key == "ctc_lm":
            return [(("train_ctc_lm", corpus, wc["teacher"]), [w.path("distill_text", corpus=corpus, teacher=wc["teacher"], side="tgt")])]
        if key == "lm_weights":
            row = wc["system"]
            lm = w.row_lm(wildcards(corpus=corpus, system=row))
            return [(("tune_lm_weights", corpus, row), [w.row_own_checkpoint(corpus, row), lm])]
        if key in ("speed_csv", "speed_md", "speed_figure"):
            return [(("speed_table", corpus, "speed"), w.speed_row_csvs(wildcards(corpus=corpus)))]
        if key == "speed_row_csv":
            return [(("measure_speed", corpus, wc["system"]), w.speed_inputs(wildcards(corpus=corpus, system=wc["system"])))]
        if key in ("synthetic_csv", "synthetic_figure"):
            return [(("synthetic_masking", corpus, "synthetic"), w.synthetic_inputs(wildcards(corpus=corpus)))]
        if key in ("latent_pca_csv", "latent_pca_figure"):
            return [(("latent_pca", corpus, "latent_pca"), w.latent_inputs(wildcards(corpus=corpus)))]
        if key in ("curves_csv", "curves_figure"):
            return [(("learning_curves", corpus, "curves"), w.training_summaries(wildcards(corpus=corpus)))]
        return []

    def speed_files(self, corpus, rows) -> list[str]:
        """What the speed columns of `rows` need: the speed jobs that time them, and the first
        (the reference's own, or the first that times it)."""
        jobs = self.w.speed_groups(corpus)
        needed = [job for i, (job, timed) in enumerate(jobs.items()) if i == 0 or set(timed[1:]) & set(rows)]
        return [self.w.path("speed_row_csv", corpus=corpus, system=job) for job in needed]

    def all_jobs(self) -> set:
        return self.needs(self.targets())


def counts(jobs) -> dict[str, int]:
    out: dict[str, int] = {}
    for job in jobs:
        out[job[0]] = out.get(job[0], 0) + 1
    return out


# -- sizes the config does not hold ----------------------------------------------------------------
def count_lines(path: Path) -> int:
    with open(path, "rb") as handle:
        return sum(1 for _ in handle)


def local_split_size(w, corpus, split) -> int | None:
    """Sentences of a split assembled from local files (every/invert applied), None otherwise."""
    from natpipe.workflow import source_ref

    spec, total = w.corpus_spec(corpus), 0
    for entry in spec["splits"][split]:
        entry = source_ref(entry)
        source = spec["sources"][entry["source"].partition(":")[0]]
        path = Path(f"{source.get('prefix', '')}.{spec['src']}")
        if source["kind"] != "local" or not (REPO / path).exists():
            return None
        n = count_lines(REPO / path)
        every = entry.get("every")
        total += (n - n // every if entry.get("invert") else n // every) if every else n
    return total


@dataclass
class Sizes:
    train: int | None
    test: int
    valid: int
    lengths: tuple
    notes: list = field(default_factory=list)


def corpus_sizes(w, corpus) -> Sizes:
    known = costs.SIZES.get(corpus)
    notes = []
    counted = {split: local_split_size(w, corpus, split) for split in ("train", "valid", "test")}
    train = (known.train if known else None) or counted["train"]
    test = (known.test if known else None) or counted["test"]
    valid = (known.valid if known else None) or counted["valid"]
    if known:
        notes.append(f"{corpus}: {known.source}")
    elif counted["train"]:
        notes.append(f"{corpus}: split sizes counted from its local files")
    if train is None:
        notes.append(f"{corpus}: training-set size unknown (add it to natpipe.costs.SIZES): distillation not estimated")
    for name, value in (("test", test), ("valid", valid)):
        if value is None:
            notes.append(f"{corpus}: {name} size unknown, {costs.UNKNOWN_TEST:,} sentences assumed")
    length = known.target_tokens if known else costs.WMT_LENGTH
    if not known:
        notes.append(f"{corpus}: {length:g} target tokens per sentence assumed")
    return Sizes(train, test or costs.UNKNOWN_TEST, valid or costs.UNKNOWN_TEST, (length, length), notes)


def vocab_size(w, corpus, system) -> int:
    """Output-layer size: the model's dictionary when it exists here (a pretrained vocabulary's, or
    the corpus's binarized one), else the corpus's subword vocabulary (BPE merges or SentencePiece
    pieces) + fairseq's 4 specials."""
    vocab = w.vocabulary(system)
    if vocab is not None:
        dictionary = REPO / w.vocabulary_spec(vocab)["dictionary"]
    else:
        dictionary = REPO / w.data_bin(corpus, system) / f"dict.{w.lang_of(corpus, 'tgt')}.txt"
    if dictionary.exists():
        return count_lines(dictionary) + 4
    spec = w.subword_spec(corpus)
    return (spec["operations"] if spec["method"] == "bpe" else spec["vocab_size"]) + 4


# -- throughput --------------------------------------------------------------------------------------
def signature(model: dict) -> str:
    """What decides a model's cost per batch token: its architecture and its kind's settings, not
    its data, learning rate or schedule."""
    skip = {"data", "p_raw", "paper", "paper_name", "ablation", "init_from", "distill_teacher", "generate", "variants",
            "train", "vocabulary"}
    own = {k: v for k, v in model.items() if k not in skip}
    own["max_tokens"] = model["train"].get("max_tokens")
    own["fp16"] = model["train"].get("fp16")
    return json.dumps(own, sort_keys=True)


class Throughput:
    """Rates per device: measured ones (a --throughput file) where they exist, else an anchor
    scaled by FLOPs."""

    def __init__(self, path: str | None = None, base_rate: float | None = None):
        self.file = None
        self.measured: dict[str, dict] = {}
        self.base = None  # a GPU rate the user knows for Transformer-base (--base-rate), scaled to the others
        if base_rate:
            self.base = costs.Anchor("train", "cuda", base_rate, "given with --base-rate",
                                     f"Transformer-base (6-6, 512/2048, 40k vocabulary): {base_rate:,.0f} batch tokens/s "
                                     "per GPU, as given", arch=dict(costs.DEFAULT_ARCH), vocab=40004, measured=False)
        if path:
            with open(path, encoding="utf-8") as handle:
                self.file = json.load(handle)
            self.measured = self.file.get("train", {})

    def train_anchor(self, device: str, flops: float) -> costs.Anchor:
        """The measurement to scale from: the file's one nearest in FLOPs on this device, else the
        module's anchor."""
        if self.file and self.file.get("device") == device and self.measured:
            nearest = min(self.measured.values(), key=lambda m: abs(m["flops_per_token"] - flops))
            return costs.Anchor("train", device, nearest["batch_tokens_per_s"], self.file["hardware"],
                                f"{nearest['model']} measured by scripts/plan.py --measure",
                                arch=nearest.get("cost_model") or nearest["arch"], vocab=nearest["vocab"])
        if device == "cuda":
            return self.base or costs.GPU_TRAIN
        return costs.cpu_train_anchor()

    def train_rate(self, model: dict, vocab: int, device: str) -> tuple[float, str]:
        if self.file and self.file.get("device") == device:
            for entry in self.measured.values():
                if entry["signature"] == signature(model) and entry["vocab"] == vocab:
                    return entry["batch_tokens_per_s"], "measured"
        flops = costs.train_flops_per_token(model, vocab)
        anchor = self.train_anchor(device, flops)
        return costs.scaled_train_rate(anchor, model, vocab), "scaled"

    @staticmethod
    def decode_anchor(device: str) -> costs.Anchor:
        return costs.GPU_DECODE if device == "cuda" else costs.CPU_DECODE


# -- the plan ----------------------------------------------------------------------------------------
@dataclass
class Cost:
    job: tuple
    device: str  # cuda | cpu
    devices: int  # GPUs (or 1 CPU job) the job holds
    seconds: float | None  # wall seconds; None: not estimated
    detail: dict = field(default_factory=dict)

    @property
    def device_hours(self) -> float | None:
        return None if self.seconds is None else self.seconds * max(self.devices, 1) / 3600.0


class Plan:
    def __init__(self, w, throughput: Throughput):
        self.w, self.throughput = w, throughput
        self.dag = Dag(w)
        self.jobs = self.dag.all_jobs()
        self.sizes = {c: corpus_sizes(w, c) for c in w.run}
        self.notes: list[str] = [n for c in w.run for n in self.sizes[c].notes]
        self.costs = {job: self.cost(job) for job in self.jobs if job[0] in GPU_RULES}

    def device(self, gpus: int) -> str:
        return "cuda" if gpus > 0 else "cpu"

    def decode_seconds(self, corpus, spec, vocab, sentences, device, beam=None) -> tuple[float, float]:
        """Seconds to translate `sentences` with a resolved model (its `generate`), and sentences/s.
        GPU: natpipe.speed_estimate (the speed jobs' estimate: HRT Table 10's published times per
        system, carried to the model's size) at the batch size its max_tokens makes; CPU: the
        measured CPU decoding anchor scaled by FLOPs."""
        if beam:
            spec = {**spec, "generate": {**spec["generate"], "beam": beam}}
        if device == "cuda":
            batch = max(1, int(spec["generate"].get("max_tokens", 8000) / self.sizes[corpus].lengths[1]))
            rate = 1.0 / sentence_seconds(spec, "gpu", batch, 1)
        else:
            rate = costs.scaled_decode_rate(self.throughput.decode_anchor(device), spec, vocab, self.sizes[corpus].lengths)
        return sentences / rate, rate

    def startup(self, device) -> float:
        return costs.JOB_STARTUP_S if device == "cuda" else 0.0

    def cost(self, job) -> Cost:
        rule, corpus, name = job[:3]
        w = self.w
        if rule == "train_model":
            model, gpus = w.model_spec(name), w.training_gpus
            device, vocab = self.device(gpus), vocab_size(w, corpus, name)
            rate, how = self.throughput.train_rate(model, vocab, device)
            seconds = costs.train_device_seconds(model, gpus, rate) / max(gpus, 1)
            valid = 0.0
            for _ in model["train"].get("bleu_at", []):
                spec = {**model, "generate": model["generate"]}
                valid += self.decode_seconds(corpus, spec, vocab, self.sizes[corpus].valid, device)[0]
            return Cost(job, device, gpus, seconds + valid + self.startup(device),
                        {"rate": rate, "how": how, "vocab": vocab, "batch": costs.batch_tokens(model["train"], gpus),
                         "updates": model["train"]["max_update"], "flops": costs.train_flops_per_token(model, vocab)})
        if rule == "distill_shard":
            gpus, shard = w.decoding_gpus, job[3]
            device, spec = self.device(gpus), json.loads(w.teacher_json(corpus, name))
            pairs = self.sizes[corpus].train
            if pairs is None:
                return Cost(job, device, gpus, None)
            start, end = shard_range(pairs, w.distill_spec(corpus)["shards"], shard)
            sentences = end - start
            vocab = vocab_size(w, corpus, name)
            seconds, rate = self.decode_seconds(corpus, spec, vocab, sentences, device)
            return Cost(job, device, gpus, seconds + self.startup(device), {"sentences": sentences, "rate": rate})
        if rule == "translate_test":
            gpus = w.decoding_gpus
            device, spec = self.device(gpus), w.row_spec(corpus, name)
            vocab = vocab_size(w, corpus, w.row_model(corpus, name))
            seconds, rate = self.decode_seconds(corpus, spec, vocab, self.sizes[corpus].test, device)
            return Cost(job, device, gpus, seconds + self.startup(device), {"sentences": self.sizes[corpus].test, "rate": rate})
        if rule == "measure_speed":
            gpus = w.decoding_gpus
            # the speed job's own runtime estimate (natpipe/speed_estimate.py)
            return Cost(job, self.device(gpus), gpus, float(w.speed_job_estimate_s(corpus, name)))
        raise ValueError(rule)

    # -- summaries -----------------------------------------------------------------------------
    def by_rule(self) -> dict:
        """rule -> (jobs, device, devices per job, device-hours or None when any job is not estimated)."""
        out = {}
        for rule in GPU_RULES:
            items = [c for c in self.costs.values() if c.job[0] == rule]
            if not items:
                continue
            estimated = [c.device_hours for c in items if c.device_hours is not None]
            missing = len(items) - len(estimated)
            out[rule] = {"jobs": len(items), "device": items[0].device, "devices": items[0].devices,
                         "hours": sum(estimated), "missing": missing}
        return out

    def total(self, device="cuda") -> float:
        return sum(v["hours"] for v in self.by_rule().values() if v["device"] == device)

    def hours_of(self, jobs) -> tuple[float, int]:
        """GPU-hours of a set of jobs and how many of its GPU jobs are not estimated."""
        items = [self.costs[j] for j in jobs if j in self.costs]
        return sum(c.device_hours or 0.0 for c in items), sum(1 for c in items if c.device_hours is None)


# -- paper tables (--by-table) -----------------------------------------------------------------------
def paper_tables(w) -> dict[tuple[str, str], list[tuple[str, str]]]:
    """(paper, table) -> [(corpus, row)] of the rows that land in it, decided by each paper's own
    tables module (natpipe/systems/<paper>/tables.py, its `<paper>_setting(table, row)`)."""
    import csv

    from natpipe.registry import paper_packages
    from natpipe.tables import paper_module

    rows = json.loads(w.paper_rows_json())
    out = {}
    for paper in paper_packages():
        module = paper_module(paper)
        setting = getattr(module, f"{paper}_setting", None)
        with open(REPO / "data" / "papers" / f"{paper}.csv", encoding="utf-8") as handle:
            tables = list(dict.fromkeys(r["table"] for r in csv.DictReader(handle)))
        def member(table, row):
            if setting is None:
                return bool(row["paper_name"])
            try:
                return setting(table, row) is not None
            except (KeyError, ValueError):  # a table of the CSV that the module does not lay out
                return False

        for table in tables:
            members = [(r["corpus"], r["row"]) for r in rows if member(table, r)]
            if members:
                out[(paper, table)] = members
    return out


def table_jobs(plan: Plan, members) -> set:
    """Every job behind a table's rows: BLEU (and so the models, teachers and distillations) and
    the speed jobs of their alpha columns."""
    w, paths = plan.w, []
    for corpus in dict.fromkeys(c for c, _ in members):
        rows = [r for c, r in members if c == corpus]
        paths += [w.path("bleu", corpus=corpus, system=r) for r in rows] + plan.dag.speed_files(corpus, rows)
    return plan.dag.needs(paths)


# -- printing ------------------------------------------------------------------------------------------
def print_table(header: list[str], rows: list[list[str]], right=None) -> None:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows)]
    right = right or set(range(1, len(header)))

    def line(cells):
        return "  ".join(str(c).rjust(wd) if i in right else str(c).ljust(wd)
                         for i, (c, wd) in enumerate(zip(cells, widths))).rstrip()

    print(line(header))
    print("  ".join("-" * wd for wd in widths))
    for row in rows:
        print(line(row))


def report(plan: Plan, args, title: str) -> None:
    w = plan.w
    print(f"natpipe cost plan: {title}; corpora: {', '.join(w.run)}")
    print(f"GPUs per training job {w.training_gpus}, per decoding job {w.decoding_gpus}")
    summary = plan.by_rule()
    rows, total_gpu, total_cpu = [], 0.0, 0.0
    for rule, s in summary.items():
        unit = "GPU" if s["device"] == "cuda" else "CPU job"
        hours = costs.fmt_hours(s["hours"]) + (f" (+{s['missing']} n/e)" if s["missing"] else "")
        rows.append([rule, str(s["jobs"]), f"{s['devices'] if s['device'] == 'cuda' else 1} {unit}", hours])
        total_gpu += s["hours"] if s["device"] == "cuda" else 0.0
        total_cpu += s["hours"] if s["device"] == "cpu" else 0.0
    print()
    print_table(["job kind", "jobs", "holds", "device-hours"], rows)
    print(f"{'total':<15} GPU-hours {costs.fmt_hours(total_gpu)}" + (f"; CPU job-hours {costs.fmt_hours(total_cpu)}" if total_cpu else ""))
    if any(s["missing"] for s in summary.values()):
        print("n/e: not estimated (see notes); the total leaves those jobs out")
    cpu = counts(j for j in plan.jobs if j[0] in CPU_RULES)
    print("\nCPU jobs (not costed): " + ", ".join(f"{rule} {cpu[rule]}" for rule in CPU_RULES if rule in cpu)
          + "; plus data, preprocessing and table jobs")
    if args.models:
        print_models(plan)
    if args.by_table:
        print_tables(plan)
    print_notes(plan)


def print_models(plan: Plan) -> None:
    w = plan.w
    print("\nTraining jobs (train_model)")
    rows = []
    for job, c in sorted(plan.costs.items(), key=lambda kv: -(kv[1].device_hours or 0)):
        if job[0] != "train_model":
            continue
        m = w.model_spec(job[2])
        a = costs.arch_of(m)
        rows.append([job[2], job[1], m["kind"], f"{a['encoder_layers']}-{a['decoder_layers']} {a['embed_dim']}/{a['ffn_dim']}",
                     f"{c.detail['updates']:,}", f"{c.detail['batch']:,}", f"{c.detail['flops'] / 1e6:,.0f}",
                     costs.fmt_rate(c.detail["rate"]) + ("*" if c.detail["how"] == "measured" else ""),
                     costs.fmt_hours(c.device_hours)])
    print_table(["model", "corpus", "kind", "layers d/ffn", "updates", "batch tok", "MFLOP/tok", "tok/s/dev", "device-h"], rows,
                right={4, 5, 6, 7, 8})
    print("tok/s/dev: batch tokens per second per device (* measured, else scaled from the anchor by FLOPs)")


def print_tables(plan: Plan) -> None:
    print("\nGPU-hours per paper table (every job its rows need: their models, teachers, distillations, "
          "decodings and speed jobs; tables share jobs, so these do not add up to the total)")
    rows = []
    for (paper, table), members in paper_tables(plan.w).items():
        hours, missing = plan.hours_of(table_jobs(plan, members))
        models = sorted({plan.w.row_model(c, r) for c, r in members})
        shown = ", ".join(models[:6]) + (f", … ({len(models)})" if len(models) > 6 else "")
        rows.append([paper, table, str(len(members)), costs.fmt_hours(hours) + (" +n/e" if missing else ""), shown])
    print_table(["paper", "table", "rows", "GPU-h", "models"], rows, right={2, 3})


def print_notes(plan: Plan) -> None:
    t = plan.throughput
    print("\nNotes")
    if t.file:
        print(f"- throughput: {t.file['hardware']} ({t.file.get('how', 'scripts/plan.py --measure')}); "
              "unmeasured architectures scaled by FLOPs from the nearest measured one")
    if t.base:
        print(f"- GPU training: {t.base.how}; every architecture scaled from it by FLOPs (the H200 anchor is not used)")
    for anchor in (costs.GPU_TRAIN, costs.cpu_train_anchor(), costs.CPU_DECODE):
        unit = "batch tokens/s" if anchor.kind == "train" else "sentences/s"
        print(f"- {anchor.kind} anchor ({anchor.device}): {costs.fmt_rate(anchor.rate)} {unit}; {anchor.hardware}. {anchor.how}")
    sample = {**costs.SAMPLE_TEACHER, "kind": "at", "arch": "transformer", "generate": {"beam": 5}}
    predicted = 1.0 / sentence_seconds(sample, "gpu", 32, 1)
    print("- GPU decoding (distill_shard, translate_test, train.bleu_at): natpipe/speed_estimate.py, the speed jobs' "
          "estimate from HRT Table 10's published times (NVIDIA 2080Ti), per system through the registry, at the "
          f"batch size max_tokens makes (32 or more: Table 10's B=32). Cross-check: for the sample teacher it gives "
          f"{predicted:,.0f} sentences/s, where the first H200 run measured {costs.GPU_DECODE.rate:.0f} per "
          "distillation shard (two shards side by side, before the shard speed-ups)")
    tflops = costs.implied_tflops(costs.GPU_TRAIN)
    base = costs.V17_P100_BASE
    scaled = costs.scaled_train_rate(costs.GPU_TRAIN, base.arch, base.vocab)
    print(f"- the GPU training anchor implies {tflops:.1f} TFLOP/s on its GPU (an H200 peaks near 989 TFLOP/s dense "
          "fp16, 67 fp32, NVIDIA's data sheet): FLOPs scaling from it makes the GPU-hours an upper bound; "
          "`scripts/plan.py --measure --device cuda` on the cluster replaces it. Cross-check: scaled to "
          f"Transformer-base it gives {scaled:,.0f} batch tokens/s per GPU, where Vaswani et al. (2017) trained "
          f"Transformer-base at {base.rate:,.0f} target tokens/s per P100: these are P100-era GPU-hours")
    print(f"- every GPU job adds {costs.JOB_STARTUP_S:.0f} s of start-up (assumed); GPU-hours = wall-hours x GPUs "
          "(linear multi-GPU scaling assumed)")
    print("- measure_speed: each job's runtime from the Workflow's own estimate (Workflow.speed_job_estimate_s, "
          "natpipe/speed_estimate.py: HRT Table 10's published times, a 2080Ti and a Xeon E5-2683 v4), held GPUs "
          "counted for the whole job (its CPU timing included)")
    for note in plan.notes:
        print(f"- {note}")


# -- measuring --------------------------------------------------------------------------------------
def synthetic_corpus(out: Path, vocab: int, length: float, sentences: int, seed: int = 1) -> Path:
    """Random sentences over a `vocab`-sized dictionary (fairseq adds its 4 specials), binarized."""
    rng = random.Random(seed)
    out.mkdir(parents=True, exist_ok=True)
    words = [f"w{i}" for i in range(vocab - 4)]
    (out / "dict.txt").write_text("".join(f"{word} {len(words) - i}\n" for i, word in enumerate(words)), encoding="utf-8")
    for split, n in (("train", sentences), ("valid", 64)):
        with open(out / f"{split}.src", "w", encoding="utf-8") as src, open(out / f"{split}.tgt", "w", encoding="utf-8") as tgt:
            for _ in range(n):
                m = max(2, int(rng.uniform(0.5, 1.5) * (length - 1)))
                k = max(2, int(round(m * rng.uniform(0.9, 1.1))))
                src.write(" ".join(rng.choice(words) for _ in range(m)) + "\n")
                tgt.write(" ".join(rng.choice(words) for _ in range(k)) + "\n")
    data_bin = out / "data-bin"
    command = [sys.executable, "-m", "natpipe.fairseq_cli", "preprocess", "--source-lang", "src", "--target-lang", "tgt",
               "--trainpref", str(out / "train"), "--validpref", str(out / "valid"), "--srcdict", str(out / "dict.txt"),
               "--tgtdict", str(out / "dict.txt"), "--destdir", str(data_bin), "--workers", "1"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=REPO)
    if done.returncode != 0:
        raise PipelineError(f"fairseq-preprocess of the synthetic corpus failed:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return data_bin


def device_name(device: str, threads: int) -> str:
    code = ("import torch; print(torch.__version__, '|', torch.cuda.get_device_name() if torch.cuda.is_available() "
            "else 'no GPU')")
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip()
    version, _, gpu = found.partition(" | ")
    if device == "cuda":
        return f"1 {gpu} (torch {version})"
    cpu = platform.processor() or platform.machine()
    try:
        names = [l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"CPU {cpu}, {os.cpu_count()} cores, {threads} threads (torch {version})"


UPDATE_LINE = re.compile(r"num_updates=(\d+)")
WPB = re.compile(r"\bwpb=([\d.]+)")


def time_training(model: dict, data_bin: Path, device: str, args, work: Path) -> dict:
    """Wall seconds of `args.updates` fairseq-train updates after `args.warmup` untimed ones, from
    the arrival of fairseq's per-update log lines; batch tokens and fairseq's target tokens."""
    from fairseq_args import fairseq_env, train_args

    gpus = 1 if device == "cuda" else 0
    train = {**model["train"], "update_freq": 1, "effective_batch_tokens": None, "bleu_at": [],
             "max_update": args.warmup + args.updates}
    if args.max_tokens:
        train["max_tokens"] = args.max_tokens
    model = {**model, "train": train}
    distill = str(data_bin) if model.get("data") == "mixdistill" else None
    command = [sys.executable, "-m", "natpipe.fairseq_cli", "train"] + train_args(
        model, str(data_bin), "src", "tgt", str(work / "checkpoints"), gpus, distill_bin=distill, inputs={}) + [
        "--no-save", "--disable-validation", "--log-interval", "1", "--update-freq", "1",
        "--max-update", str(args.warmup + args.updates)]
    stamps, wpb, log = {}, {}, []
    with subprocess.Popen(command, env=fairseq_env(args.threads), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          text=True, cwd=REPO) as process:
        for line in process.stdout:
            log.append(line)
            found = UPDATE_LINE.search(line)
            if found:
                stamps[int(found.group(1))] = time.perf_counter()
                size = WPB.search(line)
                if size:
                    wpb[int(found.group(1))] = float(size.group(1))
        code = process.wait()
    first, last = args.warmup, args.warmup + args.updates
    if code != 0 or first not in stamps or last not in stamps:
        tail = "".join(log[-15:])
        raise PipelineError(f"fairseq-train failed or logged no update {first}/{last} (status {code}):\n{tail}")
    seconds = stamps[last] - stamps[first]
    tokens = train["max_tokens"] * args.updates * max(gpus, 1)
    target = sum(wpb.get(u, 0.0) for u in range(first + 1, last + 1))
    return {"seconds": round(seconds, 3), "updates": args.updates, "warmup": args.warmup,
            "max_tokens": train["max_tokens"], "update_freq": 1, "batch_tokens_per_s": tokens / seconds,
            "target_tokens_per_s": target / seconds if target else None}


def measure(w, args) -> dict:
    gpus_device = args.device
    chosen = args.measure_models.split(",") if args.measure_models else None
    corpus = w.run[0]
    groups: dict[str, list[str]] = {}
    for c in w.run:
        for name in w.trained_models(c):
            if chosen is None or name in chosen:
                groups.setdefault(signature(w.model_spec(name)) + f"|{vocab_size(w, c, name)}", []).append(name)
    if chosen:
        unknown = [m for m in chosen if m not in {n for g in groups.values() for n in g}]
        if unknown:
            raise PipelineError(f"--measure-models: {', '.join(unknown)} not trained in this run")
    sizes = corpus_sizes(w, corpus)
    hardware = device_name(gpus_device, args.threads)
    if gpus_device == "cuda" and hardware.startswith("1 no GPU"):
        raise PipelineError(f"--device cuda, but torch sees no GPU here ({hardware}); time the CPU with --device cpu")
    results = {"device": gpus_device, "hardware": hardware,
               "how": f"scripts/plan.py --measure: {args.warmup} warm-up + {args.updates} timed fairseq-train updates per "
                      f"architecture, update_freq 1, synthetic corpus of {sizes.lengths[1]:g}-token sentences",
               "date": time.strftime("%Y-%m-%d"), "train": {}}
    work = Path(tempfile.mkdtemp(prefix="natpipe-plan-"))
    corpora = {}
    for key, names in groups.items():
        name = names[0]
        model, vocab = w.model_spec(name), int(key.rsplit("|", 1)[1])
        if vocab not in corpora:
            tokens = (args.warmup + args.updates + 2) * (args.max_tokens or model["train"]["max_tokens"])
            corpora[vocab] = synthetic_corpus(work / f"v{vocab}", vocab, sizes.lengths[1],
                                              max(200, int(1.5 * tokens / sizes.lengths[1])))
        print(f"[plan] timing {name} ({', '.join(names)}) on {gpus_device} ...", file=sys.stderr, flush=True)
        try:
            timing = time_training(model, corpora[vocab], gpus_device, args, work / name)
        except PipelineError as err:
            print(f"[plan] {name}: {err}", file=sys.stderr)
            continue
        entry = {**timing, "model": name, "vocab": vocab, "arch": costs.arch_of(model),
                 "cost_model": {k: v for k, v in model.items() if k not in ("train", "generate", "variants")},
                 "flops_per_token": costs.train_flops_per_token(model, vocab), "signature": signature(model)}
        for n in names:
            results["train"][n] = entry
        print(f"[plan] {name}: {entry['batch_tokens_per_s']:,.0f} batch tokens/s "
              f"({entry['seconds']:.1f} s for {args.updates} updates of {entry['max_tokens']} tokens)", file=sys.stderr)
    return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", help=f"a preset of configs/ (known: {', '.join(presets())})")
    parser.add_argument("--configfile", nargs="*", default=[], help="config files merged over config.yaml, in order")
    parser.add_argument("--throughput", help="a throughput file written by --measure (replaces the anchors)")
    parser.add_argument("--base-rate", type=float, help="GPU training throughput you know for a Transformer-base "
                        "(batch tokens/s per GPU, e.g. from your cluster's logs): replaces the H200 anchor, scaled by FLOPs")
    parser.add_argument("--models", action="store_true", help="also list every training job with its cost")
    parser.add_argument("--by-table", action="store_true", help="also the GPU-hours of each paper table's rows")
    parser.add_argument("--json", action="store_true", help="print the job kinds as JSON (counts and hours)")
    parser.add_argument("--measure", action="store_true", help="time training updates on this machine instead")
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cuda", help="--measure: device to time")
    parser.add_argument("--measure-models", help="--measure: comma-separated models (default: one per architecture)")
    parser.add_argument("--updates", type=int, default=5, help="--measure: timed updates per architecture")
    parser.add_argument("--warmup", type=int, default=2, help="--measure: untimed updates first")
    parser.add_argument("--max-tokens", type=int, help="--measure: batch tokens (default: each model's max_tokens)")
    parser.add_argument("--threads", type=int, default=4, help="--measure: torch CPU threads")
    parser.add_argument("--out", help="--measure: output file (default results/plan/throughput-<device>.json)")
    args = parser.parse_args(argv)
    files = ([str(preset_file(args.preset))] if args.preset else []) + list(args.configfile)
    try:
        w = workflow(files)
    except ConfigError as err:
        raise PipelineError(str(err)) from None
    title = " + ".join(os.path.relpath(f, REPO) for f in files) + " (merged over config.yaml)" if files else "config.yaml"
    if args.measure:
        results = measure(w, args)
        out = Path(args.out or REPO / "results" / "plan" / f"throughput-{args.device}.json")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"[plan] wrote {out}")
        return
    plan = Plan(w, Throughput(args.throughput, args.base_rate))
    if args.json:
        several = len(w.run) > 1
        training = {f"{job[1]}/{job[2]}" if several else job[2]: c.device_hours
                    for job, c in plan.costs.items() if job[0] == "train_model"}
        data = {"title": title, "jobs": {rule: n for rule, n in sorted(counts(plan.jobs).items())},
                "by_rule": plan.by_rule(), "gpu_hours": plan.total("cuda"), "cpu_hours": plan.total("cpu"),
                "train_model": training}
        print(json.dumps(data, indent=1, sort_keys=True))
        return
    report(plan, args, title)


if __name__ == "__main__":
    from common import run_main

    run_main(main)
