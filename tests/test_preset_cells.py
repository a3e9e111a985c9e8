"""Every cell of the papers' main tables has its system in a preset (issue 16): a table of
(paper, table, metric column) -> the (run, paper system, setting) rows that fill it, checked against
each preset's resolved config (config.yaml merged with the preset, as `--configfile` does) and the
paper tables' own placement (natpipe/systems/<paper>/tables.py), so that a preset cannot silently
lose a cell; and the table itself checked against the published CSVs, so that it cannot miss one.

Main tables: HRT Tables 3 (WMT, four directions) and 4 (NIST Zh->En), Fully NAT Tables 2 (WMT, four
directions) and 3 (WMT20 Ja->En), and every table of MT-NAT with numbers (Tables 1, 2, 5, 6: WMT14/16
and IWSLT14; Table 3: IWSLT14, whose training time and #params the MT-NAT table prints as the paper's
only, beside our row), both tables of hint-based NART (Table 1: WMT14 and IWSLT14; Table 2: IWSLT14), and
every table of XLM-D with numbers (Tables 1, 2: WMT14/16; 3: WMT20 Ja-En and IWSLT17 Ko-En / Ar-En; 4, 5, 6,
8: WMT14 En-De; 9: WMT14). Only the systems the papers trained themselves: the rows copied from other
works, and SAT, are listed in SKIPPED_SYSTEMS with the reason; XLM-D's En-Fr column in SKIPPED_METRICS.
"""
import copy
import json
from functools import lru_cache

import pandas as pd
import pytest
import yaml
from snakemake.utils import update_config

from conftest import REPO
from natpipe.systems.fully_nat import tables as fnat
from natpipe.systems.hint_nart import tables as hint
from natpipe.systems.hrt import tables as hrt
from natpipe.systems.mtnat import tables as mtnat
from natpipe.systems.xlmd import tables as xlmd
from natpipe.tables import meant_for
from natpipe.workflow import Workflow

# A run: a preset, and for NIST the test set of HRT Table 4's column (one test set per run; the
# preset's default test set, MT03, is no Table 4 column).
RUNS = {
    "wmt14_en_de": ("wmt14_en_de", None),
    "wmt14_de_en": ("wmt14_de_en", None),
    "wmt16_en_ro": ("wmt16_en_ro", None),
    "wmt16_ro_en": ("wmt16_ro_en", None),
    "wmt20_ja_en": ("wmt20_ja_en", None),
    "iwslt14_de_en": ("iwslt14_de_en", None),
    "iwslt17_ko_en": ("iwslt17_ko_en", None),
    "iwslt17_ar_en": ("iwslt17_ar_en", None),
    "nist_zh_en/mt04": ("nist_zh_en", "nist_mt04"),
    "nist_zh_en/mt05": ("nist_zh_en", "nist_mt05"),
    "nist_zh_en/mt08": ("nist_zh_en", "nist_mt08"),
}


def both_bleus(pair: str, rows: set) -> dict:
    """HRT Table 3 prints tokenized BLEU and SacreBLEU (†) of the same systems."""
    return {("hrt", "table3", f"bleu_{pair}"): rows, ("hrt", "table3", f"sacrebleu_{pair}"): rows}


def fnat_table2(run: str) -> set:
    """Fully NAT Table 2's own rows in one direction: the ATs and "Ours (Fully NAT)" with its additions."""
    return {(run, "AT", ""), (run, "AT12-1", ""), (run, "AT12-1", "data=KD"),
            (run, "FNAT", ""), (run, "FNAT", "KD"), (run, "FNAT", "KD+CTC"), (run, "FNAT", "KD+CTC+VAE"),
            (run, "FNAT", "KD+CTC+GLAT")}


FNAT_TABLE3_NAT = {("wmt20_ja_en", "FNAT", setting) for setting in (
    "KD+CTC", "KD+CTC+VAE", "KD+CTC+VAE;decode=beam20", "KD+CTC+VAE;decode=beam20+lm4",
    "KD+CTC+VAE;decode=npd5", "KD+CTC+VAE;decode=npd5+beam20+lm4")}
