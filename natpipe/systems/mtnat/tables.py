"""MT-NAT's tables ([MTNAT], multi-task NAT with weak AR decoders) against data/papers/mtnat.csv:
Tables 1, 2, 3, 5, 6 and Figure 2 (as a table).

Rows are placed by paper_name and their resolved model. AT (the paper's "Transformer (ours)"): kind
at, raw data. CTC / Vanilla-NAR: the baselines trained with MT-NAT's hyper-parameters, kind fnat with
loss ctc / ce, no glancing, no latents, greedy. MTNAT: this package's kind with paper_name MTNAT; its
cell follows its keys: `loss` (ctc -> "CTC+Our method", ce -> "Vanilla-NAR + Our method"), `glancing`
(glat -> "& Glancing Training"), `generate.ctc_beam` 20 (Table 1's "beam search=20"), `ar_attach`
encoder with 6 `ar_layers` (Table 1's CTC+MTL, Hao et al. 2021 reproduced), `ar_layers` (Figure 2),
`ar_share` / `ar_layer_dropout` (Table 3), `data` (raw: Table 6; distill: the others). Table 1's
copied baselines (Vanilla-NAT, CMLM1, CMLM10, CTC-Saharia, AXE, GLAT-Qian, GLAT+CTC) take rows of
that paper_name. Defaults (1 AR layer, attachment, ...) are read from MultiTaskNAT, never restated.

Columns: a row's column is a benchmark of the paper (WMT14 En-De / De-En, WMT16 En-Ro / Ro-En,
IWSLT14 De-En), decided by its corpus: the corpus of that name, else a corpus whose name starts
with "iwslt" takes the IWSLT14 column of its language pair and any other corpus the WMT column of
its pair (the sample En-De is compared with WMT14 En-De: a check of the machinery, not of the paper).
WMT14 De-En and IWSLT14 De-En share a language pair, so the pair alone cannot decide.

Table 3's training time and #params are the paper's only: the results the tables job reads
(summary.csv, the speed CSVs) carry neither. scripts/train.py writes `wall_seconds` to
train.done.json, but of the last (possibly resumed) job only, and no parameter count; fairseq prints
"num. shared model params" into the training log of the model's save directory, which the
paper_table rule does not read. Ours would need both recorded per model (e.g. the count from the
log and the checkpoint's cumulative `previous_training_time`) and those files passed to the rule.
Figure 2 has no paper numbers (the text extraction has no bar values): ours only.
"""
from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from natpipe.systems.fully_nat.system import FullyNAT
from natpipe.systems.fully_nat.tables import fnat_decoding
from natpipe.systems.mtnat.system import MultiTaskNAT
from natpipe.tables import Column, benchmark_of, fmt, paper_sections

# The paper's benchmarks (its columns) and their language pairs.
BENCHMARKS = {"wmt14_en_de": ("en", "de"), "wmt14_de_en": ("de", "en"), "wmt16_en_ro": ("en", "ro"),
              "wmt16_ro_en": ("ro", "en"), "iwslt14_de_en": ("de", "en")}
# The benchmarks each table reports (Table 3 and Figure 2: IWSLT14 De-En, Table 3's inferred from its
# numbers, see data/papers/README.md); a row of another benchmark stays out.
MTNAT_BENCHMARKS = {"table1": set(BENCHMARKS), "table2": set(BENCHMARKS), "table3": {"iwslt14_de_en"},
                    "table5": {"wmt14_en_de", "iwslt14_de_en"},
                    "table6": {"wmt14_en_de", "wmt14_de_en", "iwslt14_de_en"}, "figure2": {"iwslt14_de_en"}}
# Table 1's baselines copied from other works that natpipe can train, placed by paper_name (KD data).
BASELINES = {"Vanilla-NAT": "Vanilla-NAR (Gu et al., 2018)", "CMLM1": "CMLM1 (Ghazvininejad et al., 2019)",
             "CTC-Saharia": "CTC (Saharia et al., 2020)", "AXE": "AXE (Ghazvininejad et al., 2020)",
             "GLAT-Qian": "GLAT (Qian et al., 2021)", "GLAT+CTC": "GLAT+CTC (Qian et al., 2021)",
             "CMLM10": "CMLM10 (Ghazvininejad et al., 2019)"}
