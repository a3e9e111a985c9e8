"""The papers' tables: the machinery every paper shares, and the driver that finds a paper's own.

Published numbers live in data/papers/<paper>.csv (table, system, setting, metric, value); a
paper's tables live in natpipe/systems/<paper>/tables.py, whose `tables(rows, bleu, paper,
summary, bp) -> str` returns the markdown. Adding a paper is adding that module: `render` finds it
by name, nothing here lists the papers.

A row (scripts/paper_tables.py --rows, from natpipe.workflow) is {corpus, row, paper_name, paper,
ablation, model, lm_order, src, tgt, reference, test}; `model` is the row's resolved model (its kind's
keys with their defaults, its variant merged into `generate`), so a table reads the settings it
varies from there and restates no default; `test` names the sources of the corpus's test split;
`paper` is the model's label as configured: null, a paper's name or a list of names (`meant_for`).
Our BLEU is the test-set tokenized BLEU of summary.csv (`bp`: its brevity penalty; `sacrebleu`:
its detokenized SacreBLEU; `repetition`: the % of output tokens that repeat the one before them);
alpha, speed-ups and latencies come from the speed CSV of the same run and device. Δ = ours − paper.

Pure Python + pandas (no torch, no fairseq): the tables job runs without them.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Callable

import pandas as pd

from natpipe.config import paper_labels
from natpipe.errors import PipelineError
from natpipe.registry import paper_packages

DATA_LABELS = {"raw": "R", "distill": "D", "mixdistill": "MD"}  # the papers' training-data notation


class UnknownPaper(PipelineError):
    """No natpipe/systems/<paper>/tables.py for this name."""


def paper_module(paper: str) -> ModuleType:
    """natpipe.systems.<paper>.tables; only names of packages that have one are imported."""
    known = paper_packages()
    if paper not in known:
        raise UnknownPaper(f"no tables for paper '{paper}' (known: {', '.join(known) or 'none'})")
    return importlib.import_module(f"natpipe.systems.{paper}.tables")


def meant_for(row: dict, paper: str) -> bool:
    """Whether a row may go to this paper's tables: its model's `paper` label is unset, names this
    paper, or is a list that names it (at_base: [fully_nat, mtnat] is both papers' AT)."""
    labels = paper_labels(row.get("paper"))
    return not labels or paper in labels


def render(paper: str, rows: list[dict], bleu: dict, paper_numbers: dict, summary: pd.DataFrame, bp: dict,
           sacrebleu: dict | None = None, repetition: dict | None = None) -> str:
    """One paper's markdown: its module's `tables` on our rows and the published numbers
    (`sacrebleu`: (corpus, row) -> SacreBLEU, for the tables that print it; `repetition`: (corpus,
    row) -> repetition rate in %, for the tables that print it). Rows whose
    model is meant for other papers' tables only (its `paper`) stay out."""
    ours = [row for row in rows if meant_for(row, paper)]
    return paper_module(paper).tables(ours, bleu, paper_numbers, summary, bp, sacrebleu=sacrebleu or {},
                                      repetition=repetition or {})


# Inputs -------------------------------------------------------------------------------------------


def paper_numbers(path: str) -> dict:
    """(table, system, setting, metric) -> the published value."""
    table = pd.read_csv(path, dtype={"setting": str}, keep_default_na=False)
    return {(r.table, r.system, r.setting, r.metric): float(r.value) for r in table.itertuples()}


# Speed arithmetic, shared with the harness (scripts/speed.py) --------------------------------------


ALPHA_FROM = ("mean", "median")  # speed.alpha_from: the statistic of a cell's runs that alpha and latency use


def summarize(table: pd.DataFrame, reference: str) -> pd.DataFrame:
    """Per (run, device, system, batch): mean, median, sd (sample sd, ddof=1: NaN for one run),
    fastest, slowest, spread_pct ((slowest - fastest) / median), and `time`, the statistic that the
    run's `alpha_from` names (mean by default: HRT reports the average of five runs). alpha =
    time(reference) / time(system), only within one run and device. `grid` (a speed.batch_sizes
    size, not the extra Lmax size) and `lmax` (the probed size per system x device) pass through."""
    ok = table[table["status"] == "ok"]
    if "engine" not in ok:  # timings from before the CTranslate2 rows: all fairseq
        ok = ok.assign(engine="fairseq")
    grouped = ok.groupby(["run_id", "device", "system", "batch_size"], sort=False)
    summary = grouped.agg(mean=("seconds", "mean"), median=("seconds", "median"), sd=("seconds", "std"),
                          fastest=("seconds", "min"), slowest=("seconds", "max"),
                          runs=("seconds", "size"), n_sentences=("n_sentences", "first"),
                          agreement=("agreement", "min"), grid=("grid", "first"), lmax=("lmax", "first"),
                          batching=("batching", "first"), alpha_from=("alpha_from", "first"),
                          decoder=("engine", "first")).reset_index()  # agg(engine=) is pandas' own keyword
    summary = summary.rename(columns={"decoder": "engine"})
    unknown = set(summary["alpha_from"]) - set(ALPHA_FROM)
    if unknown:
        raise PipelineError(f"speed: alpha_from {sorted(map(str, unknown))} is none of {list(ALPHA_FROM)}")
    summary["grid"] = summary["grid"].astype(bool)
    summary["time"] = summary["median"].where(summary["alpha_from"] == "median", summary["mean"])
    ref = summary[summary["system"] == reference].set_index(["run_id", "device", "batch_size"])["time"]
    if ref.empty:
        raise PipelineError(f"speed: the reference row '{reference}' has no successful timing")
    keys = list(zip(summary["run_id"], summary["device"], summary["batch_size"]))
    summary["alpha"] = [ref.get(key, float("nan")) / time for key, time in zip(keys, summary["time"])]
    summary["spread_pct"] = 100 * (summary["slowest"] - summary["fastest"]) / summary["median"]
    summary["alpha_ct2"] = ctranslate2_alphas(summary)
    return summary


def ctranslate2_alphas(summary: pd.DataFrame) -> list[float]:
    """Each row's alpha against the AT a user would deploy: the fastest CTranslate2 row (any
    compute type) on the same device at the same batch size. It is computed as alpha(row) /
    alpha(fastest CTranslate2 row), each alpha against the reference of its own run, so that no
    two timings of different runs are ever divided; NaN where no CTranslate2 row was timed."""
    ct2 = summary[summary["engine"].astype(str).str.startswith("ctranslate2")]
    fastest = ct2.groupby(["device", "batch_size"])["alpha"].max()
    return [alpha / fastest.get((device, size), float("nan"))
            for alpha, device, size in zip(summary["alpha"], summary["device"], summary["batch_size"])]


def grid_only(summary: pd.DataFrame) -> pd.DataFrame:
    """The speed.batch_sizes rows, without the extra Lmax size: the papers' average alpha and
    figure are over their grid (a summary without a `grid` column is all grid)."""
    return summary[summary["grid"].astype(bool)] if "grid" in summary else summary


def latency_throughput(summary: pd.DataFrame) -> pd.DataFrame:
    """L1: ms per sentence at batch 1; Lmax: sentences/s at the probed Lmax size (the `lmax`
    column), or at the largest batch that ran when that size did not."""
    out = []
    for (device, system), part in summary.groupby(["device", "system"], sort=False):
        one = part[part["batch_size"] == 1]
        probed = part[part["batch_size"] == part["lmax"]] if "lmax" in part else part.iloc[:0]
        largest = probed.iloc[0] if len(probed) else part.loc[part["batch_size"].idxmax()]
        out.append({"device": device, "system": system,
                    "L1_ms": 1000 * one["time"].iloc[0] / one["n_sentences"].iloc[0] if len(one) else float("nan"),
                    "Lmax_sent_per_s": largest["n_sentences"] / largest["time"], "Lmax_batch": largest["batch_size"]})
    return pd.DataFrame(out)


def speed_summaries(speed_csvs: list[str], reference: dict) -> pd.DataFrame:
    """Mean/median time and alpha per (corpus, run, device, system, batch), by the speed harness's
    own arithmetic (alpha only within one run and device)."""
    parts = []
    for path in speed_csvs:
        table = pd.read_csv(path)
        for corpus, part in table.groupby("corpus"):
            parts.append(summarize(part, reference[corpus]).assign(corpus=corpus))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["corpus", "run_id", "device", "system", "batch_size", "grid", "lmax", "mean", "median", "time",
                 "alpha", "n_sentences"])