FNAT_TABLE3 = FNAT_TABLE3_NAT | {("wmt20_ja_en", "AT-big", ""), ("wmt20_ja_en", "AT", ""),
                                 ("wmt20_ja_en", "AT12-1", ""), ("wmt20_ja_en", "AT12-1", "data=KD")}
HRT_TABLE4 = {"AT", "CMLM10", "HRT"}

# MT-NAT: a run's column is its benchmark (natpipe/systems/mtnat/tables.py: the preset's corpus has its name).
MTNAT_WMT = ("wmt14_en_de", "wmt14_de_en", "wmt16_en_ro", "wmt16_ro_en")
MTNAT_RUNS = (*MTNAT_WMT, "iwslt14_de_en")


def mtnat_table1(run: str) -> set:
    """MT-NAT Table 1's own rows: Transformer (ours), CTC (ours), CTC+MTL, CTC+Our method, & Glancing
    Training, beam search=20."""
    return {(run, "AT", ""), (run, "CTC", ""), (run, "MTNAT", "CTC+MTL"), (run, "MTNAT", "CTC"),
            (run, "MTNAT", "CTC+GLAT"), (run, "MTNAT", "decode=beam20")}


def mtnat_table2(run: str) -> set:
    """MT-NAT Table 2: Vanilla-NAR and CTC, each with and without the method."""
    return {(run, "Vanilla-NAR", ""), (run, "MTNAT", "Vanilla-NAR"), (run, "CTC", ""), (run, "MTNAT", "CTC")}


# MT-NAT Table 3 (IWSLT14): the method with parameter sharing / layer dropout / both / neither, and CTC.
MTNAT_TABLE3 = {("iwslt14_de_en", "MTNAT", setting) for setting in ("", "share", "layer_dropout",
                                                                   "share+layer_dropout")} | {("iwslt14_de_en", "CTC", "")}

# Hint-based NART: Table 1's teacher, single-length and B = 4 rows; Table 2's loss terms.
HINT_RUNS = ("wmt14_en_de", "wmt14_de_en", "iwslt14_de_en")
HINT_TERMS = ("nll", "nll+align", "nll+align+hid")


def hint_table1(run: str) -> set:
    return {(run, "AT", ""), (run, "HINT", ""), (run, "HINT", "B=4")}


# XLM-D: a row's setting is its decorator (M=<M>;T=<T>, or LT for "with LT only"), see natpipe/systems/xlmd/tables.py.
XLMD_WMT = ("wmt14_en_de", "wmt14_de_en", "wmt16_en_ro", "wmt16_ro_en")
XLMD_ITERATIVE = tuple(f"M={m};T={t}" for m in (0, 6) for t in (2, 4, 8))  # Table 1
XLMD_SINGLE = ("M=0;T=1", "M=6;T=1", "LT")  # Tables 2 and 8
XLMD_TABLE3 = ("wmt20_ja_en", "iwslt17_ko_en", "iwslt17_ar_en")  # SacreBLEU (En-Fr: SKIPPED_METRICS)


def xlmd_rows(run: str, *settings: str, at: bool = True) -> set:
    return {(run, "XLMD", s) for s in settings} | ({(run, "AT", "")} if at else set())


XLMD_TABLE4 = xlmd_rows("wmt14_en_de", *(f"M=0;T={t}" for t in (1, 2, 4, 8)))
XLMD_TABLE6 = xlmd_rows("wmt14_en_de", "LT", *(f"M={m};T={t}" for m in (0, 6) for t in (1, 2, 4, 8)), at=False)