NAR_BASES = {"ctc": "CTC", "ce": "Vanilla-NAR"}  # loss -> the NAR baseline the paper applies its method to
MTL_LAYERS = 6  # Hao et al. 2021's AR decoder on the encoder: a standard 6-layer decoder (Table 1's CTC+MTL)
BEAM = 20  # Table 1's "beam search=20"


def benchmark(row: dict) -> str | None:
    """The paper's column for this row's corpus (see the module docstring); None: no column."""
    return benchmark_of(row, BENCHMARKS)


def is_mtnat(row: dict) -> bool:
    return row["model"]["kind"] == MultiTaskNAT.kind and row["paper_name"] == "MTNAT"


def ar_variant(model: dict) -> str:
    """Table 3's training-cost setting: "", share, layer_dropout or share+layer_dropout."""
    return "+".join(name for name, key in (("share", "ar_share"), ("layer_dropout", "ar_layer_dropout"))
                    if model[key])


def _default(model: dict, key: str) -> bool:
    return model[key] == MultiTaskNAT.default(key)


def mtnat_setting(table: str, row: dict) -> str | None:
    """The paper's `setting` key this row stands for in one MT-NAT table (None: not in it)."""
    if benchmark(row) not in MTNAT_BENCHMARKS.get(table, ()):
        return None
    model, name = row["model"], row["paper_name"]
    kd = model["data"] == ("raw" if table == "table6" else "distill")
    if name == "AT":
        return "" if model["kind"] == "at" and model["data"] == "raw" and table in ("table1", "table5", "table6") \
            else None
    if name in BASELINES:
        return "" if table == "table1" and model["data"] == "distill" else None
    if model["kind"] not in (FullyNAT.kind, MultiTaskNAT.kind) or model["vae"] or model["generate"]["npd"] > 1:
        return None
    base, decoding, glancing = NAR_BASES.get(model["loss"]), fnat_decoding(row), model["glancing"]
    if name in NAR_BASES.values():  # the baselines trained with MT-NAT's hyper-parameters
        wanted = {"CTC": ("table1", "table2", "table3", "table5", "table6", "figure2"),
                  "Vanilla-NAR": ("table2", "table5", "table6")}[name]
        plain = model["kind"] == FullyNAT.kind and base == name and glancing == "none" and not decoding
        return "" if plain and kd and table in wanted else None
    if not is_mtnat(row) or not kd or base is None or glancing == "rnd":
        return None
    layers, variant = model["ar_layers"], ar_variant(model)
    glat = glancing == "glat"
    if model["ar_attach"] == "encoder":  # Hao et al. 2021's MTL, Table 1 only
        mtl = table == "table1" and base == "CTC" and layers == MTL_LAYERS and not (glat or decoding or variant)
        return "CTC+MTL" if mtl else None
    if table == "figure2":
        return f"layers={layers}" if base == "CTC" and not (decoding or variant) else None
    if not _default(model, "ar_layers"):
        return None
    if decoding:
        beam = table == "table1" and base == "CTC" and model["generate"]["ctc_beam"] == BEAM and not variant
        return "decode=beam20" if beam else None
    if table == "table3":
        return variant if base == "CTC" else None
    if variant:
        return None
    if table == "table1":
        return ("CTC+GLAT" if glat else "CTC") if base == "CTC" else None
    if table in ("table2", "table5"):
        return base if not glat else None
    if table == "table6":
        return "CTC+GLAT" if base == "CTC" and glat else None
    return None


