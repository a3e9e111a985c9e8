"""MT-NAT's paper tables: each row lands in the cell its resolved keys decide (loss, glancing, CTC beam,
AR decoders' attachment / depth / sharing / layer dropout, data), in the column of its corpus's
benchmark, beside the published number with Δ = ours − paper; Table 5 reads the repetition rate of
the results; and the `paper` label may list several papers."""
import copy
import json
import re
import sys

import pandas as pd
import pytest
import yaml

import natpipe.tables as nt
import paper_tables as pt
from conftest import REPO
from natpipe.config import paper_labels, resolve_model
from natpipe.errors import PipelineError
from natpipe.systems.fully_nat import tables as fnat
from natpipe.systems.mtnat import tables as mt
from natpipe.systems.mtnat.system import MultiTaskNAT
from natpipe.workflow import Workflow

PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "mtnat.csv"))
FNAT_PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "fully_nat.csv"))
HRT_PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "hrt.csv"))
EMPTY_SPEED = pd.DataFrame(columns=["corpus", "run_id", "device", "system", "batch_size", "median", "alpha",
                                    "n_sentences"])
PAIRS = {"wmt14_en_de": ("en", "de"), "wmt14_de_en": ("de", "en"), "wmt16_en_ro": ("en", "ro"),
         "wmt16_ro_en": ("ro", "en"), "iwslt14_de_en": ("de", "en"), "sample_en_de": ("en", "de"),
         "iwslt17_ko_en": ("ko", "en")}


def mrow(name, paper_name="MTNAT", corpus="wmt14_en_de", kind="mtnat", paper="mtnat", generate=None, **keys):
    """A row of `corpus` whose model is resolved with its kind's defaults, as the workflow gives it."""
    arch = {"mtnat": "mtnat_transformer", "fnat": "fully_nat_transformer", "at": "transformer",
            "cmlm": "cmlm_transformer"}[kind]
    data = "raw" if kind == "at" else "distill"
    model = resolve_model({"kind": kind, "arch": arch, "data": data, **keys, "generate": generate or {}})
    model.pop("paper")  # the workflow's row spec drops the labels (natpipe.config.LABELS)
    src, tgt = PAIRS[corpus]
    return {"corpus": corpus, "row": name, "paper_name": paper_name, "paper": paper, "ablation": None,
            "model": model, "lm_order": 4, "src": src, "tgt": tgt, "reference": "at", "test": ["t"]}


def section(markdown, title):
    """{row name: its cells} of one `## title` section."""
    part = markdown.split(f"## {title}")[1].split("\n## ")[0]
    cells = [line.rstrip(" |").split(" | ") for line in part.splitlines()
             if line.startswith("| ") and "---" not in line]
    return {row[1]: row for row in cells[1:]}


def render(rows, bleu, repetition=None):
    return nt.render("mtnat", rows, bleu, PAPER, EMPTY_SPEED, {}, repetition=repetition)


# Columns ---------------------------------------------------------------------------------------------


def test_the_corpus_decides_the_column_where_wmt14_and_iwslt14_share_de_en():
    assert [mt.benchmark(mrow("r", corpus=c)) for c in ("wmt14_de_en", "iwslt14_de_en", "sample_en_de")] == [
        "wmt14_de_en", "iwslt14_de_en", "wmt14_en_de"]
    assert mt.benchmark({**mrow("r", corpus="iwslt14_de_en"), "corpus": "iwslt_small"}) == "iwslt14_de_en"
    assert mt.benchmark({**mrow("r", corpus="wmt14_de_en"), "corpus": "newscommentary"}) == "wmt14_de_en"
    assert mt.benchmark({**mrow("r"), "corpus": "iwslt_en_de"}) is None  # the paper has no IWSLT En-De
    assert mt.benchmark(mrow("r", corpus="iwslt17_ko_en")) is None
    rows = [mrow("wmt", corpus="wmt14_de_en"), mrow("iwslt", corpus="iwslt14_de_en"),
            mrow("ko", corpus="iwslt17_ko_en")]
    markdown = render(rows, {("wmt14_de_en", "wmt"): 30.0, ("iwslt14_de_en", "iwslt"): 34.0,
                             ("iwslt17_ko_en", "ko"): 20.0})
    table1 = section(markdown, "Table 1")
    assert set(table1) == {"wmt", "iwslt"}  # Ko-En: no column of the paper, in no table
    assert table1["wmt"][3:7] == ["CTC+Our method", "30.00", "30.36", f"{30.0 - 30.36:.2f}"]
    assert table1["iwslt"][3:7] == ["CTC+Our method", "34.00", "35.13", f"{34.0 - 35.13:.2f}"]


