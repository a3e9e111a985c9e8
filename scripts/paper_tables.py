"""The papers' tables rebuilt from natpipe's results, the published numbers beside ours, and Δ.

Published numbers live in data/papers/<paper>.csv (table, system, setting, metric, value); the
CSV's stem picks the paper (`hrt`: HRT, `fully_nat`: Gu & Kong 2021). Our rows say which paper
system they reproduce (`paper_name`, e.g. HRT12-1, FNAT) and, for HRT's Table 9, which ablation
(`ablation`); the other settings a table varies (data R/D/MD, k, b_at, b_nat; for Fully-NAT the
techniques KD/AXE/CTC/VAE/RND/GLAT, the decoding and the upsampling ratio) are read from the
row's own config, so a row lands in every table it belongs to. Our BLEU is the test-set
tokenized BLEU of summary.csv (its `bp` column: the brevity penalty); alpha, speed-ups and
latencies come from the speed CSV of the same run and device (the HRT paper averages alpha over
B = 1/8/16/32 too). Δ = ours − paper.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from common import PipelineError, atomic_output, run_main
from summarize import DATA_LABELS


def paper_numbers(path: str) -> dict:
    table = pd.read_csv(path, dtype={"setting": str}, keep_default_na=False)
    return {(r.table, r.system, r.setting, r.metric): float(r.value) for r in table.itertuples()}


def speed_summaries(speed_csvs: list[str], reference: dict) -> pd.DataFrame:
    """Median time and alpha per (corpus, run, device, system, batch), by the speed harness's own
    arithmetic (alpha only within one run and device)."""
    from speed import summarize

    parts = []
    for path in speed_csvs:
        table = pd.read_csv(path)
        for corpus, part in table.groupby("corpus"):
            parts.append(summarize(part, reference[corpus]).assign(corpus=corpus))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(
        columns=["corpus", "run_id", "device", "system", "batch_size", "median", "alpha", "n_sentences"])


def mean_alphas(summary: pd.DataFrame) -> dict:
    """(corpus, row, device) -> alpha averaged over batch sizes (the papers' "Avg" column)."""
    grouped = summary.groupby(["corpus", "system", "device"])["alpha"].mean()
    return {key: float(value) for key, value in grouped.items()}


def batch_alphas(summary: pd.DataFrame, batch: int = 1) -> dict:
    """(corpus, row, device) -> alpha at one batch size (Fully-NAT's speed-up at one sentence per batch)."""
    grouped = summary[summary["batch_size"] == batch].groupby(["corpus", "system", "device"])["alpha"].mean()
    return {key: float(value) for key, value in grouped.items()}


def latencies(summary: pd.DataFrame) -> dict:
    """(corpus, row, device) -> {"b1": ms per sentence at batch 1 (None: batch 1 not timed),
    "max": ms per sentence at the largest batch that ran, "max_batch": that batch}, by the speed
    harness's own L1/Lmax arithmetic: a timed pass translates all n_sentences of the set, so
    latency = median seconds of the pass / n_sentences x 1000."""
    from speed import latency_throughput

    out = {}
    for corpus, part in summary.groupby("corpus"):
        for r in latency_throughput(part).itertuples():
            out[(corpus, r.system, r.device)] = {"b1": None if pd.isna(r.L1_ms) else float(r.L1_ms),
                                                 "max": 1000.0 / float(r.Lmax_sent_per_s),
                                                 "max_batch": int(r.Lmax_batch)}
    return out


# Shared table machinery -----------------------------------------------------------------------


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


def metric_name(metric: str, src: str, tgt: str) -> str:
    return {"bleu": f"bleu_{src}_{tgt}", "bleu_test": f"bleu_test_{src}_{tgt}"}.get(metric, metric)


def bleu_column(bleu: dict, label: str = "bleu") -> Column:
    return Column(label, lambda row: bleu.get((row["corpus"], row["row"])),
                  lambda row: metric_name("bleu", row["src"], row["tgt"]))


# HRT ----------------------------------------------------------------------------------------------


def hrt_setting(table: str, row: dict) -> str | None:
    """The paper's `setting` key this row stands for in one HRT table (None: not in it)."""
    if row.get("kind") == "fnat":  # Fully-NAT models are no HRT paper system
        return None
    name, generate = row["paper_name"], row["generate"]
    b_at, b_nat, k = generate.get("beam", 5), generate.get("b_nat", 1), row.get("chunk_size", 2)
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
        return DATA_LABELS[row["data"]] if name in ("AT", "HRT") and standard else None
    if table == "table8":
        return f"data={DATA_LABELS[row['data']]}" if name in ("AT-20L", "AT", "AT12-1", "HRT", "HRT12-1") and standard else None
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


def hrt_tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame) -> str:
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


