"""XLM-D's paper tables: each row lands where its resolved model puts it (M, LT only, T and blocks in
Tables 1, 2 and 9; data in Table 4; s in Table 5; pretrained or reset in Table 6; T = 1 in Table 8;
the four other benchmarks in Table 3, SacreBLEU where the paper prints it), with Δ = ours − paper,
speed at batch 1 from the run's speed summary, and a row the paper's setup excludes stays out."""
import pytest

import natpipe.tables as nt
from conftest import REPO
from natpipe.config import resolve_model
from natpipe.systems.xlmd import tables as xlmd
from test_hint_tables import section, speed

PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "xlmd.csv"))
PAIRS = {"wmt14_en_de": ("en", "de"), "wmt14_de_en": ("de", "en"), "wmt16_en_ro": ("en", "ro"),
         "wmt16_ro_en": ("ro", "en"), "iwslt17_ko_en": ("ko", "en"), "iwslt17_ar_en": ("ar", "en"),
         "wmt14_en_fr": ("en", "fr"), "wmt20_ja_en": ("ja", "en"), "sample_en_de": ("en", "de"),
         "iwslt14_de_en": ("de", "en")}


def xrow(name, corpus="wmt14_en_de", kind="xlmd", paper_name="XLMD", generate=None, **keys):
    """A row as natpipe.workflow's paper_rows_json gives it: an XLM-D model is pretrained and distilled
    unless said otherwise."""
    arch = {"xlmd": "xlmd_base", "at": "transformer", "cmlm": "cmlm_transformer"}[kind]
    base = {"pretrained": "xlmr_base", "data": "distill"} if kind == "xlmd" else {"data": "raw"}
    model = resolve_model({"kind": kind, "arch": arch, **base, **keys, "generate": generate or {}})
    model.pop("paper")
    src, tgt = PAIRS[corpus]
    return {"corpus": corpus, "row": name, "paper_name": paper_name, "paper": None, "ablation": None, "model": model,
            "lm_order": 4, "src": src, "tgt": tgt, "reference": "at", "test": ["t"]}


def render(rows, bleu, summary=None, sacrebleu=None):
    corpus = rows[0]["corpus"]
    return nt.render("xlmd", rows, bleu, PAPER, summary if summary is not None else speed(corpus, {}), {},
                     sacrebleu=sacrebleu)


def test_tables_1_2_8_and_9_place_rows_by_m_lt_t_and_block_and_read_speed_at_batch_1():
    rows = [xrow("at", kind="at", paper_name="AT"), xrow("m0_t1"), xrow("m0_t2", generate={"iterations": 2}),
            xrow("m6_t8", decorator_layer=6, generate={"iterations": 8}), xrow("lt", add_and_scale=False),
            xrow("m0_t2_static", generate={"iterations": 2, "block": 8}),
            xrow("m0_t3", generate={"iterations": 3})]
    bleu = {("wmt14_en_de", r["row"]): 28.0 for r in rows}
    markdown = render(rows, bleu, speed("wmt14_en_de", {"m0_t1": 0.03, "m0_t2": 0.06, "lt": 0.02}))
    table1, table2 = section(markdown, "Table 1"), section(markdown, "Table 2")
    assert set(table1) == {"at", "m0_t2", "m6_t8", "m0_t3"}  # T > 1 with dynamic blocks
    assert set(table2) == {"at", "m0_t1", "lt"}  # T = 1
    assert table1["m0_t2"][3] == "XLM-D (M=0), T = 2 [cpu]"
    assert table1["m0_t2"][4:7] == ["28.00", "28.69", f"{28 - 28.69:.2f}"]
    assert table1["m0_t2"][7:9] == [f"{0.6 / 0.06:.1f}", "10.5"]  # speed-up at batch 1, no Δ
    assert table1["m6_t8"][5] == "29.59" and table1["m6_t8"][7] == "–"  # not timed
    assert table1["m0_t3"][5] == "–"  # no T = 3 in the paper
    assert table1["at"][3] == "Transformer [cpu]" and table1["at"][5] == "27.74" and table1["at"][7:9] == ["1.0", "1.0"]
    assert table2["lt"][3] == "XLM-D with LT only [cpu]" and table2["lt"][5:7] == ["27.46", f"{28 - 27.46:.2f}"]
    assert table2["m0_t1"][5] == "26.91" and table2["m0_t1"][8] == "19.5"
    table8 = section(markdown, "Table 8")
    assert set(table8) == {"at", "m0_t1", "lt"}
    assert table8["m0_t1"][4:6] == [f"{1000 * 0.03 / 3:.2f}", "16.48"] and table8["lt"][7] == "19.9"
    assert table8["at"][5] == "320.91"
    table9 = section(markdown, "Table 9")
    assert set(table9) == {"m0_t2", "m6_t8", "m0_t2_static", "m0_t3"}  # no AT, no T = 1
    assert table9["m0_t2_static"][3] == "XLM-D (M=0), T = 2, Static (block 8)"
    assert table9["m0_t2_static"][4:7] == ["28.00", "28.57", f"{28 - 28.57:.2f}"]
    assert table9["m0_t2"][3] == "XLM-D (M=0), T = 2, Dynamic" and table9["m0_t2"][5] == "28.69"
    assert table9["m6_t8"][5] == "29.59"


