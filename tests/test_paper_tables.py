"""Paper tables: each of our rows lands in the HRT tables it belongs to, beside the right
published number, with Δ = ours − paper; alpha comes from the speed harness's arithmetic."""
import pandas as pd
import pytest

import paper_tables as pt
import speed
from conftest import REPO

PAPER = pt.paper_numbers(str(REPO / "data" / "papers" / "hrt.csv"))


def row(name, paper_name, data="raw", ablation=None, k=2, b_at=5, b_nat=1):
    return {"corpus": "c", "row": name, "paper_name": paper_name, "ablation": ablation, "data": data,
            "chunk_size": k, "generate": {"beam": b_at, "b_nat": b_nat}, "src": "en", "tgt": "de", "reference": "at"}


ROWS = [row("at", "AT"), row("hrt", "HRT", "mixdistill", "full"), row("hrt_cl", "HRT", "mixdistill", "-CL"),
        row("hrt_k3", "HRT", "mixdistill", k=3), row("hrt_b11", "HRT", "mixdistill", b_at=1), row("CMLM10", "CMLM10", "distill")]
BLEU = {("c", "at"): 20.0, ("c", "hrt"): 21.0, ("c", "hrt_cl"): 19.5, ("c", "hrt_k3"): 18.0, ("c", "hrt_b11"): 20.5,
        ("c", "CMLM10"): 15.0}


def speed_summary():
    records = []
    for system, seconds in (("at", {1: 10.0, 32: 2.0}), ("CMLM10", {1: 20.0, 32: 8.0}), ("hrt", {1: 5.0, 32: 1.0})):
        for batch, value in seconds.items():
            records.append({"run_id": "r", "corpus": "c", "system": system, "kind": "x", "device": "cpu",
                            "device_name": "x", "threads": 2, "batch_size": batch, "run": 0, "seconds": value,
                            "n_sentences": 10, "output_tokens": 1, "agreement": 1.0, "status": "ok"})
    return speed.summarize(pd.DataFrame(records, columns=speed.COLUMNS), "at").assign(corpus="c")


def table_rows(markdown, title):
    section = markdown.split(f"## {title}")[1].split("\n## ")[0]
    cells = [line.rstrip(" |").split(" | ") for line in section.splitlines() if line.startswith("| c |")]
    return {row[1]: row for row in cells}


def test_each_row_lands_in_its_tables_with_the_published_number_and_delta():
    markdown = pt.hrt_tables(ROWS, BLEU, PAPER, speed_summary())
    table6 = table_rows(markdown, "Table 6")
    assert set(table6) == {"at", "hrt"}  # a k=3 or ablated HRT is not Table 6's HRT
    hrt = table6["hrt"]
    assert hrt[3] == "MD" and hrt[4:7] == ["21.00", "28.49", f"{21.0 - 28.49:.2f}"]
    assert table6["at"][3] == "R" and table6["at"][5] == "27.45"
    table9 = table_rows(markdown, "Table 9")
    assert set(table9) == {"hrt", "hrt_cl"}
    assert table9["hrt_cl"][3] == "-CL" and table9["hrt_cl"][7:10] == ["-1.50", "-0.77", f"{-1.5 + 0.77:.2f}"]
    table5 = table_rows(markdown, "Table 5")
    assert table5["hrt_k3"][3] == "k=3" and table5["hrt_k3"][5] == "27.98"
    table2 = table_rows(markdown, "Table 2")
    assert table2["hrt_b11"][3] == "b_at=1;b_nat=1" and table2["hrt_b11"][5] == "28.34"


def test_alpha_averages_come_from_the_same_run_and_table_10_shows_both_sides():
    summary = speed_summary()
    alphas = pt.mean_alphas(summary)
    assert alphas[("c", "CMLM10", "cpu")] == pytest.approx((10 / 20 + 2 / 8) / 2)
    assert alphas[("c", "hrt", "cpu")] == pytest.approx((2.0 + 2.0) / 2)
    markdown = pt.hrt_tables(ROWS, BLEU, PAPER, summary)
    table8 = table_rows(markdown, "Table 8")
    # columns: BLEU (ours, paper, Δ), alpha GPU (no GPU here: –, paper 1.7), alpha CPU (ours 2.00, paper 1.6)
    assert table8["hrt"][7:9] == ["–", "1.70"] and table8["hrt"][10:13] == ["2.00", "1.60", "0.40"]
    table10 = table_rows(markdown, "Table 10")
    cells = table10["CMLM10"]
    assert cells[4] == "CPU" and cells[5] == "20.00 s, α 0.50 (paper 1390.90 s, α 0.80)"
    assert cells[6] == "8.00 s, α 0.25 (paper 776.90 s, α 0.30)"
