"""XLM-D's tables ([XLMD], Wang et al.) against data/papers/xlmd.csv: Tables 1 to 6, 8 and 9.

Rows are placed by paper_name and their resolved model. AT (the paper's "Transformer"): kind at, raw
data (Table 4 also takes a distilled one, its Distill column). CMLM4 / CMLM10: kind cmlm, by
paper_name (the paper's CMLM rows, no preset trains them for XLM-D). XLMD: this package's kind with
paper_name XLMD; its setting is read from the model: `add_and_scale` false is "XLM-D with LT only"
(`LT`, or `LT;M=m` for M other than 0: the paper does not say its M), else `M=<decorator_layer>;
T=<generate.iterations>`. The paper's setup is a pretrained model (`pretrained` set) on distilled
data with s = 2 (`upsample_ratio`, the kind's default) decoding with dynamic blocks (`generate.block`);
each table takes the rows that differ from it only in what that table varies:

- Table 1: T > 1; Table 2: T = 1 (LT only included); Table 3: any T, on its four other benchmarks.
- Table 4: M = 0 with add & scale, raw or distilled data (its Original / Distill column, `data`).
- Table 5: M = 0 with add & scale, any s (the setting `s=<s>;T=<T>`).
- Table 6: pretrained or `pretrained: null` (its Pre-train / Reset column).
- Table 8: T = 1 (LT only included), latency and speed-up at batch 1.
- Table 9: T > 1 with any `block`: `block=8` is the paper's Static, `block=dynamic` its Dynamic; a
  static block is seen only here. Non-default decorator keys (gamma, sigma_init, mask_block, arch)
  are shown beside the setting, never a reason to leave a row out.

Columns: a row's benchmark is decided by its corpus (natpipe.tables.benchmark_of): the corpus of that
name, else the benchmark of its language pair in its family (iwslt* or WMT); the sample En-De is
compared with WMT14 En-De, a check of the machinery, not of the paper. A table takes the benchmarks
it reports (XLMD_BENCHMARKS: WMT14 / WMT16 both ways in Tables 1 and 2, WMT14 both ways in Table 9,
WMT14 En-Fr, WMT20 Ja-En and IWSLT17 Ko-En / Ar-En in Table 3, WMT14 En-De in the others); a row of
another stays out. Table 3 prints tokenized BLEU for En-Fr and SacreBLEU for the three others (§3.1),
so ours gives both. Speed-up: alpha at one sentence per batch against the corpus's speed reference;
latency: ms per sentence at batch 1; both on the GPU when the run timed it there, else the CPU. The
paper measures both on the WMT14 En-De test set on its A100 (App. A.1): its numbers are printed
beside En-De rows only, without Δ.
"""
from __future__ import annotations

import pandas as pd

from natpipe.systems.fully_nat.tables import ratio_label
from natpipe.systems.hint_nart.tables import timed_device
from natpipe.systems.xlmd.system import XLMD
from natpipe.tables import Column, batch_alphas, benchmark_of, latencies, paper_sections

BENCHMARKS = {"wmt14_en_de": ("en", "de"), "wmt14_de_en": ("de", "en"), "wmt16_en_ro": ("en", "ro"),
              "wmt16_ro_en": ("ro", "en"), "wmt14_en_fr": ("en", "fr"), "wmt20_ja_en": ("ja", "en"),
              "iwslt17_ko_en": ("ko", "en"), "iwslt17_ar_en": ("ar", "en")}
WMT = {"wmt14_en_de", "wmt14_de_en", "wmt16_en_ro", "wmt16_ro_en"}
EN_DE = {"wmt14_en_de"}
# The benchmarks each table reports; a row of another stays out.
XLMD_BENCHMARKS = {"table1": WMT, "table2": WMT,
                   "table3": {"wmt14_en_fr", "wmt20_ja_en", "iwslt17_ko_en", "iwslt17_ar_en"},
                   "table4": EN_DE, "table5": EN_DE, "table6": EN_DE, "table8": EN_DE,
                   "table9": {"wmt14_en_de", "wmt14_de_en"}}
SPEED_BENCHMARK = "wmt14_en_de"  # App. A.1: speed-ups and latencies are the En-De test set's
PAPER_RATIO = float(XLMD.default("upsample_ratio"))  # s = 2 (§3.1) everywhere but Table 5
DYNAMIC = XLMD.default("block")
CMLM = {"table1": ("CMLM10",), "table3": ("CMLM4", "CMLM10"), "table4": ("CMLM10",)}  # the paper's CMLM rows
SHOWN_KEYS = ("decorator_scale", "sigma_init", "mask_block")  # decorator keys no table varies
SPEED_TABLES = ("table1", "table2", "table4", "table8")  # the tables that print a speed-up


def benchmark(row: dict) -> str | None:
    return benchmark_of(row, BENCHMARKS)