# Table 1 ---------------------------------------------------------------------------------------------


TABLE1 = [mrow("at", "AT", kind="at", paper=["fully_nat", "mtnat"]), mrow("ctc", "CTC", kind="fnat"),
          mrow("mtl", ar_attach="encoder", ar_layers=6), mrow("ours"), mrow("ours_glat", glancing="glat"),
          mrow("ours_beam", glancing="glat", generate={"ctc_beam": 20, "lm": True}),
          mrow("CMLM10", "CMLM10", kind="cmlm", paper=None, generate={"iterations": 10}),
          mrow("glat_ctc", "GLAT+CTC", kind="fnat", paper=None, glancing="glat")]
TABLE1_BLEU = {("wmt14_en_de", r["row"]): 25.0 + i / 4 for i, r in enumerate(TABLE1)}


def test_table_1_places_ours_the_reproduced_mtl_and_the_beam_row_with_delta():
    table1 = section(render(TABLE1, TABLE1_BLEU), "Table 1")
    paper = {"at": 27.42, "ctc": 26.27, "mtl": 26.47, "ours": 26.80, "ours_glat": 27.25, "ours_beam": 27.75,
             "CMLM10": 27.03, "glat_ctc": 26.39}
    assert set(table1) == set(paper)
    for name, theirs in paper.items():
        ours = TABLE1_BLEU[("wmt14_en_de", name)]
        assert table1[name][4:7] == [f"{ours:.2f}", f"{theirs:.2f}", f"{ours - theirs:.2f}"], name
    assert table1["ours"][2:4] == ["MTNAT", "CTC+Our method"]
    assert table1["ours_glat"][3] == "CTC+Our method & Glancing Training"
    assert table1["ours_beam"][3] == "beam search=20 [glat, beam20+lm4]"  # the model and decoding it is
    assert table1["mtl"][3] == "CTC+MTL (ours)" and table1["at"][3] == "Transformer (ours)"
    assert table1["CMLM10"][3] == "CMLM10 (Ghazvininejad et al., 2019)"


@pytest.mark.parametrize("keys, generate", [
    ({"ar_attach": "encoder", "ar_layers": 1}, {}),  # Hao et al. 2021's MTL is a 6-layer AR decoder
    ({"ar_layers": 2}, {}),  # not the paper's weak (1-layer) decoder
    ({"ar_share": True}, {}),  # Table 3's cost reductions are no Table 1 row
    ({"glancing": "rnd"}, {}),
    ({}, {"ctc_beam": 5}),  # "beam search=20"
    ({"data": "raw"}, {}),  # Table 1 is KD
    ({"vae": {"latent_dim": 4}}, {}),
])
def test_other_mtnat_models_are_no_table_1_row(keys, generate):
    assert mt.mtnat_setting("table1", mrow("x", generate=generate, **keys)) is None


def test_a_decoder_plus_encoder_attachment_is_our_method_and_says_so():
    row = mrow("x", ar_attach="decoder+encoder")
    assert mt.mtnat_setting("table1", row) == "CTC" and mt.mtnat_setting("table2", row) == "CTC"
    assert mt.shown_setting("table1", row, "CTC") == "CTC+Our method [ar_attach=decoder+encoder]"
    assert mt.shown_setting("table1", mrow("y", corpus="sample_en_de"), "CTC") == "CTC+Our method [vs wmt14_en_de]"


