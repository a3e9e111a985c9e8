"""Hint-based NART's paper tables: Table 1 places the teacher and the hint rows by their decoding
(single length, B = 4, another B without a paper number) and reads speed-up and latency at batch 1
from the speed summary of the same run; Table 2 places IWSLT rows by their non-zero hint weights
and prints the repetition rate; every number beside the published one with Δ = ours − paper."""
import pandas as pd
import pytest

import natpipe.tables as nt
from conftest import REPO
from natpipe.config import resolve_model
from natpipe.systems.hint_nart import tables as hint

PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "hint_nart.csv"))
PAIRS = {"wmt14_en_de": ("en", "de"), "wmt14_de_en": ("de", "en"), "iwslt14_de_en": ("de", "en"),
         "sample_en_de": ("en", "de")}


def hrow(name, corpus="iwslt14_de_en", kind="hint_nart", paper_name="HINT", generate=None, **keys):
    arch = {"hint_nart": "hint_nart_transformer", "at": "transformer"}[kind]
    model = resolve_model({"kind": kind, "arch": arch, "data": "raw" if kind == "at" else "distill", **keys,
                           "generate": generate or {}})
    model.pop("paper")
    src, tgt = PAIRS[corpus]
    return {"corpus": corpus, "row": name, "paper_name": paper_name, "paper": None, "ablation": None, "model": model,
            "lm_order": 4, "src": src, "tgt": tgt, "reference": "at", "test": ["t"]}


def section(markdown, title):
    part = markdown.split(f"## {title}")[1].split("\n## ")[0]
    cells = [line.rstrip(" |").split(" | ") for line in part.splitlines() if line.startswith("| ") and "---" not in line]
    return {row[1]: row for row in cells[1:]}


def speed(corpus, rows):
    """A speed summary of one CPU run: the reference 'at' at 0.6 s per pass of 3 sentences at batch 1."""
    times = {"at": 0.6, **rows}
    return pd.DataFrame([{"corpus": corpus, "run_id": "r", "device": "cpu", "system": system, "batch_size": 1,
                          "median": seconds, "time": seconds, "alpha": 0.6 / seconds, "n_sentences": 3}
                         for system, seconds in times.items()])


def test_table1_places_rows_by_decoding_and_reads_speed_at_batch_1():
    rows = [hrow("at", kind="at", paper_name="AT"), hrow("b0"), hrow("b4", generate={"halfwidth": 4}),
            hrow("b2", generate={"halfwidth": 2}), hrow("ablated", hint_lambda=0)]
    bleu = {("iwslt14_de_en", "at"): 30.0, ("iwslt14_de_en", "b0"): 20.5, ("iwslt14_de_en", "b4"): 24.0,
            ("iwslt14_de_en", "b2"): 23.0, ("iwslt14_de_en", "ablated"): 19.0}
    summary = speed("iwslt14_de_en", {"b0": 0.05, "b4": 0.1, "b2": 0.08})
    table1 = section(nt.render("hint_nart", rows, bleu, PAPER, summary, {}), "Table 1")
    assert set(table1) == {"at", "b0", "b4", "b2"}  # the ablated row is Table 2's only
    at, b0, b4, b2 = table1["at"], table1["b0"], table1["b4"], table1["b2"]
    assert b0[3] == "NART w/ hints [cpu]" and b0[4:7] == ["20.50", "25.55", f"{20.5 - 25.55:.2f}"]
    assert b0[7:9] == [f"{1000 * 0.05 / 3:.1f}", "26.0"] and b0[9:11] == [f"{0.6 / 0.05:.1f}", "30.2"]
    assert b4[3].startswith("NART w/ hints (B = 4, 9 candidates)") and b4[5] == "28.80" and b4[10] == "17.8"
    assert at[3] == "Transformer (teacher) [cpu]" and at[5] == "33.26" and at[9:11] == ["1.0", "1.0"]
    assert b2[3] == "B=2 [cpu]" and b2[5] == "–" and b2[6] == "–"  # no published B = 2


def test_table2_places_iwslt_rows_by_their_hint_weights_with_repetition():
    rows = [hrow("nll", hint_lambda=0, hint_mu=0), hrow("align", hint_lambda=0), hrow("both"),
            hrow("hid_only", hint_mu=0), hrow("rescored", generate={"halfwidth": 4}),
            hrow("wmt", corpus="wmt14_en_de")]
    bleu = {("iwslt14_de_en", r["row"]): 20.0 for r in rows} | {("wmt14_en_de", "wmt"): 18.0}
    repetition = {("iwslt14_de_en", "nll"): 9.0, ("iwslt14_de_en", "both"): 6.0}
    markdown = nt.render("hint_nart", rows, bleu, PAPER, speed("iwslt14_de_en", {}), {}, repetition=repetition)
    table2 = section(markdown, "Table 2")
    assert set(table2) == {"nll", "align", "both", "hid_only"}  # single length, IWSLT14 only
    assert table2["nll"][3] == "L_nll" and table2["nll"][4:7] == ["20.00", "23.08", f"{20 - 23.08:.2f}"]
    assert table2["nll"][7:9] == ["not scored", "17.48"] and table2["nll"][9:12] == ["9.00", "8.30", "0.70"]
    assert table2["both"][3] == "L_nll + L_align + L_hid" and table2["both"][5] == "25.55"
    assert table2["both"][9:12] == ["6.00", "6.50", "-0.50"]
    assert table2["align"][5] == "24.76" and table2["align"][9] == "–"
    assert table2["hid_only"][3] == "nll+hid" and table2["hid_only"][5] == "–"  # no such row in the paper


def test_a_sample_row_is_compared_with_its_language_pairs_wmt_benchmark():
    row = hrow("s", corpus="sample_en_de")
    assert hint.benchmark(row) == "wmt14_en_de"
    table1 = section(nt.render("hint_nart", [row], {("sample_en_de", "s"): 1.0}, PAPER,
                               speed("sample_en_de", {}), {}), "Table 1")
    assert table1["s"][3] == "NART w/ hints [vs wmt14_en_de]" and table1["s"][5] == "21.11"
    assert hint.benchmark({**row, "corpus": "iwslt_x", "src": "en", "tgt": "de"}) is None


@pytest.mark.parametrize("lam, mu, terms", [(0, 0, "nll"), (0, 1, "nll+align"), (1, 0, "nll+hid"), (2, 3, "nll+align+hid")])
def test_loss_terms_follow_the_nonzero_weights(lam, mu, terms):
    assert hint.terms(hrow("r", hint_lambda=lam, hint_mu=mu)["model"]) == terms
