"""HRT's tables (Wang et al.) against data/papers/hrt.csv: Tables 2, 5, 6, 8, 9 and 10.

A row lands in every table whose setting it has: the paper system it reproduces (`paper_name`,
e.g. HRT12-1), for Table 9 its `ablation`, and from its resolved model the data (R/D/MD), k
(`chunk_size`) and the beams b_at (`generate.beam`) and b_nat (`generate.b_nat`). alpha is
averaged over the batch sizes timed, as the paper averages B = 1/8/16/32.
"""
from __future__ import annotations

import pandas as pd

from natpipe.tables import (DATA_LABELS, Column, comparison_section, fmt, markdown_row, mean_alphas, metric_name,
                            section)


def hrt_setting(table: str, row: dict) -> str | None:
    """The paper's `setting` key this row stands for in one HRT table (None: not in it)."""
    model = row["model"]
    if "upsample_ratio" in model:  # Fully-NAT models are no HRT paper system
        return None
    name, generate = row["paper_name"], model["generate"]
    # k and b_nat are HRT's own keys: None on the AT and CMLM rows, whose tables do not vary them.
    b_at, b_nat, k = generate["beam"], generate.get("b_nat"), model.get("chunk_size")
    if table == "table9":
        return row["ablation"] if name == "HRT" and row["ablation"] else None
    if row["ablation"] not in (None, "full"):  # ablations appear in Table 9 only; "full" is plain HRT
        return None
    standard = not name.startswith("HRT") or (k, b_at, b_nat) == (2, 5, 1)  # HRT as the paper runs it
    if table == "table2":
        return f"b_at={b_at};b_nat={b_nat}" if name == "HRT" and k == 2 else None
    if table == "table5":
        return f"k={k}" if name == "HRT" and (b_at, b_nat) == (5, 1) else None
    if table == "table6":
        return DATA_LABELS[model["data"]] if name in ("AT", "HRT") and standard else None
    if table == "table8":
        return (f"data={DATA_LABELS[model['data']]}"
                if name in ("AT-20L", "AT", "AT12-1", "HRT", "HRT12-1") and standard else None)
    if table == "table10":
        if standard:
            return ""
        if name == "HRT":
            return f"k={k}" if (b_at, b_nat) == (5, 1) else (f"b_at={b_at};b_nat={b_nat}" if k == 2 else None)
    return None


HRT_TABLES = {
    "table2": ("Table 2: beam sizes of HRT", ["bleu", "alpha_gpu_avg", "alpha_cpu_avg"]),
    "table5": ("Table 5: chunk size k", ["bleu_test", "alpha_gpu_avg", "alpha_cpu_avg"]),
    "table6": ("Table 6: data strategies (R raw, D distilled, MD MixDistill)", ["bleu"]),
    "table8": ("Table 8: deep encoder, shallow decoder", ["bleu", "alpha_gpu_avg", "alpha_cpu_avg"]),
    "table9": ("Table 9: ablations (delta against the full HRT)", ["bleu", "delta_bleu"]),
}


def hrt_column(metric: str, rows: list[dict], bleu: dict, alpha: dict) -> Column:
    def ours(row: dict):
        corpus = row["corpus"]
        if metric == "delta_bleu":
            full = next((bleu.get((corpus, r["row"])) for r in rows if r["corpus"] == corpus
                         and r["paper_name"] == "HRT" and r["ablation"] == "full"), None)
            return None if full is None or row["ablation"] == "full" else bleu.get((corpus, row["row"])) - full
        if metric.startswith("alpha"):
            return alpha.get((corpus, row["row"], "cuda" if "gpu" in metric else "cpu"))
        return bleu.get((corpus, row["row"]))

    return Column(metric, ours, lambda row: metric_name(metric, row["src"], row["tgt"]))


def tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict) -> str:
    """The HRT markdown (natpipe.tables.render's entry point; HRT prints no brevity penalty)."""
    alpha = mean_alphas(summary)
    lines = ["# HRT tables: natpipe vs the paper", "",
             "Ours: test-set tokenized BLEU and alpha averaged over batch sizes (same run, same device). "
             "Paper: HRT's published numbers (`data/papers/hrt.csv`; its En-De/En-Ro test sets). "
             "Δ = ours − paper. A sample-corpus row is compared with the paper's number for the same "
             "language pair and system: a check of the machinery, not of the paper.", ""]
    for table, (title, metrics) in HRT_TABLES.items():
        entries = [(row, setting, setting or "default") for row in rows
                   if (setting := hrt_setting(table, row)) is not None]
        lines += comparison_section(title, table, entries, [hrt_column(m, rows, bleu, alpha) for m in metrics], paper)
    lines += table10(rows, summary, paper)
    return "\n".join(lines) + "\n"


def table10(rows: list[dict], summary: pd.DataFrame, paper: dict) -> list[str]:
    """Time (s) and alpha per batch size and device: ours (medians of one run) and the paper's."""
    sizes = sorted(summary["batch_size"].unique())
    body = []
    for row in rows:
        setting = hrt_setting("table10", row)
        if setting is None:
            continue
        mine = summary[(summary["corpus"] == row["corpus"]) & (summary["system"] == row["row"])]
        for (run, device), part in mine.groupby(["run_id", "device"]):
            label = "gpu" if device == "cuda" else "cpu"
            cells = [row["corpus"], row["row"], row["paper_name"], setting or "default", device.upper()]
            measured = part.set_index("batch_size")
            for batch in sizes:
                theirs_t = paper.get(("table10", row["paper_name"], setting, f"time_{label}_b{batch}"))
                theirs_a = paper.get(("table10", row["paper_name"], setting, f"alpha_{label}_b{batch}"))
                ours = (f"{measured.loc[batch, 'median']:.2f} s, α {fmt(measured.loc[batch, 'alpha'])}"
                        if batch in measured.index else "N/A")
                cells.append(f"{ours} (paper {fmt(theirs_t)} s, α {fmt(theirs_a)})")
            body.append(markdown_row(cells))
    header = ["corpus", "row", "paper system", "setting", "device"] + [f"B={b}: ours (paper)" for b in sizes]
    return section("Table 10: decoding time and alpha per batch size", header, body)