def mean_alphas(summary: pd.DataFrame) -> dict:
    """(corpus, row, device) -> alpha averaged over the grid's batch sizes (the papers' "Avg" column)."""
    grouped = grid_only(summary).groupby(["corpus", "system", "device"])["alpha"].mean()
    return {key: float(value) for key, value in grouped.items()}


def batch_alphas(summary: pd.DataFrame, batch: int = 1) -> dict:
    """(corpus, row, device) -> alpha at one batch size (Fully-NAT's speed-up at one sentence per batch)."""
    grouped = summary[summary["batch_size"] == batch].groupby(["corpus", "system", "device"])["alpha"].mean()
    return {key: float(value) for key, value in grouped.items()}


def latencies(summary: pd.DataFrame) -> dict:
    """(corpus, row, device) -> {"b1": ms per sentence at batch 1 (None: batch 1 not timed),
    "max": ms per sentence at Lmax, "max_batch": that batch (the probed size, see
    latency_throughput)}, by the speed harness's own L1/Lmax arithmetic: a timed pass translates
    all n_sentences of the set, so latency = time of the pass (mean or median of the runs, as
    alpha) / n_sentences x 1000."""
    out = {}
    for corpus, part in summary.groupby("corpus"):
        for r in latency_throughput(part).itertuples():
            out[(corpus, r.system, r.device)] = {"b1": None if pd.isna(r.L1_ms) else float(r.L1_ms),
                                                 "max": 1000.0 / float(r.Lmax_sent_per_s),
                                                 "max_batch": int(r.Lmax_batch)}
    return out