def test_defaults_come_from_the_system():
    default = MultiTaskNAT.default("ar_layers")
    assert mt.mtnat_setting("table1", mrow("x", ar_layers=default)) == "CTC"
    assert mt.mtnat_setting("table1", mrow("x", ar_layers=default + 1)) is None
    deeper = mrow("x", corpus="iwslt14_de_en", ar_layers=default + 2)
    assert mt.mtnat_setting("figure2", deeper) == f"layers={default + 2}"


# Tables 2, 3, 6 and Figure 2 --------------------------------------------------------------------------


def test_table_2_pairs_each_baseline_with_its_mtnat_model():
    rows = [mrow("nar", "Vanilla-NAR", kind="fnat", loss="ce"), mrow("nar_ours", loss="ce"),
            mrow("ctc", "CTC", kind="fnat"), mrow("ours"), mrow("ours_glat", glancing="glat"),
            mrow("wrong", "Vanilla-NAR", kind="fnat", loss="ctc")]  # a Vanilla-NAR label on a CTC model
    bleu = {("wmt16_en_ro", r["row"]): 20.0 + i for i, r in enumerate(rows)}
    rows = [{**r, "corpus": "wmt16_en_ro", "src": "en", "tgt": "ro"} for r in rows]
    table2 = section(render(rows, bleu), "Table 2")
    assert set(table2) == {"nar", "nar_ours", "ctc", "ours"}  # glancing is Table 1's
    assert table2["nar"][3:7] == ["Vanilla-NAR", "20.00", "27.84", f"{20.0 - 27.84:.2f}"]
    assert table2["nar_ours"][3:7] == ["Vanilla-NAR + Our method", "21.00", "29.88", f"{21.0 - 29.88:.2f}"]
    assert table2["ours"][3:6] == ["CTC + Our method", "23.00", "33.63"]


def test_table_3_rows_follow_ar_share_and_ar_layer_dropout():
    rows = [mrow("plain", corpus="iwslt14_de_en"), mrow("share", corpus="iwslt14_de_en", ar_share=True),
            mrow("drop", corpus="iwslt14_de_en", ar_layer_dropout=True),
            mrow("both", corpus="iwslt14_de_en", ar_share=True, ar_layer_dropout=True, glancing="glat"),
            mrow("ctc", "CTC", corpus="iwslt14_de_en", kind="fnat"),
            mrow("wmt_share", ar_share=True)]  # Table 3 is IWSLT14 De-En's
    bleu = {(r["corpus"], r["row"]): 34.0 + i / 10 for i, r in enumerate(rows)}
    table3 = section(render(rows, bleu), "Table 3")
    assert set(table3) == {"plain", "share", "drop", "both", "ctc"}
    # setting, BLEU ours / paper / Δ, training time (h) and #params (M): the paper's
    expected = {"plain": ("Ours", 34.0, 35.15, "31.2", "83.8"),
                "share": ("Ours, param. sharing", 34.1, 35.10, "31.0", "55.3"),
                "drop": ("Ours, layer dropout", 34.2, 35.07, "20.3", "83.8"),
                "both": ("Ours, param. sharing + layer dropout [glat]", 34.3, 35.13, "19.4", "55.3"),
                "ctc": ("CTC (Saharia et al., 2020)", 34.4, 33.91, "17.3", "50.6")}
    for name, (shown, ours, theirs, hours, params) in expected.items():
        assert table3[name][3:] == [shown, f"{ours:.2f}", f"{theirs:.2f}", f"{ours - theirs:.2f}", hours, params]
    assert mt.mtnat_setting("table1", rows[1]) is None and mt.mtnat_setting("table2", rows[2]) is None


