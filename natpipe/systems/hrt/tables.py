"""HRT's tables (Wang et al.) against data/papers/hrt.csv: Tables 2, 3, 4, 5, 6, 8, 9 and 10.

A row lands in every table whose setting it has: the paper system it reproduces (`paper_name`,
e.g. HRT12-1), for Table 9 its `ablation`, and from its resolved model the data (R/D/MD), k
(`chunk_size`) and the beams b_at (`generate.beam`) and b_nat (`generate.b_nat`). alpha is
averaged over the batch sizes timed, as the paper averages B = 1/8/16/32. Table 3 puts tokenized
BLEU and SacreBLEU per language pair; Table 4 (NIST Zh→En) has one column per test set, MT04 /
MT05 / MT08, and a run scores the one test set of its corpus's `splits.test`.
"""
from __future__ import annotations

import re

import pandas as pd

from natpipe.tables import (DATA_LABELS, Column, comparison_section, fmt, grid_only, markdown_row, mean_alphas,
                            metric_name, section)


EN_DE, EN_RO = ("en", "de"), ("en", "ro")
# The language pairs (src, tgt) each table reports: Table 2 and 6 En->Ro and En->De, Table 3 both ways,
# Table 4 NIST Zh->En, the analyses of Tables 5, 8, 9 and the timings of Table 10 En->De. A row of
# another pair stays out (e.g. a De->En HRT is a Table 3 row, never Table 2's).
HRT_PAIRS = {"table2": {EN_RO, EN_DE}, "table3": {EN_RO, ("ro", "en"), EN_DE, ("de", "en")}, "table4": {("zh", "en")},
             "table5": {EN_DE}, "table6": {EN_RO, EN_DE}, "table8": {EN_DE}, "table9": {EN_DE}, "table10": {EN_DE}}


def hrt_setting(table: str, row: dict) -> str | None:
    """The paper's `setting` key this row stands for in one HRT table (None: not in it)."""
    model = row["model"]
    if "upsample_ratio" in model:  # Fully-NAT models are no HRT paper system
        return None
    if (row["src"], row["tgt"]) not in HRT_PAIRS[table]:
        return None
    name, generate = row["paper_name"], model["generate"]
    # k and b_nat are HRT's own keys: None on the AT and CMLM rows, whose tables do not vary them.
    b_at, b_nat, k = generate["beam"], generate.get("b_nat"), model.get("chunk_size")
    if table == "table9":
        return row["ablation"] if name == "HRT" and row["ablation"] else None
    if row["ablation"] not in (None, "full"):  # ablations appear in Table 9 only; "full" is plain HRT
        return None
    standard = not name.startswith("HRT") or (k, b_at, b_nat) == (2, 5, 1)  # HRT as the paper runs it
    data = DATA_LABELS[model["data"]]
    if table == "table2":
        return f"b_at={b_at};b_nat={b_nat}" if name == "HRT" and k == 2 else None
    if table == "table3":  # "Our implementations": the ATs on raw data, the HRTs on MixDistill
        paper_data = {"AT": "R", "AT-20L": "R", "HRT": "MD", "HRT-20L": "MD"}.get(name)
        return f"data={data}" if standard and data == paper_data else None
    if table == "table4":  # AT (the teacher, raw), CMLM10, HRT (MixDistill)
        return "" if standard and {"AT": data == "R", "CMLM10": True, "HRT": data == "MD"}.get(name) else None
    if table == "table5":
        return f"k={k}" if name == "HRT" and (b_at, b_nat) == (5, 1) else None
    if table == "table6":
        return DATA_LABELS[model["data"]] if name in ("AT", "HRT") and standard else None
    if table == "table8":  # the 20-layer teacher on raw data, every other system on MixDistill
        paper_data = {"AT-20L": "R", "AT": "MD", "AT12-1": "MD", "HRT": "MD", "HRT12-1": "MD"}.get(name)
        return f"data={data}" if standard and data == paper_data else None
    if table == "table10":
        if name in ("AT", "AT12-1") and data != {"AT": "R", "AT12-1": "MD"}[name]:
            return None  # Table 10's AT is the raw-data base model, its AT12-1 Table 8's MixDistill one
        if standard:
            return "" if name in TABLE10_SYSTEMS else None
        if name == "HRT":
            return f"k={k}" if (b_at, b_nat) == (5, 1) else (f"b_at={b_at};b_nat={b_nat}" if k == 2 else None)
    return None


TABLE10_SYSTEMS = ("AT", "AT12-1", "CMLM1", "CMLM4", "CMLM10", "HRT", "HRT12-1")  # SAT: not implemented here

HRT_TABLES = {
    "table2": ("Table 2: beam sizes of HRT", ["bleu", "alpha_gpu_avg", "alpha_cpu_avg"]),
    "table3": ("Table 3: main results, tokenized BLEU and SacreBLEU", ["bleu", "sacrebleu"]),
    "table4": ("Table 4: NIST Zh→En (4-reference BLEU)", ["bleu_nist"]),
    "table5": ("Table 5: chunk size k", ["bleu_test", "alpha_gpu_avg", "alpha_cpu_avg"]),
    "table6": ("Table 6: data strategies (R raw, D distilled, MD MixDistill)", ["bleu"]),
    "table8": ("Table 8: deep encoder, shallow decoder", ["bleu", "alpha_gpu_avg", "alpha_cpu_avg"]),
    "table9": ("Table 9: ablations (delta against the full HRT)", ["bleu", "delta_bleu"]),
}


