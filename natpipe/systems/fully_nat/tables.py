"""Fully NAT's tables (Gu & Kong 2021) against data/papers/fully_nat.csv: Tables 2 to 6.

An FNAT row (this package's kind, paper_name FNAT) is placed by its resolved model: the
techniques KD/AXE/CTC/VAE/RND/GLAT (`data`, `loss`, `vae`, `glancing`), its decoding (`generate`:
npd, ctc_beam, lm) and λ (`upsample_ratio`). AT and CMLM rows are placed by paper_name and data.
Speed-ups are alpha at one sentence per batch, as the paper measures them.
"""
from __future__ import annotations

import pandas as pd

from natpipe.systems.fully_nat.system import FullyNAT
from natpipe.tables import Column, batch_alphas, bleu_column, comparison_section, latencies, metric_name

# Table 4's technique columns, in the paper's order, and how an FNAT model switches each on.
FNAT_TECHNIQUES = (
    ("KD", lambda model: model["data"] == "distill"),
    ("AXE", lambda model: model["loss"] == "axe"),
    ("CTC", lambda model: model["loss"] == "ctc"),
    ("VAE", lambda model: bool(model["vae"])),
    ("RND", lambda model: model["glancing"] == "rnd"),
    ("GLAT", lambda model: model["glancing"] == "glat"),
)
FNAT_TABLE2 = ("CE", "KD", "KD+CTC", "KD+CTC+VAE", "KD+CTC+GLAT")  # Table 2's "Ours" rows (CE: empty setting)
# λ of every FNAT model outside Table 6 (appendix B): the config's default, so the two cannot drift.
FNAT_DEFAULT_RATIO = float(FullyNAT.settings["upsample_ratio"]["default"])


def is_fnat(row: dict) -> bool:
    """A Fully-NAT row of the paper's own model (other fnat rows stand for no FNAT system)."""
    return row["model"]["kind"] == FullyNAT.kind and row["paper_name"] == "FNAT"


def fnat_setting(row: dict) -> str:
    """The FNAT row's Table 4 technique string: KD, AXE, CTC, VAE, RND, GLAT joined by "+" ("CE": none)."""
    return "+".join(name for name, applies in FNAT_TECHNIQUES if applies(row["model"])) or "CE"


def fnat_decoding(row: dict) -> str:
    """The FNAT row's decoding as Table 3 writes it after `decode=` ("" for greedy): npd{m}, beam{B}, lm{order}."""
    generate = row["model"]["generate"]
    parts = []
    if int(generate["npd"]) > 1:
        parts.append(f"npd{int(generate['npd'])}")
    if int(generate["ctc_beam"]) > 1:
        parts.append(f"beam{int(generate['ctc_beam'])}")
    if generate["lm"]:
        parts.append(f"lm{row['lm_order']}")
    return "+".join(parts)


def ratio_label(ratio: float) -> str:
    """Table 6's lambda as the CSV writes it: one decimal at least (2 -> "2.0", 2.25 -> "2.25")."""
    ratio = float(ratio)
    return f"{ratio:.1f}" if round(ratio, 1) == ratio else f"{ratio:g}"


WMT = {("en", "de"), ("de", "en"), ("en", "ro"), ("ro", "en")}
# The language pairs (src, tgt) each table reports; a row of another pair stays out. Table 3 (JA->EN) takes
# every pair: the embedded En->De sample can exercise it only so, its BLEU column printing the paper's number
# as a reference (see FNAT_NOTES).
FNAT_PAIRS = {"table2": WMT, "table3": None, "table4": {("en", "de")}, "table5": {("en", "de")},
              "table6": {("en", "de")}}


def fully_nat_setting(table: str, row: dict) -> str | None:
    """The paper's `setting` key this row stands for in one Fully-NAT table (None: not in it)."""
    model = row["model"]
    pairs = FNAT_PAIRS[table]
    if pairs is not None and (row["src"], row["tgt"]) not in pairs:
        return None
    name, data = row["paper_name"], model["data"]
    if is_fnat(row):
        technique, decoding = fnat_setting(row), fnat_decoding(row)
        default_ratio = model["loss"] != "ctc" or float(model["upsample_ratio"]) == FNAT_DEFAULT_RATIO
        if table == "table3":
            if not default_ratio:
                return None
            if technique == "KD+CTC+VAE":
                return technique + (f";decode={decoding}" if decoding else "")
            return technique if technique == "KD+CTC" and not decoding else None
        if decoding:  # Tables 2, 4, 5 and 6 decode greedily
            return None
        if table == "table6":
            return f"lambda={ratio_label(model['upsample_ratio'])}" if technique == "KD+CTC" else None
        if not default_ratio:
            return None
        if table == "table2":
            return ("" if technique == "CE" else technique) if technique in FNAT_TABLE2 else None
        if table == "table4":
            return technique
        if table == "table5":
            return {"CTC+VAE": "data=R", "KD+CTC+VAE": "data=KD-base"}.get(technique)
        return None
    if model["kind"] == FullyNAT.kind:
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
              "only (ours: tokenized BLEU of this corpus, no Δ); the SacreBLEU columns compare ours with it, Δ "
              "included, on a JA→EN corpus (wmt20_ja_en; other pairs have no paper number there). ΔBLEU: gain "
              "(tokenized BLEU) over the greedy KD+CTC row of the "
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


def fully_nat_columns(table: str, rows: list[dict], bleu: dict, summary: pd.DataFrame, bp: dict,
                      sacrebleu: dict | None = None) -> list[Column]:
    alpha, latency, sacrebleu = batch_alphas(summary, 1), latencies(summary), sacrebleu or {}

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
            Column("SacreBLEU", lambda row: sacrebleu.get((row["corpus"], row["row"])),
                   lambda row: metric_name("sacrebleu", row["src"], row["tgt"])),
            Column("ΔBLEU vs KD+CTC", gain, fixed("delta_bleu")),
            Column("BP", lambda row: bp.get((row["corpus"], row["row"])), fixed("bp"), digits=3),
            Column("L1 CPU ms", ms("cpu", "b1"), fixed("latency_cpu_b1_ms"), delta=False, missing="N/A"),
            Column("speed-up CPU", speedup("cpu"), fixed("speedup_cpu_b1"), missing="N/A"),
            Column("L1 GPU ms", ms("cuda", "b1"), fixed("latency_gpu_b1_ms"), delta=False, missing="N/A"),
            Column("speed-up GPU", speedup("cuda"), fixed("speedup_gpu_b1"), missing="N/A")]


def tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict,
           sacrebleu: dict | None = None, repetition: dict | None = None) -> str:
    """The Fully-NAT markdown (natpipe.tables.render's entry point)."""
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
        lines += comparison_section(title, table, entries, fully_nat_columns(table, rows, bleu, summary, bp, sacrebleu),
                                    paper, FNAT_NOTES[table])
    return "\n".join(lines) + "\n"