# (paper, table, metric) -> {(run, paper system, setting)}: the rows behind each published cell.
CELLS = {
    # HRT Table 3 "Our implementations" (AT + Raw, AT-20L + Raw, HRT / HRT-20L + MixDistill).
    **both_bleus("en_ro", {("wmt16_en_ro", "AT", "data=R"), ("wmt16_en_ro", "HRT", "data=MD")}),
    **both_bleus("ro_en", {("wmt16_ro_en", "AT", "data=R"), ("wmt16_ro_en", "HRT", "data=MD")}),
    **both_bleus("en_de", {("wmt14_en_de", "AT", "data=R"), ("wmt14_en_de", "AT-20L", "data=R"),
                           ("wmt14_en_de", "HRT", "data=MD"), ("wmt14_en_de", "HRT-20L", "data=MD")}),
    **both_bleus("de_en", {("wmt14_de_en", "AT", "data=R"), ("wmt14_de_en", "AT-20L", "data=R"),
                           ("wmt14_de_en", "HRT", "data=MD"), ("wmt14_de_en", "HRT-20L", "data=MD")}),
    # HRT Table 4: NIST Zh->En, one run per test set.
    ("hrt", "table4", "bleu_mt04"): {("nist_zh_en/mt04", name, "") for name in HRT_TABLE4},
    ("hrt", "table4", "bleu_mt05"): {("nist_zh_en/mt05", name, "") for name in HRT_TABLE4},
    ("hrt", "table4", "bleu_mt08"): {("nist_zh_en/mt08", name, "") for name in HRT_TABLE4},
    # Fully NAT Table 2: tokenized BLEU per direction; the speed-up "is measured on WMT'14 En->De".
    ("fully_nat", "table2", "bleu_en_de"): fnat_table2("wmt14_en_de"),
    ("fully_nat", "table2", "bleu_de_en"): fnat_table2("wmt14_de_en"),
    ("fully_nat", "table2", "bleu_en_ro"): fnat_table2("wmt16_en_ro"),
    ("fully_nat", "table2", "bleu_ro_en"): fnat_table2("wmt16_ro_en"),
    ("fully_nat", "table2", "speedup"): fnat_table2("wmt14_en_de"),
    # Fully NAT Table 3: WMT20 Ja->En (SacreBLEU), every column; the "(+x.xx)" gains are the NAT rows'.
    ("fully_nat", "table3", "sacrebleu_ja_en"): FNAT_TABLE3,
    ("fully_nat", "table3", "delta_bleu"): FNAT_TABLE3_NAT,
    ("fully_nat", "table3", "bp"): FNAT_TABLE3,
    ("fully_nat", "table3", "latency_gpu_b1_ms"): FNAT_TABLE3,
    ("fully_nat", "table3", "speedup_gpu_b1"): FNAT_TABLE3,
    ("fully_nat", "table3", "latency_cpu_b1_ms"): FNAT_TABLE3,
    ("fully_nat", "table3", "speedup_cpu_b1"): FNAT_TABLE3,
    # MT-NAT Tables 1 and 2 (KD): tokenized BLEU per benchmark.
    **{("mtnat", "table1", f"bleu_{run}"): mtnat_table1(run) for run in MTNAT_RUNS},
    **{("mtnat", "table2", f"bleu_{run}"): mtnat_table2(run) for run in MTNAT_RUNS},
    # MT-NAT Table 3: BLEU, and the training time and #params that its table prints from the paper only.
    **{("mtnat", "table3", metric): MTNAT_TABLE3 for metric in ("bleu_iwslt14_de_en", "training_time_h", "params_m")},
    # MT-NAT Table 5: repeated tokens (%) on WMT14 En-De and IWSLT14 De-En.
    **{("mtnat", "table5", f"repetition_{run}"): {(run, "AT", ""), (run, "Vanilla-NAR", ""), (run, "MTNAT", "Vanilla-NAR"),
                                                  (run, "CTC", ""), (run, "MTNAT", "CTC")}
       for run in ("wmt14_en_de", "iwslt14_de_en")},
    # MT-NAT Table 6: without KD (raw data), WMT14 En-De / De-En and IWSLT14 De-En.
    **{("mtnat", "table6", f"bleu_{run}"): {(run, "AT", ""), (run, "Vanilla-NAR", ""), (run, "CTC", ""),
                                           (run, "MTNAT", "CTC+GLAT")}
       for run in ("wmt14_en_de", "wmt14_de_en", "iwslt14_de_en")},
    # Hint-based NART Table 1: BLEU per benchmark; latency and speed-up are one number per system
    # (the paper's own platform), read by each benchmark's rows. Table 2: the IWSLT14 ablation, with
    # the long-sentence BLEU and §3.3's repetition rates.
    **{("hint_nart", "table1", f"bleu_{run}"): hint_table1(run) for run in HINT_RUNS},
    **{("hint_nart", "table1", metric): {cell for run in HINT_RUNS for cell in hint_table1(run)}
       for metric in ("latency_ms", "speedup")},
    **{("hint_nart", "table2", f"{metric}_iwslt14_de_en"): {("iwslt14_de_en", "HINT", s) for s in settings}
       for metric, settings in (("bleu", HINT_TERMS), ("bleu_long", HINT_TERMS), ("repetition", (HINT_TERMS[0], HINT_TERMS[2])))},
    # XLM-D Tables 1 and 2: BLEU per benchmark; the speed-ups are WMT14 En-De's (App. A.1), read by its rows.
    **{("xlmd", "table1", f"bleu_{run}"): xlmd_rows(run, *XLMD_ITERATIVE) for run in XLMD_WMT},
    ("xlmd", "table1", "speedup"): xlmd_rows("wmt14_en_de", *XLMD_ITERATIVE),
    **{("xlmd", "table2", f"bleu_{run}"): xlmd_rows(run, *XLMD_SINGLE) for run in XLMD_WMT},
    ("xlmd", "table2", "speedup"): xlmd_rows("wmt14_en_de", *XLMD_SINGLE),
    # XLM-D Table 3: SacreBLEU of the Transformer and M=0 with T = 2/4/8.
    **{("xlmd", "table3", f"sacrebleu_{run}"): xlmd_rows(run, "M=0;T=2", "M=0;T=4", "M=0;T=8") for run in XLMD_TABLE3},
    # XLM-D Table 4: Original (raw) / Distill columns and the speed-ups; Table 5: s x T; Table 6: Pre-train / Reset.
    **{("xlmd", "table4", metric): XLMD_TABLE4 for metric in ("bleu_raw", "bleu_distill", "speedup")},
    ("xlmd", "table5", "bleu_wmt14_en_de"): xlmd_rows("wmt14_en_de", *(f"s={s};T={t}" for s in ("1.5", "2.0", "2.5", "3.0")
                                                                      for t in (1, 2, 4, 8)), at=False),
    **{("xlmd", "table6", metric): XLMD_TABLE6 for metric in ("bleu_pretrained", "bleu_reset")},
    # XLM-D Table 8: batch-1 latency and speed-up; Table 9: static (block 8) vs dynamic blocks, WMT14 both ways.
    **{("xlmd", "table8", metric): xlmd_rows("wmt14_en_de", *XLMD_SINGLE) for metric in ("latency_ms", "speedup")},
    **{("xlmd", "table9", f"bleu_{run}"): xlmd_rows(run, *(f"{s};block={b}" for s in XLMD_ITERATIVE for b in ("8", "dynamic")),
                                                    at=False)
       for run in ("wmt14_en_de", "wmt14_de_en")},
}