# Fully NAT (Gu & Kong 2021) -----------------------------------------------------------------------

# Table 4's technique columns, in the paper's order, and how a row's config switches each on.
FNAT_TECHNIQUES = (
    ("KD", lambda row: row.get("data") == "distill"),
    ("AXE", lambda row: row.get("loss") == "axe"),
    ("CTC", lambda row: row.get("loss") == "ctc"),
    ("VAE", lambda row: bool(row.get("vae"))),
    ("RND", lambda row: row.get("glancing") == "rnd"),
    ("GLAT", lambda row: row.get("glancing") == "glat"),
)
FNAT_TABLE2 = ("CE", "KD", "KD+CTC", "KD+CTC+VAE", "KD+CTC+GLAT")  # Table 2's "Ours" rows (CE: empty setting)
FNAT_DEFAULT_RATIO = 3.0  # lambda of every FNAT model outside Table 6 (appendix B)


def is_fnat(row: dict) -> bool:
    """A Fully-NAT row of the paper's own model (other fnat rows stand for no FNAT system)."""
    return row.get("kind") == "fnat" and row["paper_name"] == "FNAT"


def fnat_setting(row: dict) -> str:
    """The row's Table 4 technique string: KD, AXE, CTC, VAE, RND, GLAT joined by "+" ("CE": none)."""
    return "+".join(name for name, applies in FNAT_TECHNIQUES if applies(row)) or "CE"


def fnat_decoding(row: dict) -> str:
    """The row's decoding as Table 3 writes it after `decode=` ("" for greedy): npd{m}, beam{B}, lm{order}."""
    generate = row.get("generate") or {}
    parts = []
    if int(generate.get("npd", 1)) > 1:
        parts.append(f"npd{int(generate['npd'])}")
    if int(generate.get("ctc_beam", 1)) > 1:
        parts.append(f"beam{int(generate['ctc_beam'])}")
    if generate.get("lm"):
        parts.append(f"lm{row['lm_order']}")
    return "+".join(parts)


def ratio_label(ratio: float) -> str:
    """Table 6's lambda as the CSV writes it: one decimal at least (2 -> "2.0", 2.25 -> "2.25")."""
    ratio = float(ratio)
    return f"{ratio:.1f}" if round(ratio, 1) == ratio else f"{ratio:g}"


def fully_nat_setting(table: str, row: dict) -> str | None:
    """The paper's `setting` key this row stands for in one Fully-NAT table (None: not in it)."""
    name, data = row["paper_name"], row.get("data", "raw")
    if is_fnat(row):
        technique, decoding = fnat_setting(row), fnat_decoding(row)
        default_ratio = row.get("loss") != "ctc" or float(row.get("upsample_ratio", FNAT_DEFAULT_RATIO)) == FNAT_DEFAULT_RATIO
        if table == "table3":
            if not default_ratio:
                return None
            if technique == "KD+CTC+VAE":
                return technique + (f";decode={decoding}" if decoding else "")
            return technique if technique == "KD+CTC" and not decoding else None
        if decoding:  # Tables 2, 4, 5 and 6 decode greedily
            return None
        if table == "table6":
            return f"lambda={ratio_label(row.get('upsample_ratio', FNAT_DEFAULT_RATIO))}" if technique == "KD+CTC" else None
        if not default_ratio:
            return None
        if table == "table2":
            return ("" if technique == "CE" else technique) if technique in FNAT_TABLE2 else None
        if table == "table4":
            return technique
        if table == "table5":
            return {"CTC+VAE": "data=R", "KD+CTC+VAE": "data=KD-base"}.get(technique)
        return None
    if row.get("kind") == "fnat":
        return None
    if table in ("table2", "table3"):
        if name == "AT12-1":
            return {"raw": "", "distill": "data=KD"}.get(data)
        if (name == "AT" or (table == "table3" and name == "AT-big")) and data == "raw":
            return ""
        return "" if table == "table2" and name == "CMLM10" else None
    if table == "table5":
        if name == "AT12-1":
            return {"raw": "data=R", "distill": "data=KD-base"}.get(data)
        return {"AT": "size=base", "AT-big": "size=big"}.get(name) if data == "raw" else None
    return None