# How the paper prints each row (the CSV's keys are natpipe's).
PAPER_ROWS = {
    ("table1", "AT", ""): "Transformer (ours)", ("table1", "CTC", ""): "CTC (ours)",
    ("table1", "MTNAT", "CTC+MTL"): "CTC+MTL (ours)", ("table1", "MTNAT", "CTC"): "CTC+Our method",
    ("table1", "MTNAT", "CTC+GLAT"): "CTC+Our method & Glancing Training",
    ("table1", "MTNAT", "decode=beam20"): "beam search=20",
    **{("table1", name, ""): printed for name, printed in BASELINES.items()},
    ("table2", "Vanilla-NAR", ""): "Vanilla-NAR", ("table2", "MTNAT", "Vanilla-NAR"): "Vanilla-NAR + Our method",
    ("table2", "CTC", ""): "CTC", ("table2", "MTNAT", "CTC"): "CTC + Our method",
    ("table3", "MTNAT", ""): "Ours", ("table3", "MTNAT", "share"): "Ours, param. sharing",
    ("table3", "MTNAT", "layer_dropout"): "Ours, layer dropout",
    ("table3", "MTNAT", "share+layer_dropout"): "Ours, param. sharing + layer dropout",
    ("table3", "CTC", ""): "CTC (Saharia et al., 2020)",
    ("table5", "AT", ""): "Transformer", ("table5", "Vanilla-NAR", ""): "Vanilla-NAR",
    ("table5", "MTNAT", "Vanilla-NAR"): "Vanilla-NAR +Our method", ("table5", "CTC", ""): "CTC",
    ("table5", "MTNAT", "CTC"): "CTC +Our method",
    ("table6", "AT", ""): "Transformer", ("table6", "Vanilla-NAR", ""): "Vanilla-NAR", ("table6", "CTC", ""): "CTC",
    ("table6", "MTNAT", "CTC+GLAT"): "+ Our method & GLAT",
    ("figure2", "CTC", ""): "CTC",
}


def details(row: dict, setting: str) -> list[str]:
    """What a row's cell does not already say: glancing, decoding, non-default MT-NAT keys, and the
    benchmark it is compared with when its corpus is not that benchmark."""
    model, out = row["model"], []
    if is_mtnat(row):
        if model["glancing"] == "glat" and "GLAT" not in setting:
            out.append("glat")
        if setting.startswith("decode="):
            out.append(fnat_decoding(row))
        out += [f"{key}={model[key]}" for key in ("ar_attach", "ar_lambda", "ar_reduce", "ar_label_smoothing")
                if not _default(model, key) and (key, setting) != ("ar_attach", "CTC+MTL")]  # MTL: on the encoder
        if model["loss"] == "ctc" and model["upsample_ratio"] != FullyNAT.default("upsample_ratio"):
            out.append(f"upsample_ratio={model['upsample_ratio']:g}")
    if benchmark(row) != row["corpus"]:
        out.append(f"vs {benchmark(row)}")
    return out


def shown_setting(table: str, row: dict, setting: str) -> str:
    if table == "figure2" and setting.startswith("layers="):
        printed = f"w/ {setting.split('=')[1]} layer"
    else:
        printed = PAPER_ROWS.get((table, row["paper_name"], setting), setting or "default")
    extra = details(row, setting)
    return printed + (f" [{', '.join(extra)}]" if extra else "")


@dataclass(frozen=True)
class PaperColumn(Column):
    """Only the paper's number: a quantity natpipe does not record (Table 3's cost, see the docstring)."""

    def header(self) -> list[str]:
        return [self.paper_label or f"{self.label} paper"]

    def cells(self, row: dict, table: str, setting: str, paper: dict) -> list[str]:
        key = self.metric(row) if self.metric else None
        return [fmt(paper.get((table, row["paper_name"], setting, key)) if key else None, self.digits)]


def paper_only(label: str, metric: str) -> PaperColumn:
    return PaperColumn(label, lambda row: None, lambda row: metric, delta=False, digits=1,
                       paper_label=f"{label} paper (ours not recorded)")