# Published rows of these tables that are no system the paper trained, or no system natpipe has.
SKIPPED_SYSTEMS = {
    ("hrt", "table3", "SAT"): "SAT (Wang et al. 2018a) re-implemented by HRT: a different system (chunk-wise "
                              "semi-autoregressive decoding) that natpipe does not implement",
    ("fully_nat", "table2", "CMLM10"): "copied from Ghazvininejad et al. (2019), distilled from a big Transformer (*)",
    ("fully_nat", "table2", "Vanilla-NAT"): "copied from Gu et al. (2018a)",
    ("fully_nat", "table2", "GLAT-Qian"): "copied from Qian et al. (2020)",
    ("fully_nat", "table2", "Imputer1"): "copied from Saharia et al. (2020), distilled from a big Transformer (*)",
    **{("mtnat", "table1", name): f"copied from {cited} (MT-NAT Table 1's baselines above its own rows)"
       for name, cited in (("Vanilla-NAT", "Gu et al. (2018)"), ("CMLM1", "Ghazvininejad et al. (2019)"),
                           ("CMLM10", "Ghazvininejad et al. (2019)"), ("CTC-Saharia", "Saharia et al. (2020)"),
                           ("AXE", "Ghazvininejad et al. (2020)"), ("GLAT-Qian", "Qian et al. (2021)"),
                           ("GLAT+CTC", "Qian et al. (2021)"))},
    ("xlmd", "table1", "CMLM10"): "copied from Ghazvininejad et al. (2019) (the paper's text compares with its numbers)",
    ("xlmd", "table4", "CMLM10"): "CMLM, 10 iterations: its Distill number is Table 1's copied 27.03; no preset "
                                  "trains CMLM for XLM-D",
    **{("xlmd", "table3", name): "the paper's CMLM baseline on these datasets, without its settings: natpipe's cmlm_base "
                                 "could stand there, no preset trains it for XLM-D" for name in ("CMLM4", "CMLM10")},
}
# Published columns that are no measurement: the number of decoder passes is a property of the system.
SKIPPED_METRICS = {("fully_nat", "table2", "iterations"): "the decoding's passes (N, 10, 1), not a measured number",
                   ("xlmd", "table3", "bleu_wmt14_en_fr"): "wmt14_en_fr's xlmd_m0 is left out of its systems (its "
                                                           "distillation alone is 128 decoding jobs over 35.8M pairs)"}