FNAT_NOTES = {
    "table2": "Speed-up: ours α = T(reference) / T(row) at batch 1, same run and device, on the GPU (when "
              "measured) and on the CPU; the paper's speed-up is a GPU number at one sentence per batch "
              "(relative to Transformer base), so Δ compares GPU with GPU. CE: the paper's plain fully NAT row.",
    "table3": "The paper's Table 3 is WMT20 JA→EN scored with SacreBLEU: its BLEU is printed as a reference "
              "only (ours: tokenized BLEU of this corpus, no Δ). ΔBLEU: gain over the greedy KD+CTC row of the "
              "same corpus (the paper's \"(+x.xx)\"). BP: brevity penalty of our tokenized BLEU. L1: ms per "
              "sentence at batch 1; speed-up: α at batch 1 against our speed reference (the paper's: against "
              "its AT-big teacher). N/A: not measured.",
    "table4": "Greedy decoding, techniques read from each row's config. The paper's AXE and RND/GLAT rows have "
              "reconstructed check marks (`uncertain` in data/papers/fully_nat.csv, see its README).",
    "table5": "FNAT rows are CTC+VAE. data=R: raw targets; data=KD-base: our distilled data (from the corpus's "
              "teacher, whatever its size). Speed-up as in Table 2.",
    "table6": "Greedy KD+CTC rows by upsampling ratio λ; latencies in ms per sentence. GPU max: ours at the "
              "largest batch measured on the GPU (the paper: as many sentences as fit). N/A: not measured.",
}
FNAT_TITLES = {
    "table2": "Table 2: fully NAT against AT and iterative NAT",
    "table3": "Table 3: decoding variants (BLEU, BP, latency)",
    "table4": "Table 4: techniques (KD, AXE, CTC, VAE, RND, GLAT)",
    "table5": "Table 5: distillation and model size",
    "table6": "Table 6: CTC upsampling ratio λ",
}


def fully_nat_columns(table: str, rows: list[dict], bleu: dict, summary: pd.DataFrame, bp: dict) -> list[Column]:
    alpha, latency = batch_alphas(summary, 1), latencies(summary)

    def speedup(device: str):
        return lambda row: alpha.get((row["corpus"], row["row"], device))

    def ms(device: str, which: str):
        return lambda row: (latency.get((row["corpus"], row["row"], device)) or {}).get(which)

    def fixed(metric: str):
        return lambda row: metric

    speedups = [Column("speedup GPU B=1", speedup("cuda"), fixed("speedup"), missing="N/A"),
                Column("speedup CPU B=1", speedup("cpu"), missing="N/A")]
    if table == "table2" or table == "table5":
        return [bleu_column(bleu), *speedups]
    if table == "table4":
        return [bleu_column(bleu)]
    if table == "table6":
        return [bleu_column(bleu),
                *(Column(metric, ms(device, which), fixed(metric), delta=False, missing="N/A")
                  for metric, device, which in (("latency_cpu_b1_ms", "cpu", "b1"), ("latency_gpu_b1_ms", "cuda", "b1"),
                                                ("latency_gpu_max_ms", "cuda", "max")))]
    base = {row["corpus"]: bleu.get((row["corpus"], row["row"])) for row in reversed(rows)
            if fully_nat_setting("table3", row) == "KD+CTC"}  # first KD+CTC row per corpus

    def gain(row: dict):
        ours, reference = bleu.get((row["corpus"], row["row"])), base.get(row["corpus"])
        return None if not is_fnat(row) or ours is None or reference is None else ours - reference

    return [Column("BLEU", lambda row: bleu.get((row["corpus"], row["row"])), fixed("sacrebleu_ja_en"), delta=False,
                   paper_label="BLEU paper (JA→EN SacreBLEU, reference only)"),
            Column("ΔBLEU vs KD+CTC", gain, fixed("delta_bleu")),
            Column("BP", lambda row: bp.get((row["corpus"], row["row"])), fixed("bp"), digits=3),
            Column("L1 CPU ms", ms("cpu", "b1"), fixed("latency_cpu_b1_ms"), delta=False, missing="N/A"),
            Column("speed-up CPU", speedup("cpu"), fixed("speedup_cpu_b1"), missing="N/A"),
            Column("L1 GPU ms", ms("cuda", "b1"), fixed("latency_gpu_b1_ms"), delta=False, missing="N/A"),
            Column("speed-up GPU", speedup("cuda"), fixed("speedup_gpu_b1"), missing="N/A")]