# Markdown -----------------------------------------------------------------------------------------


def fmt(value, digits: int = 2) -> str:
    return "–" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def compare(ours, theirs, delta: bool = True, missing: str = "–", digits: int = 2) -> list[str]:
    """Cells ours | paper (| Δ = ours − paper); `missing` stands for a number we do not have."""
    absent = ours is None or pd.isna(ours)
    cells = [missing if absent else fmt(ours, digits), fmt(theirs, digits)]
    if delta:
        cells.append(fmt(None if absent or theirs is None else ours - theirs, digits))
    return cells


@dataclass(frozen=True)
class Column:
    """One compared quantity of a table: our value for a row, and the paper's metric key for that
    row (None, or `metric` None: the paper has no such number; without `metric` only our cell)."""
    label: str
    ours: Callable[[dict], float | None]
    metric: Callable[[dict], str | None] | None = None
    delta: bool = True
    missing: str = "–"
    paper_label: str | None = None
    digits: int = 2

    def header(self) -> list[str]:
        if self.metric is None:
            return [f"{self.label} ours"]
        return [f"{self.label} ours", self.paper_label or f"{self.label} paper"] + ([f"{self.label} Δ"] if self.delta else [])

    def cells(self, row: dict, table: str, setting: str, paper: dict) -> list[str]:
        ours = self.ours(row)
        if self.metric is None:
            return [self.missing if ours is None or pd.isna(ours) else fmt(ours, self.digits)]
        key = self.metric(row)
        theirs = paper.get((table, row["paper_name"], setting, key)) if key else None
        return compare(ours, theirs, self.delta, self.missing, self.digits)


def markdown_row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def section(title: str, header: list[str], body: list[str], note: str | None = None) -> list[str]:
    """One markdown table under its `## title` (the placeholder line when no row belongs to it)."""
    lines = [f"## {title}", ""] + ([note, ""] if note else [])
    if not body:
        return lines + ["(no row of this run belongs to this table)", ""]
    return lines + [markdown_row(header), "|---" * len(header) + "|", *body, ""]


def comparison_section(title: str, table: str, entries: list[tuple[dict, str, str]], columns: list[Column],
                       paper: dict, note: str | None = None) -> list[str]:
    """entries: (row, the paper's setting key, the setting as printed) in table order."""
    body = []
    for row, setting, shown in entries:
        cells = [row["corpus"], row["row"], row["paper_name"], shown]
        for column in columns:
            cells += column.cells(row, table, setting, paper)
        body.append(markdown_row(cells))
    header = ["corpus", "row", "paper system", "setting"] + [h for column in columns for h in column.header()]
    return section(title, header, body, note)


def paper_sections(titles: dict, notes: dict, rows: list[dict], setting: Callable, shown: Callable,
                   columns: Callable, paper: dict) -> list[str]:
    """One comparison_section per table (`titles`: table -> title, in order): the rows that
    `setting(table, row)` places (None: not in it), printed as `shown(table, row, setting)`, with
    `columns(table)`."""
    lines = []
    for table, title in titles.items():
        entries = [(row, key, shown(table, row, key)) for row in rows if (key := setting(table, row)) is not None]
        lines += comparison_section(title, table, entries, columns(table), paper, notes.get(table))
    return lines


def metric_name(metric: str, src: str, tgt: str) -> str:
    """The CSV's metric key: BLEU and SacreBLEU are per language pair (bleu_en_de), other metrics are not."""
    return {"bleu": f"bleu_{src}_{tgt}", "bleu_test": f"bleu_test_{src}_{tgt}",
            "sacrebleu": f"sacrebleu_{src}_{tgt}"}.get(metric, metric)


def benchmark_of(row: dict, benchmarks: dict) -> str | None:
    """The paper benchmark (a key of `benchmarks`: name -> (src, tgt)) a row is compared with: the
    corpus of that name, else, by the row's language pair, the IWSLT benchmark for an iwslt* corpus
    and the WMT one for any other (None: the paper has none). WMT14 De-En and IWSLT14 De-En share a
    pair, so the pair alone cannot decide."""
    if row["corpus"] in benchmarks:
        return row["corpus"]
    family = "iwslt" if row["corpus"].startswith("iwslt") else "wmt"
    return next((name for name, pair in benchmarks.items()
                 if name.startswith(family) and pair == (row["src"], row["tgt"])), None)


def bleu_column(bleu: dict, label: str = "bleu") -> Column:
    return Column(label, lambda row: bleu.get((row["corpus"], row["row"])),
                  lambda row: metric_name("bleu", row["src"], row["tgt"]))