MAIN_TABLES = {"hrt": ("table3", "table4"), "fully_nat": ("table2", "table3"),
               "mtnat": ("table1", "table2", "table3", "table5", "table6"), "hint_nart": ("table1", "table2"),
               "xlmd": ("table1", "table2", "table3", "table4", "table5", "table6", "table8", "table9")}


def published_cells() -> set:
    """(paper, table, metric, system, setting) of every published number of the main tables, less the
    skipped systems and columns: derived from data/papers/*.csv alone."""
    cells = set()
    for paper, tables in MAIN_TABLES.items():
        csv = pd.read_csv(REPO / "data" / "papers" / f"{paper}.csv", dtype=str, keep_default_na=False)
        for r in csv[csv["table"].isin(tables)].itertuples():
            if (paper, r.table, r.system) not in SKIPPED_SYSTEMS and (paper, r.table, r.metric) not in SKIPPED_METRICS:
                cells.add((paper, r.table, r.metric, r.system, r.setting))
    return cells


def expected_cells() -> set:
    return {(paper, table, metric, name, setting)
            for (paper, table, metric), rows in CELLS.items() for _, name, setting in rows}


@lru_cache(maxsize=None)
def paper_rows(run: str) -> tuple:
    """The preset's rows as the paper_table rule gets them (Workflow.paper_rows_json), config.yaml
    merged with the preset as Snakemake's --configfile does; NIST with its run's test set."""
    preset, test = RUNS[run]
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    update_config(config, yaml.safe_load((REPO / "configs" / f"{preset}.yaml").read_text(encoding="utf-8")))
    if test:
        update_config(config, {"corpora": {preset: {"splits": {"test": [test]}}}})
    return tuple(json.loads(Workflow(copy.deepcopy(config)).paper_rows_json()))


EMPTY_SPEED = pd.DataFrame(columns=["corpus", "run_id", "device", "system", "batch_size", "median", "alpha",
                                    "n_sentences"])