def test_table_6_takes_the_raw_data_rows_only():
    raw = [mrow("at", "AT", kind="at", corpus="wmt14_de_en"),
           mrow("nar", "Vanilla-NAR", kind="fnat", corpus="wmt14_de_en", loss="ce", data="raw"),
           mrow("ctc", "CTC", kind="fnat", corpus="wmt14_de_en", data="raw"),
           mrow("ours", corpus="wmt14_de_en", data="raw", glancing="glat")]
    kd = [mrow("ctc_kd", "CTC", kind="fnat", corpus="wmt14_de_en"),
          mrow("ours_kd", corpus="wmt14_de_en", glancing="glat"),
          mrow("ours_raw_plain", corpus="wmt14_de_en", data="raw")]  # raw, but no GLAT: no Table 6 row
    rows = raw + kd
    bleu = {("wmt14_de_en", r["row"]): 10.0 + i for i, r in enumerate(rows)}
    markdown = render(rows, bleu)
    table6 = section(markdown, "Table 6")
    assert set(table6) == {"at", "nar", "ctc", "ours"}
    paper = {"at": 31.45, "nar": 15.13, "ctc": 23.58, "ours": 28.71}
    for i, (name, theirs) in enumerate(paper.items()):
        assert table6[name][4:7] == [f"{10.0 + i:.2f}", f"{theirs:.2f}", f"{10.0 + i - theirs:.2f}"]
    assert table6["ours"][3] == "+ Our method & GLAT"
    assert {"nar", "ctc", "ours", "ours_raw_plain"}.isdisjoint(section(markdown, "Table 1"))  # KD tables
    assert {"ctc_kd", "ours_kd"} <= set(section(markdown, "Table 1"))


def test_figure_2_shows_ours_by_ar_layers_and_the_gain_over_our_ctc():
    rows = [mrow("ctc", "CTC", corpus="iwslt14_de_en", kind="fnat")] + [
        mrow(f"l{n}", corpus="iwslt14_de_en", ar_layers=n) for n in (1, 3, 6)] + [
        mrow("enc", corpus="iwslt14_de_en", ar_attach="encoder", ar_layers=6)]  # the MTL row: Table 1 only
    bleu = {("iwslt14_de_en", "ctc"): 33.0, ("iwslt14_de_en", "l1"): 34.5, ("iwslt14_de_en", "l3"): 34.0,
            ("iwslt14_de_en", "l6"): 33.5, ("iwslt14_de_en", "enc"): 33.2}
    figure = section(render(rows, bleu), "Figure 2")
    assert set(figure) == {"ctc", "l1", "l3", "l6"}
    assert figure["l3"][3:] == ["w/ 3 layer", "34.00", "1.00"] and figure["l1"][3:] == ["w/ 1 layer", "34.50", "1.50"]
    assert figure["ctc"][3:] == ["CTC", "33.00", "–"]
    assert not any(key[0] == "figure2" for key in PAPER)  # no bar values in the paper's text


# Table 5: repetition from the results -------------------------------------------------------------------


def test_table_5_compares_the_repetition_rate_read_from_the_summary(tmp_path, monkeypatch):
    rows = [mrow("at", "AT", kind="at", corpus="iwslt14_de_en"),
            mrow("nar", "Vanilla-NAR", kind="fnat", corpus="iwslt14_de_en", loss="ce"),
            mrow("nar_ours", corpus="iwslt14_de_en", loss="ce"),
            mrow("ctc", "CTC", corpus="iwslt14_de_en", kind="fnat"),
            mrow("ours", corpus="iwslt14_de_en"), mrow("ro", corpus="wmt16_en_ro")]  # En-Ro: no Table 5 column
    repetition = {"at": 0.05, "nar": 7.5, "nar_ours": 3.0, "ctc": None, "ours": 0.25, "ro": 1.0}
    summary = tmp_path / "summary.csv"
    pd.DataFrame([{"corpus": r["corpus"], "system": r["row"], "bleu_tok": 30.0, "bp": 1.0, "sacrebleu": 29.0,
                   "repetition": repetition[r["row"]]} for r in rows]).to_csv(summary, index=False)
    out = tmp_path / "mtnat.md"
    monkeypatch.setattr(sys, "argv", ["paper_tables.py", "--paper", str(REPO / "data" / "papers" / "mtnat.csv"),
                                      "--rows", json.dumps(rows), "--summary", str(summary), "--out", str(out)])
    pt.main()
    table5 = section(out.read_text(encoding="utf-8"), "Table 5")
    assert set(table5) == {"at", "nar", "nar_ours", "ctc", "ours"}
    assert table5["nar"][3:7] == ["Vanilla-NAR", "7.50", "6.94", f"{7.5 - 6.94:.2f}"]
    assert table5["nar_ours"][3:7] == ["Vanilla-NAR +Our method", "3.00", "2.90", "0.10"]
    assert table5["ours"][4:7] == ["0.25", "0.18", "0.07"] and table5["at"][4:7] == ["0.05", "0.02", "0.03"]
    assert table5["ctc"][4:7] == ["–", "1.41", "–"]  # a result without the rate (an older BLEU JSON)
    # a summary written before the repetition column: no number, no error
    pd.read_csv(summary).drop(columns="repetition").to_csv(summary, index=False)
    pt.main()
    assert section(out.read_text(encoding="utf-8"), "Table 5")["ours"][4:7] == ["–", "0.18", "–"]