def test_wmt16_and_de_en_rows_read_their_benchmarks_column_and_the_speed_up_is_en_des():
    rows = [xrow("ro", corpus="wmt16_ro_en", decorator_layer=6, generate={"iterations": 4})]
    table1 = section(render(rows, {("wmt16_ro_en", "ro"): 35.0}, speed("wmt16_ro_en", {"ro": 0.1})), "Table 1")
    assert table1["ro"][4:7] == ["35.00", "35.63", f"{35 - 35.63:.2f}"]
    assert table1["ro"][7:9] == [f"{0.6 / 0.1:.1f}", "–"]  # the paper's speed-ups are WMT14 En-De's
    de_en = [xrow("d", corpus="wmt14_de_en", generate={"iterations": 8, "block": 8})]
    table9 = section(render(de_en, {("wmt14_de_en", "d"): 33.0}), "Table 9")
    assert table9["d"][5] == "32.88"
    assert "(no row of this run belongs to this table)" in render(de_en, {}).split("## Table 8")[1].split("## ")[0]


def test_table_4_reads_the_column_of_the_rows_training_data():
    rows = [xrow("at", kind="at", paper_name="AT"), xrow("at_d", kind="at", paper_name="AT", data="distill"),
            xrow("raw_t8", data="raw", generate={"iterations": 8}), xrow("kd_t8", generate={"iterations": 8}),
            xrow("m6", decorator_layer=6), xrow("cmlm", kind="cmlm", paper_name="CMLM10")]
    bleu = {("wmt14_en_de", r["row"]): 27.0 for r in rows}
    table4 = section(render(rows, bleu), "Table 4")
    assert set(table4) == {"at", "at_d", "raw_t8", "kd_t8", "cmlm"}  # M = 0 only
    assert table4["raw_t8"][3] == "XLM-D (M=0), T = 8, Original" and table4["raw_t8"][5:7] == ["27.49", f"{27 - 27.49:.2f}"]
    assert table4["kd_t8"][5] == "29.80" and table4["at"][5] == "27.74" and table4["at_d"][5] == "27.86"
    assert table4["at_d"][3] == "Transformer, Distill"
    assert table4["cmlm"][3] == "CMLM (10 iterations), Original" and table4["cmlm"][5] == "24.61"
    assert table4["raw_t8"][8] == "2.8"
    assert "raw_t8" not in section(render(rows, bleu), "Table 1")  # raw data: Table 4 only


def test_table_5_places_m0_rows_by_upsampling_ratio_and_table_6_by_initialisation():
    rows = [xrow("s15", upsample_ratio=1.5), xrow("s20_t4", generate={"iterations": 4}),
            xrow("s30_t8", upsample_ratio=3.0, generate={"iterations": 8}), xrow("s25_m6", upsample_ratio=2.5, decorator_layer=6),
            xrow("reset_t2", pretrained=None, vocabulary="xlmr_base", generate={"iterations": 2}),
            xrow("reset_lt", pretrained=None, vocabulary="xlmr_base", add_and_scale=False, decorator_layer=6),
            xrow("reset_own", pretrained=None)]
    bleu = {("wmt14_en_de", r["row"]): 26.0 for r in rows}
    markdown = render(rows, bleu)
    table5 = section(markdown, "Table 5")
    assert set(table5) == {"s15", "s20_t4", "s30_t8"}  # M = 0, pretrained
    assert table5["s15"][3] == "XLM-D (M=0), s = 1.5, T = 1" and table5["s15"][5:7] == ["25.53", f"{26 - 25.53:.2f}"]
    assert table5["s20_t4"][5] == "29.41" and table5["s30_t8"][5] == "29.76"
    table6 = section(markdown, "Table 6")
    assert set(table6) == {"s20_t4", "reset_t2", "reset_lt", "reset_own"}  # s = 2 only
    assert table6["s20_t4"][3] == "XLM-D (M=0), T = 4, Pre-train" and table6["s20_t4"][5] == "29.41"
    assert table6["reset_t2"][3] == "XLM-D (M=0), T = 2, Reset" and table6["reset_t2"][5] == "27.98"
    assert table6["reset_lt"][3] == "XLM-D with LT only, M=6, Reset" and table6["reset_lt"][5] == "–"  # the paper's M = 0
    assert table6["reset_own"][3] == "XLM-D (M=0), T = 1, Reset [corpus vocabulary]" and table6["reset_own"][5] == "26.04"
    for table in ("Table 1", "Table 2", "Table 9"):  # a reset or another s is no row of the main tables
        assert not set(section(markdown, table)) & {"s15", "s30_t8", "reset_t2", "reset_lt", "reset_own"}