def placement(paper: str):
    """The paper's own table functions: (table, row) -> its setting key, and a table's columns."""
    if paper == "hrt":
        return hrt.hrt_setting, lambda table, rows: [hrt.hrt_column(metric, rows, {}, {}, {})
                                                     for metric in hrt.HRT_TABLES[table][1]]
    if paper == "mtnat":
        return mtnat.mtnat_setting, lambda table, rows: mtnat.mtnat_columns(table, rows, {}, {})
    if paper == "hint_nart":
        return hint.hint_setting, lambda table, rows: hint.hint_columns(table, {}, EMPTY_SPEED, {})
    if paper == "xlmd":
        return xlmd.xlmd_setting, lambda table, rows: xlmd.xlmd_columns(table, {}, EMPTY_SPEED, {})
    return fnat.fully_nat_setting, lambda table, rows: fnat.fully_nat_columns(table, rows, {}, EMPTY_SPEED, {}, {})


def test_the_cell_table_covers_every_published_cell_of_the_main_tables_and_nothing_else():
    published, expected = published_cells(), expected_cells()
    assert published - expected == set(), "published cells without a row in CELLS"
    assert expected - published == set(), "CELLS names cells the papers do not have"
    for paper, table, system in SKIPPED_SYSTEMS:  # a skip that matches nothing would hide nothing
        csv = pd.read_csv(REPO / "data" / "papers" / f"{paper}.csv", dtype=str, keep_default_na=False)
        assert ((csv["table"] == table) & (csv["system"] == system)).any(), (paper, table, system)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_each_cell_has_its_system_in_the_preset_and_the_table_puts_it_there(run):
    """For every cell this run fills: a row of the preset with that paper system (and meant for that
    paper's tables) lands in that table with that setting, and one of the table's columns reads the
    cell's metric for it."""
    rows = paper_rows(run)
    missing = []
    for (paper, table, metric), cells in CELLS.items():
        setting_of, columns_of = placement(paper)
        ours = [r for r in rows if meant_for(r, paper)]  # natpipe.tables.render's filter
        columns = columns_of(table, ours)
        for cell_run, name, setting in cells:
            if cell_run != run:
                continue
            landed = [r for r in ours if r["paper_name"] == name and setting_of(table, r) == setting]
            read = [r["row"] for r in landed if any(c.metric and c.metric(r) == metric for c in columns)]
            if not read:
                why = f"lands as {', '.join(r['row'] for r in landed)} but no column reads it" if landed else "no row"
                missing.append(f"{paper} {table} {metric}: {name} [{setting}] ({why})")
    assert not missing, f"{run}: cells without their system:\n" + "\n".join(missing)


def test_every_run_of_the_cell_table_is_a_preset_and_every_main_table_preset_has_cells():
    runs = {run for rows in CELLS.values() for run, _, _ in rows}
    assert runs == set(RUNS)
    assert all((REPO / "configs" / f"{preset}.yaml").exists() for preset, _ in RUNS.values())


def test_nist_declares_the_test_sets_of_hrt_table_4_and_scores_mt03_in_no_column():
    rows = paper_rows("nist_zh_en/mt04")
    assert {r["row"]: hrt.nist_metric(r) for r in rows} == {"at_base": "bleu_mt04", "cmlm_base": "bleu_mt04",
                                                            "hrt_base": "bleu_mt04"}
    preset = yaml.safe_load((REPO / "configs" / "nist_zh_en.yaml").read_text(encoding="utf-8"))
    corpus = preset["corpora"]["nist_zh_en"]
    assert corpus["splits"]["test"] == ["nist_mt03"]
    assert {"nist_mt04", "nist_mt05", "nist_mt08"} <= set(corpus["sources"])
    assert hrt.nist_metric({**rows[0], "test": ["nist_mt03"]}) is None  # the preset's default test set
    assert hrt.nist_metric({**rows[0], "test": ["nist_mt04", "nist_mt05"]}) is None  # two sets: no one column