def mtnat_columns(table: str, rows: list[dict], bleu: dict, repetition: dict | None = None) -> list[Column]:
    """The compared columns of one table (Table 5: repetition %, Figure 2: ours only)."""
    def ours(row: dict):
        return bleu.get((row["corpus"], row["row"]))

    bleu_column = Column("BLEU", ours, lambda row: f"bleu_{benchmark(row)}")
    if table == "table3":
        return [bleu_column, paper_only("training time (h)", "training_time_h"), paper_only("#params (M)", "params_m")]
    if table == "table5":
        return [Column("repetition %", lambda row: (repetition or {}).get((row["corpus"], row["row"])),
                       lambda row: f"repetition_{benchmark(row)}")]
    if table == "figure2":
        ctc = {row["corpus"]: ours(row) for row in reversed(rows)
               if row["paper_name"] == "CTC" and mtnat_setting("figure2", row) == ""}  # first CTC row per corpus

        def gain(row: dict):
            mine, base = ours(row), ctc.get(row["corpus"])
            return None if not is_mtnat(row) or mine is None or base is None else mine - base

        return [Column("BLEU", ours), Column("ΔBLEU vs our CTC", gain)]
    return [bleu_column]


MTNAT_TITLES = {
    "table1": "Table 1: main results (KD)",
    "table2": "Table 2: the method on Vanilla-NAR and CTC",
    "table3": "Table 3: training cost reduction (IWSLT14 De→En)",
    "table5": "Table 5: repeated tokens (%)",
    "table6": "Table 6: without knowledge distillation (raw data)",
    "figure2": "Figure 2: depth of the AR decoders (IWSLT14 De→En)",
}
MTNAT_NOTES = {
    "table1": "Models trained on distilled data (KD), greedy decoding except beam search=20 (an MTNAT row decoded "
              "with CTC beam 20; the paper does not say which model nor whether an LM scores the beam: ours "
              "shows its decoding). AT: the raw-data Transformer base. Copied baselines are placed by "
              "paper_name. CTC+MTL: MTNAT with one 6-layer AR decoder on the encoder (Hao et al. 2021).",
    "table3": "IWSLT14 De→En (inferred: the plain and CTC rows equal Table 1's IWSLT14 numbers). MTNAT CTC "
              "rows by ar_share / ar_layer_dropout, glancing either way (shown). Training time and #params: "
              "the paper's only, natpipe's results do not record them (natpipe/systems/mtnat/tables.py).",
    "table5": "Repetition: % of output tokens equal to the token before them in their sentence (tokenized "
              "hypotheses, scripts/evaluate.py; ours from summary.csv); the paper follows Saharia et al. (2020).",
    "table6": "Models trained on raw targets; greedy decoding.",
    "figure2": "The paper's text has no bar values (only the y axis, 33.0-35.0): ours only (for orientation, "
               "Table 1's IWSLT14 CTC (ours) is 33.91). MTNAT CTC rows by ar_layers, glancing either way "
               "(shown); ΔBLEU: gain over our CTC row of the same corpus.",
}


def tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict,
           sacrebleu: dict | None = None, repetition: dict | None = None) -> str:
    """The MT-NAT markdown (natpipe.tables.render's entry point; `repetition`: (corpus, row) -> %)."""
    lines = ["# MT-NAT tables: natpipe vs the paper", "",
             "Ours: test-set tokenized BLEU and repetition rate (summary.csv). Paper: multi-task NAT with "
             "weak AR decoders ([MTNAT]; `data/papers/mtnat.csv`: WMT14 En-De/De-En, WMT16 En-Ro/Ro-En, "
             "IWSLT14 De-En). Δ = ours − paper. A row's column is "
             "the benchmark of its corpus (by name; any other corpus: the WMT benchmark of its language "
             "pair, or IWSLT14's for an iwslt* corpus). MTNAT rows: kind mtnat, placed by their keys; CTC "
             "and Vanilla-NAR: kind fnat baselines (loss ctc / ce). A sample-corpus row is compared with the "
             "paper's number for the same language pair: a check of the machinery, not of the paper.", ""]
    lines += paper_sections(MTNAT_TITLES, MTNAT_NOTES, rows, mtnat_setting, shown_setting,
                            lambda table: mtnat_columns(table, rows, bleu, repetition), paper)
    return "\n".join(lines) + "\n"