HRT_NOTES = {
    "table3": "SacreBLEU: ours detokenized against the corpus's raw references; on a Romanian target those "
              "have the WMT16 normalisation and diacritic removal (signature `|ro:norm+nodiac`), the paper's "
              "SacreBLEU (13a, one reference) the official ones. The paper's SAT row is a system natpipe does "
              "not implement.",
    "table4": "One test set per run: a row's column is its corpus's test split (splits.test: nist_mt04, "
              "nist_mt05 or nist_mt08); another test set (the preset's default MT03) has no paper number.",
}

NIST_SET = re.compile(r"(mt0[458])$")  # a test source named after its NIST set: nist_mt04 -> mt04


def nist_metric(row: dict) -> str | None:
    """Table 4's column of a row: bleu_mt04/05/08 after its corpus's one test source (None: another set)."""
    sources = row.get("test") or []
    found = NIST_SET.search(sources[0]) if len(sources) == 1 else None
    return f"bleu_{found.group(1)}" if found else None


def shown_setting(table: str, row: dict, setting: str) -> str:
    """The setting as printed: Table 4's is the row's test set (its column), the others' their key."""
    if table == "table4":
        return "test " + "+".join(row.get("test") or ["?"])
    return setting or "default"


def hrt_column(metric: str, rows: list[dict], bleu: dict, alpha: dict, sacrebleu: dict | None = None) -> Column:
    def ours(row: dict):
        corpus = row["corpus"]
        if metric == "sacrebleu":
            return (sacrebleu or {}).get((corpus, row["row"]))
        if metric == "delta_bleu":
            full = next((bleu.get((corpus, r["row"])) for r in rows if r["corpus"] == corpus
                         and r["paper_name"] == "HRT" and r["ablation"] == "full"), None)
            return None if full is None or row["ablation"] == "full" else bleu.get((corpus, row["row"])) - full
        if metric.startswith("alpha"):
            return alpha.get((corpus, row["row"], "cuda" if "gpu" in metric else "cpu"))
        return bleu.get((corpus, row["row"]))

    if metric == "bleu_nist":
        return Column("bleu", ours, nist_metric)
    return Column(metric, ours, lambda row: metric_name(metric, row["src"], row["tgt"]))


def tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict,
           sacrebleu: dict | None = None, repetition: dict | None = None) -> str:
    """The HRT markdown (natpipe.tables.render's entry point; HRT prints no brevity penalty)."""
    alpha = mean_alphas(summary)
    lines = ["# HRT tables: natpipe vs the paper", "",
             "Ours: test-set tokenized BLEU and alpha averaged over batch sizes (same run, same device). "
             "Paper: HRT's published numbers (`data/papers/hrt.csv`; its En-De/En-Ro test sets). "
             "Δ = ours − paper. A sample-corpus row is compared with the paper's number for the same "
             "language pair and system: a check of the machinery, not of the paper.", ""]
    for table, (title, metrics) in HRT_TABLES.items():
        entries = [(row, setting, shown_setting(table, row, setting)) for row in rows
                   if (setting := hrt_setting(table, row)) is not None]
        columns = [hrt_column(m, rows, bleu, alpha, sacrebleu) for m in metrics]
        lines += comparison_section(title, table, entries, columns, paper, HRT_NOTES.get(table))
    lines += table10(rows, summary, paper)
    return "\n".join(lines) + "\n"


def table10(rows: list[dict], summary: pd.DataFrame, paper: dict) -> list[str]:
    """Time (s) and alpha per batch size and device: ours (the mean, or median, of one run's passes,
    as speed.alpha_from says) and the paper's; the grid's batch sizes only, as Table 10."""
    summary = grid_only(summary)
    sizes = sorted(summary["batch_size"].unique())
    body = []
    for row in rows:
        setting = hrt_setting("table10", row)
        if setting is None:
            continue
        mine = summary[(summary["corpus"] == row["corpus"]) & (summary["system"] == row["row"])]
        if row["row"] == row.get("reference"):  # timed in every row's speed job: its own job's line only
            corpus = summary[summary["corpus"] == row["corpus"]]
            alone = corpus.groupby("run_id")["system"].nunique().loc[lambda n: n == 1].index
            mine = mine[mine["run_id"].isin(alone)] if len(alone) else mine
        for (run, device), part in mine.groupby(["run_id", "device"]):
            label = "gpu" if device == "cuda" else "cpu"
            cells = [row["corpus"], row["row"], row["paper_name"], setting or "default", device.upper()]
            measured = part.set_index("batch_size")
            for batch in sizes:
                theirs_t = paper.get(("table10", row["paper_name"], setting, f"time_{label}_b{batch}"))
                theirs_a = paper.get(("table10", row["paper_name"], setting, f"alpha_{label}_b{batch}"))
                ours = (f"{measured.loc[batch, 'time']:.2f} s, α {fmt(measured.loc[batch, 'alpha'])}"
                        if batch in measured.index else "N/A")
                cells.append(f"{ours} (paper {fmt(theirs_t)} s, α {fmt(theirs_a)})")
            body.append(markdown_row(cells))
    header = ["corpus", "row", "paper system", "setting", "device"] + [f"B={b}: ours (paper)" for b in sizes]
    return section("Table 10: decoding time and alpha per batch size", header, body)