def is_xlmd(row: dict) -> bool:
    return row["model"]["kind"] == XLMD.kind and row["paper_name"] == "XLMD"


def decorator_key(model: dict) -> str:
    """The row of the paper's tables this XLM-D model decodes as: LT only, or M and T."""
    m = model["decorator_layer"]
    if not model["add_and_scale"]:
        return "LT" if m == 0 else f"LT;M={m}"
    return f"M={m};T={model['generate']['iterations']}"


def xlmd_setting(table: str, row: dict) -> str | None:
    """The paper's setting key this row stands for in one XLM-D table (None: not in it)."""
    if benchmark(row) not in XLMD_BENCHMARKS[table]:
        return None
    model, name = row["model"], row["paper_name"]
    if name == "AT":
        if model["kind"] != "at":
            return None
        raw = model["data"] == "raw"
        return "" if (table in ("table1", "table2", "table3", "table8") and raw) or \
            (table == "table4" and model["data"] in ("raw", "distill")) else None
    if name in CMLM.get(table, ()):
        return "" if model["kind"] == "cmlm" and (table != "table1" or model["data"] == "distill") else None
    if not is_xlmd(row):
        return None
    generate, key = model["generate"], decorator_key(model)
    iterations, block = generate["iterations"], generate["block"]
    pretrained, distilled = model["pretrained"] is not None, model["data"] == "distill"
    paper_ratio = float(model["upsample_ratio"]) == PAPER_RATIO
    m0 = model["add_and_scale"] and model["decorator_layer"] == 0
    if table == "table9":
        return f"{key};block={block}" if pretrained and distilled and paper_ratio and iterations > 1 else None
    if block != DYNAMIC:
        return None
    if table == "table4":
        return key if m0 and pretrained and paper_ratio else None
    if table == "table5":
        return f"s={ratio_label(model['upsample_ratio'])};T={iterations}" if m0 and pretrained and distilled else None
    if table == "table6":
        return key if distilled and paper_ratio else None
    if not (pretrained and distilled and paper_ratio):
        return None
    if table == "table1":
        return key if iterations > 1 else None
    if table in ("table2", "table8"):
        return key if iterations == 1 else None
    return key  # table3


def printed(table: str, row: dict, setting: str) -> str:
    """The row as the paper prints it."""
    name, model = row["paper_name"], row["model"]
    column = [("Original" if model["data"] == "raw" else "Distill")] if table == "table4" else []
    if name == "AT":
        return ", ".join(["Transformer", *column])
    if name.startswith("CMLM"):
        return ", ".join([f"CMLM ({name[4:]} iterations)", *column])
    parts = dict(part.split("=") for part in setting.split(";") if "=" in part)
    head = "XLM-D with LT only" if setting.startswith("LT") else f"XLM-D (M={parts.get('M', model['decorator_layer'])})"
    extra = [f"M={parts['M']}"] if setting.startswith("LT;") else []
    extra += [f"s = {parts['s']}"] if "s" in parts else []
    extra += [f"T = {parts['T']}"] if "T" in parts else []
    if "block" in parts:
        extra.append("Dynamic" if parts["block"] == DYNAMIC else
                     ("Static" if parts["block"] == "8" else "static") + f" (block {parts['block']})")
    extra += column
    if table == "table6":
        extra.append("Pre-train" if model["pretrained"] else "Reset")
    return ", ".join([head, *extra])


def details(table: str, row: dict, alpha: dict) -> list[str]:
    """What the cells do not say: non-default decorator keys, a reset row's vocabulary when it is the
    corpus's own, the benchmark a row is compared with (another corpus), the device speed is read from."""
    model, out = row["model"], []
    if is_xlmd(row):
        out += [f"{key}={model[key]:g}" if isinstance(model[key], float) else f"{key}={model[key]}"
                for key in SHOWN_KEYS if model[key] != XLMD.default(key)]
        if model["arch"] != "xlmd_base":
            out.append(model["arch"])
        if model["pretrained"] is None and not model.get("vocabulary"):
            out.append("corpus vocabulary")
    if benchmark(row) != row["corpus"]:
        out.append(f"vs {benchmark(row)}")
    if table in SPEED_TABLES and (row["corpus"], row["row"], timed_device(alpha, row)) in alpha:
        out.append(timed_device(alpha, row))
    return out


def shown(table: str, row: dict, setting: str, alpha: dict) -> str:
    extra = details(table, row, alpha)
    return printed(table, row, setting) + (f" [{', '.join(extra)}]" if extra else "")