def test_table_3_compares_bleu_for_en_fr_and_sacrebleu_for_the_other_three():
    ko = [xrow("at", corpus="iwslt17_ko_en", kind="at", paper_name="AT"),
          xrow("t4", corpus="iwslt17_ko_en", generate={"iterations": 4})]
    markdown = render(ko, {("iwslt17_ko_en", "at"): 14.0, ("iwslt17_ko_en", "t4"): 16.0},
                      sacrebleu={("iwslt17_ko_en", "at"): 15.0, ("iwslt17_ko_en", "t4"): 17.0})
    table3 = section(markdown, "Table 3")
    assert table3["t4"][3] == "XLM-D (M=0), T = 4"
    assert table3["t4"][4:7] == ["16.00", "–", "–"] and table3["t4"][7:10] == ["17.00", "16.18", f"{17 - 16.18:.2f}"]
    assert table3["at"][8] == "15.15"
    assert "(no row of this run belongs to this table)" in markdown.split("## Table 1")[1].split("## ")[0]
    fr = [xrow("t8", corpus="wmt14_en_fr", generate={"iterations": 8})]
    table3 = section(render(fr, {("wmt14_en_fr", "t8"): 41.0}, sacrebleu={("wmt14_en_fr", "t8"): 40.0}), "Table 3")
    assert table3["t8"][4:7] == ["41.00", "41.11", f"{41 - 41.11:.2f}"] and table3["t8"][8] == "–"
    ja = [xrow("cmlm", corpus="wmt20_ja_en", kind="cmlm", paper_name="CMLM4")]
    assert section(render(ja, {}), "Table 3")["cmlm"][8] == "16.47"


def test_a_sample_row_is_compared_with_wmt14_en_de_and_an_unplaced_row_stays_out():
    row = xrow("s", corpus="sample_en_de", generate={"iterations": 2})
    assert xlmd.benchmark(row) == "wmt14_en_de"
    table1 = section(render([row], {("sample_en_de", "s"): 1.0}), "Table 1")
    assert table1["s"][3] == "XLM-D (M=0), T = 2 [vs wmt14_en_de]" and table1["s"][5] == "28.69"
    out = [xrow("iwslt14", corpus="iwslt14_de_en", generate={"iterations": 2}),  # no IWSLT14 benchmark
           xrow("other", paper_name="HINT"), xrow("unlabelled_kind", kind="at", paper_name="XLMD"),
           xrow("mix", kind="at", paper_name="AT", data="mixdistill")]
    markdown = render(out, {})
    assert all(not section(markdown, title) for title in xlmd.TITLES.values())
    assert xlmd.benchmark({**row, "corpus": "iwslt_x", "src": "en", "tgt": "de"}) is None


def test_non_default_decorator_keys_are_shown_beside_the_setting():
    row = xrow("g", decorator_scale=1.0, mask_block=4, generate={"iterations": 2})
    assert section(render([row], {}), "Table 1")["g"][3] == "XLM-D (M=0), T = 2 [decorator_scale=1, mask_block=4]"


@pytest.mark.parametrize("keys, key", [({}, "M=0;T=1"), ({"decorator_layer": 6, "generate": {"iterations": 4}}, "M=6;T=4"),
                                       ({"add_and_scale": False}, "LT"), ({"add_and_scale": False, "decorator_layer": 3}, "LT;M=3")])
def test_decorator_key(keys, key):
    assert xlmd.decorator_key(xrow("r", **keys)["model"]) == key