def test_only_a_module_that_takes_the_repetition_rate_is_given_it():
    row = mrow("at", "AT", kind="at", paper=None)  # fully_nat's tables() has no `repetition` parameter
    markdown = nt.render("fully_nat", [row], {("wmt14_en_de", "at"): 27.0}, FNAT_PAPER, EMPTY_SPEED, {},
                         repetition={("wmt14_en_de", "at"): 1.0})
    assert "| wmt14_en_de | at | AT | default | 27.00 | 27.48 |" in markdown


# The `paper` label: a name or a list ---------------------------------------------------------------------


def test_a_listed_paper_label_keeps_at_base_in_both_papers_tables_and_an_hrt_row_out():
    at_both = mrow("at_base", "AT", kind="at", paper=["fully_nat", "mtnat"])
    at_hrt = mrow("at_hrt", "AT", kind="at", paper="hrt")
    ctc = mrow("ctc", "CTC", kind="fnat", paper="mtnat")
    rows = [at_both, at_hrt, ctc]
    bleu = {("wmt14_en_de", "at_base"): 27.5, ("wmt14_en_de", "at_hrt"): 27.0, ("wmt14_en_de", "ctc"): 26.0}
    mtnat_md = render(rows, bleu)
    assert set(section(mtnat_md, "Table 1")) == {"at_base", "ctc"}
    assert section(mtnat_md, "Table 1")["at_base"][4:7] == ["27.50", "27.42", "0.08"]
    fnat_md = nt.render("fully_nat", rows, bleu, FNAT_PAPER, EMPTY_SPEED, {})
    assert fnat.fully_nat_setting("table2", at_both) == ""
    assert "| at_base | AT | default | 27.50 | 27.48 |" in fnat_md
    assert "at_hrt" not in fnat_md and "| ctc |" not in fnat_md
    hrt_md = nt.render("hrt", rows, bleu, HRT_PAPER, EMPTY_SPEED, {})
    assert "at_hrt" in hrt_md and "at_base" not in hrt_md
    assert [nt.meant_for({"paper": label}, "mtnat") for label in (None, "mtnat", "hrt", ["fully_nat", "mtnat"],
                                                                 ["fully_nat"])] == [True, True, False, True, False]
    assert nt.meant_for({}, "hrt") and paper_labels(None) == [] and paper_labels("hrt") == ["hrt"]


CONFIG = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))


