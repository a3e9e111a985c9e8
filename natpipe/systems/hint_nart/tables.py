"""Hint-based NART's tables ([HINT], Li et al. 2019) against data/papers/hint_nart.csv: Table 1
(BLEU, latency and speed-up) and Table 2 (the IWSLT14 De-En ablation, with §3.3's repetition rates).

Rows are placed by paper_name and their resolved model. AT: the teacher, kind at on raw data.
HINT: this package's kind; Table 1 by its decoding (`generate.halfwidth`: 0 is "NART w/ hints", 4
"B = 4, 9 candidates"; another B is shown without a paper number) when both hints are on; Table 2
by which hint weights are non-zero (hint_lambda: L_hid, hint_mu: L_align), single length only.

Columns: a row's benchmark (WMT14 En-De / De-En, IWSLT14 De-En) is decided by its corpus
(natpipe.tables.benchmark_of); the sample En-De is compared with WMT14 En-De, a check of the
machinery, not of the paper. Speed-up: alpha at one sentence per batch against the corpus's speed
reference, latency: ms per sentence at batch 1, both on the GPU when the run timed one, else on
the CPU (the paper's are on its own GPU platform: no Δ). Table 2's long-sentence BLEU (sources of
40 tokens or more) is the paper's only: natpipe scores whole test sets.
"""
from __future__ import annotations

import pandas as pd

from natpipe.systems.hint_nart.system import HintNART
from natpipe.tables import Column, batch_alphas, benchmark_of, latencies, paper_sections

BENCHMARKS = {"wmt14_en_de": ("en", "de"), "wmt14_de_en": ("de", "en"), "iwslt14_de_en": ("de", "en")}
TABLE2_BENCHMARK = "iwslt14_de_en"
PAPER_B = 4  # Table 1's halfwidth (9 candidates)
HINT_TERMS = (("align", "hint_mu"), ("hid", "hint_lambda"))  # Table 2's order: L_nll, + L_align, + L_hid


def benchmark(row: dict) -> str | None:
    return benchmark_of(row, BENCHMARKS)


def terms(model: dict) -> str:
    """The loss terms a hint-NART model trains with: nll, nll+align, nll+hid, nll+align+hid."""
    return "+".join(["nll"] + [name for name, key in HINT_TERMS if model[key] > 0])


def hint_setting(table: str, row: dict) -> str | None:
    """The paper's setting key this row stands for in one table (None: not in it)."""
    model, name = row["model"], row["paper_name"]
    place = benchmark(row)
    if place is None or (table == "table2" and place != TABLE2_BENCHMARK):
        return None
    if name == "AT":
        return "" if table == "table1" and model["kind"] == "at" and model["data"] == "raw" else None
    if name != "HINT" or model["kind"] != HintNART.kind:
        return None
    halfwidth = model["generate"]["halfwidth"]
    if table == "table1":
        if terms(model) != "nll+align+hid":
            return None
        return "" if halfwidth == 0 else f"B={halfwidth}"
    return terms(model) if halfwidth == 0 else None


PRINTED = {("table1", "AT", ""): "Transformer (teacher)", ("table1", "HINT", ""): "NART w/ hints",
           ("table1", "HINT", f"B={PAPER_B}"): f"NART w/ hints (B = {PAPER_B}, {2 * PAPER_B + 1} candidates)",
           ("table2", "HINT", "nll"): "L_nll", ("table2", "HINT", "nll+align"): "L_nll + L_align",
           ("table2", "HINT", "nll+align+hid"): "L_nll + L_align + L_hid"}


def shown(table: str, row: dict, setting: str, alpha: dict) -> str:
    """The paper's name of the row, then what the cells do not say: the benchmark it is compared
    with (when its corpus is another) and, in Table 1, the device its speed was timed on."""
    printed = PRINTED.get((table, row["paper_name"], setting), setting or "default")
    extra = [f"vs {benchmark(row)}"] if benchmark(row) != row["corpus"] else []
    if table == "table1" and (row["corpus"], row["row"], timed_device(alpha, row)) in alpha:
        extra.append(timed_device(alpha, row))
    return printed + (f" [{', '.join(extra)}]" if extra else "")


def timed_device(alpha: dict, row: dict) -> str:
    """The device a row's speed is read from: the GPU when the run timed it there, else the CPU."""
    return "cuda" if (row["corpus"], row["row"], "cuda") in alpha else "cpu"


def hint_columns(table: str, bleu: dict, summary: pd.DataFrame, repetition: dict) -> list[Column]:
    alpha, latency = batch_alphas(summary, 1), latencies(summary)

    def device(row: dict) -> str:
        return timed_device(alpha, row)

    def speedup(row: dict):
        return alpha.get((row["corpus"], row["row"], device(row)))

    def ms(row: dict):
        return (latency.get((row["corpus"], row["row"], device(row))) or {}).get("b1")

    bleu_col = Column("BLEU", lambda row: bleu.get((row["corpus"], row["row"])), lambda row: f"bleu_{benchmark(row)}")
    if table == "table1":
        return [bleu_col, Column("latency B=1 (ms)", ms, lambda row: "latency_ms", delta=False, digits=1),
                Column("speed-up", speedup, lambda row: "speedup", delta=False, digits=1)]
    return [bleu_col, Column("long-sentence BLEU", lambda row: None, lambda row: f"bleu_long_{benchmark(row)}",
                             delta=False, missing="not scored"),
            Column("repetition %", lambda row: repetition.get((row["corpus"], row["row"])),
                   lambda row: f"repetition_{benchmark(row)}")]


TITLES = {"table1": "Table 1: BLEU, latency and speed-up", "table2": "Table 2: hints ablation (IWSLT14 De→En)"}
NOTES = {
    "table1": "Rows trained with both hints. Latency: ms per sentence at batch 1; speed-up: α at batch 1 against "
              "the corpus's speed reference, same run and device (the GPU when timed, else the CPU). The paper's "
              "latencies are its own platform's (784 ms for its Transformer): compare speed-ups, not times.",
    "table2": "Single-length decoding (no rescoring), rows by the non-zero hint weights. Repetition: % of output "
              "tokens equal to the token before them (summary.csv); the paper's 8.3% → 6.5% are from its text "
              "(§3.3), without and with hints. Long-sentence BLEU: the paper's only.",
}


def tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict,
           sacrebleu: dict | None = None, repetition: dict | None = None) -> str:
    """The hint-NART markdown (natpipe.tables.render's entry point)."""
    lines = ["# Hint-based NART tables: natpipe vs the paper", "",
             "Ours: test-set tokenized BLEU (summary.csv) and speed (the speed CSVs of the same run). Paper: Li et al. "
             "(2019), hint-based training for NART (`data/papers/hint_nart.csv`). Δ = ours − paper.", ""]
    alpha = batch_alphas(summary, 1)
    lines += paper_sections(TITLES, NOTES, rows, hint_setting, lambda table, row, key: shown(table, row, key, alpha),
                            lambda table: hint_columns(table, bleu, summary, repetition or {}), paper)
    return "\n".join(lines) + "\n"