def xlmd_columns(table: str, bleu: dict, summary: pd.DataFrame, sacrebleu: dict | None = None) -> list[Column]:
    alpha, latency, sacrebleu = batch_alphas(summary, 1), latencies(summary), sacrebleu or {}

    def ours(row: dict):
        return bleu.get((row["corpus"], row["row"]))

    def speedup(row: dict):
        return alpha.get((row["corpus"], row["row"], timed_device(alpha, row)))

    def ms(row: dict):
        return (latency.get((row["corpus"], row["row"], timed_device(alpha, row))) or {}).get("b1")

    def on_en_de(metric: str):
        return lambda row: metric if benchmark(row) == SPEED_BENCHMARK else None

    speed = Column("speed-up B=1", speedup, on_en_de("speedup"), delta=False, digits=1)
    if table == "table3":
        return [Column("BLEU", ours, lambda row: f"bleu_{benchmark(row)}"),
                Column("SacreBLEU", lambda row: sacrebleu.get((row["corpus"], row["row"])),
                       lambda row: f"sacrebleu_{benchmark(row)}")]
    if table == "table4":
        return [Column("BLEU", ours, lambda row: f"bleu_{row['model']['data']}"), speed]
    if table == "table6":
        return [Column("BLEU", ours, lambda row: "bleu_pretrained" if row["model"].get("pretrained") else "bleu_reset")]
    if table == "table8":
        return [Column("latency B=1 (ms)", ms, on_en_de("latency_ms"), delta=False), speed]
    bleu_column = Column("BLEU", ours, lambda row: f"bleu_{benchmark(row)}")
    return [bleu_column, speed] if table in SPEED_TABLES else [bleu_column]


TITLES = {
    "table1": "Table 1: iterative decoding (WMT14 En-De / De-En, WMT16 En-Ro / Ro-En)",
    "table2": "Table 2: single-step decoding",
    "table3": "Table 3: other datasets (WMT14 En→Fr BLEU; WMT20 Ja→En, IWSLT17 Ko→En / Ar→En SacreBLEU)",
    "table4": "Table 4: original vs distilled training data (WMT14 En→De)",
    "table5": "Table 5: upsampling ratio s (WMT14 En→De)",
    "table6": "Table 6: pretrained vs reset parameters (WMT14 En→De)",
    "table8": "Table 8: latency at batch 1 (WMT14 En→De)",
    "table9": "Table 9: static vs dynamic re-masking blocks (WMT14 En→De / De→En)",
}
SPEED_NOTE = ("Speed-up: α at batch 1 against the corpus's speed reference, same run and device (the GPU when "
              "timed, else the CPU); the paper's (WMT14 En-De test set, one A100) is printed beside En-De rows only.")
NOTES = {
    "table1": "Pretrained XLM-D on distilled data, s = 2, dynamic blocks, T > 1. The paper's Transformer is ours on raw "
              "data; its CMLM row (10 iterations) is copied from Ghazvininejad et al. (2019). " + SPEED_NOTE,
    "table2": "As Table 1 with T = 1. LT only: no add & scale (single-step, plain CTC). " + SPEED_NOTE,
    "table3": "BLEU: tokenized (the paper's En→Fr column); SacreBLEU: detokenized (its Ja→En, Ko→En and Ar→En "
              "columns, §3.1). M = 0 in the paper.",
    "table4": "M = 0, pretrained, s = 2. A row's column is its training data: raw (the paper's Original) or "
              "distill (Distill); the Transformer on distilled data is an AT with `data: distill`. " + SPEED_NOTE,
    "table5": "M = 0, pretrained, distilled data, dynamic blocks; rows by upsampling ratio s and T.",
    "table6": "Distilled data, s = 2. A row's column is its initialisation: `pretrained` set (Pre-train) or null "
              "(Reset: XLM-R's random initialisation, the same vocabulary).",
    "table8": "Latency: ms per sentence at batch 1 (the paper's on its A100: 320.91 ms for its Transformer); compare "
              "speed-ups, not times. " + SPEED_NOTE,
    "table9": "Static: re-masking blocks of 8 positions; Dynamic: blocks of T positions (at T = 8 the two decode "
              "alike, as the paper's equal numbers show).",
}


def tables(rows: list[dict], bleu: dict, paper: dict, summary: pd.DataFrame, bp: dict,
           sacrebleu: dict | None = None, repetition: dict | None = None) -> str:
    """The XLM-D markdown (natpipe.tables.render's entry point)."""
    lines = ["# XLM-D tables: natpipe vs the paper", "",
             "Ours: test-set tokenized BLEU and SacreBLEU (summary.csv), speed from the speed CSVs of the same run. "
             "Paper: Wang et al. (2022), XLM-D: decorating XLM-R as a NAT (`data/papers/xlmd.csv`). Δ = ours − paper. "
             "XLMD rows: kind xlmd, placed by their decorator layer M, add & scale, s, initialisation, data, T and "
             "blocks; a sample-corpus row is compared with WMT14 En-De: a check of the machinery, not of the paper.", ""]
    alpha = batch_alphas(summary, 1)
    lines += paper_sections(TITLES, NOTES, rows, xlmd_setting, lambda table, row, key: shown(table, row, key, alpha),
                            lambda table: xlmd_columns(table, bleu, summary, sacrebleu), paper)
    return "\n".join(lines) + "\n"