def test_the_workflow_takes_a_list_label_checks_each_name_and_passes_it_on():
    config = copy.deepcopy(CONFIG)
    config["models"]["at_sample"]["paper"] = ["fully_nat", "mtnat"]
    rows = json.loads(Workflow(config).paper_rows_json())
    at = next(r for r in rows if r["row"] == "at_sample")
    assert at["paper"] == ["fully_nat", "mtnat"] and "paper" not in at["model"]
    assert nt.meant_for(at, "mtnat") and nt.meant_for(at, "fully_nat") and not nt.meant_for(at, "hrt")
    for label, key in ((["fully_nat", "vaswani"], "models.at_sample.paper[1]"), ("vaswani", "models.at_sample.paper")):
        bad = copy.deepcopy(CONFIG)
        bad["models"]["at_sample"]["paper"] = label
        with pytest.raises(PipelineError, match=re.escape(f"config key {key}: 'vaswani' is not a paper with tables (")
                           + ".*mtnat"):
            Workflow(bad)
    for label, message in (([], "should be non-empty"), (["hrt", "hrt"], "has non-unique elements"),
                           ([3], r"paper\[0\]: 3 is not of type 'string'")):
        bad = copy.deepcopy(CONFIG)
        bad["models"]["at_sample"]["paper"] = label
        with pytest.raises(PipelineError, match=message):
            Workflow(bad)


# The CSV and the placement agree --------------------------------------------------------------------------


def placed_rows():
    """One row for every cell of the paper's tables, in every benchmark: each key of the CSV."""
    rows = []
    for corpus in mt.BENCHMARKS:
        def add(name, *args, **keys):
            rows.append(mrow(f"{name}_{corpus}", *args, corpus=corpus, **keys))

        add("at", "AT", kind="at")
        for name in mt.BASELINES:
            add(name, name, kind="cmlm" if name.startswith("CMLM") else "fnat")
        for data in ("distill", "raw"):
            add(f"ctc_{data}", "CTC", kind="fnat", data=data)
            add(f"nar_{data}", "Vanilla-NAR", kind="fnat", data=data, loss="ce")
        add("ours"), add("glat", glancing="glat"), add("raw_glat", glancing="glat", data="raw"), add("ce", loss="ce")
        add("mtl", ar_attach="encoder", ar_layers=6)
        add("beam", glancing="glat", generate={"ctc_beam": 20, "lm": True})
        for share, drop in ((True, False), (False, True), (True, True)):
            add(f"t3_{share}_{drop}", ar_share=share, ar_layer_dropout=drop)
    return rows


def test_every_published_cell_has_a_placement_and_every_placement_a_published_cell():
    rows = placed_rows()
    published = {(table, system, setting) for table, system, setting, _ in PAPER}
    placed = {(table, r["paper_name"], setting) for table in mt.MTNAT_TITLES for r in rows
              if (setting := mt.mtnat_setting(table, r)) is not None}
    assert published == {key for key in placed if key[0] != "figure2"}
    for table, system, setting, metric in PAPER:  # every metric is read by a column of its table
        landed = [r for r in rows if r["paper_name"] == system and mt.mtnat_setting(table, r) == setting]
        columns = mt.mtnat_columns(table, rows, {}, {})
        read = any(c.metric and c.metric(r) == metric for r in landed for c in columns)
        assert read, (table, system, setting, metric)
    assert mt.mtnat_setting("table4", rows[0]) is None  # a table the module does not lay out (scripts/plan.py)


def test_the_csv_copies_the_numbers_as_printed():
    csv = pd.read_csv(REPO / "data" / "papers" / "mtnat.csv", dtype=str, keep_default_na=False)
    assert not csv.duplicated(["table", "system", "setting", "metric"]).any()
    value = csv.set_index(["table", "system", "setting", "metric"])["value"]
    assert value[("table1", "CTC-Saharia", "", "bleu_wmt14_en_de")] == "25.7"  # printed with one decimal
    assert value[("table5", "MTNAT", "Vanilla-NAR", "repetition_iwslt14_de_en")] == "2.90"
    assert value[("table1", "MTNAT", "decode=beam20", "bleu_iwslt14_de_en")] == "36.05"
    assert ("table1", "CMLM1", "", "bleu_iwslt14_de_en") not in PAPER  # printed "/"
    assert set(csv["table"]) == {"table1", "table2", "table3", "table5", "table6"}