def fully_nat_tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict) -> str:
    lines = ["# Fully-NAT tables: natpipe vs the paper", "",
             "Ours: test-set tokenized BLEU; speed-up α = T(reference) / T(row) at batch 1 and latency "
             "(median time of a timed pass / sentences timed, ms per sentence) from the speed CSV of the same "
             "run and device. Paper: Gu & Kong (2021), \"Fully Non-autoregressive Neural Machine Translation: "
             "Tricks of the Trade\" (`data/papers/fully_nat.csv`; WMT14 En-De, WMT16 En-Ro; Table 3 WMT20 Ja-En). "
             "Δ = ours − paper. FNAT rows: kind fnat with paper_name FNAT, setting = the techniques of the "
             "row's config (KD, AXE, CTC, VAE, RND, GLAT) and its decoding. A sample-corpus row is compared "
             "with the paper's number for the same language pair and system: a check of the machinery, not "
             "of the paper.", ""]
    for table, title in FNAT_TITLES.items():
        entries = []
        for row in rows:
            setting = fully_nat_setting(table, row)
            if setting is not None:
                entries.append((row, setting, setting or ("CE" if is_fnat(row) else "default")))
        lines += comparison_section(title, table, entries, fully_nat_columns(table, rows, bleu, summary, bp), paper,
                                    FNAT_NOTES[table])
    return "\n".join(lines) + "\n"


PAPERS = ("hrt", "fully_nat")  # data/papers/<paper>.csv stems with tables here


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--paper", required=True, help="data/papers/<paper>.csv (hrt or fully_nat)")
    parser.add_argument("--rows", required=True, help="JSON list of our rows with their paper labels and settings")
    parser.add_argument("--summary", required=True, help="results/tables/summary.csv")
    parser.add_argument("--speed", nargs="*", default=[], help="results/<corpus>/speed.csv")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    name = Path(args.paper).stem
    if name not in PAPERS:
        raise PipelineError(f"--paper {args.paper}: no tables for paper '{name}' (known: {', '.join(PAPERS)})")
    rows = json.loads(args.rows)
    table = pd.read_csv(args.summary)
    bleu = {(r.corpus, r.system): float(r.bleu_tok) for r in table.itertuples()}
    bp = ({(r.corpus, r.system): float(r.bp) for r in table.itertuples() if not pd.isna(r.bp)}
          if "bp" in table.columns else {})
    reference = {row["corpus"]: row["reference"] for row in rows}
    summary = speed_summaries(args.speed, reference)
    paper = paper_numbers(args.paper)
    with atomic_output(args.out) as handle:
        if name == "hrt":
            handle.write(hrt_tables(rows, bleu, paper, summary))
        else:
            handle.write(fully_nat_tables(rows, bleu, paper, summary, bp))
    print(f"paper_tables: {name}: {len(rows)} labelled rows -> {args.out}")


if __name__ == "__main__":
    run_main(main)
