"""Paper tables: each of our rows lands in the tables of its paper it belongs to (placed by its
resolved model), beside the right published number, with Δ = ours − paper; alpha comes from the
speed harness's arithmetic; the driver finds a paper's tables module by name."""
import re

import pandas as pd
import pytest

import natpipe.tables as nt
import paper_tables as pt
import speed
from conftest import REPO
from natpipe.systems.fully_nat import tables as fnat
from natpipe.systems.hrt import tables as hrt

PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "hrt.csv"))


def at_model(kind="at", data="raw", **generate):
    """A resolved model of a kind without HRT's or Fully NAT's keys (at, cmlm)."""
    return {"kind": kind, "data": data, "generate": {"beam": 5, "lenpen": 1.0, **generate}}


def hrt_model(data="raw", k=2, b_at=5, b_nat=1):
    return {"kind": "hrt", "data": data, "chunk_size": k, "init_from": None,
            "curriculum": {"lambda": 1.0, "steps": None, "enabled": True},
            "generate": {"beam": b_at, "lenpen": 1.0, "b_nat": b_nat, "skip_cmlm_from": None}}


def row(name, paper_name, data="raw", ablation=None, k=2, b_at=5, b_nat=1):
    model = (hrt_model(data, k, b_at, b_nat) if paper_name.startswith("HRT")
             else at_model("cmlm" if paper_name.startswith("CMLM") else "at", data, beam=b_at))
    return {"corpus": "c", "row": name, "paper_name": paper_name, "ablation": ablation, "model": model,
            "lm_order": 4, "src": "en", "tgt": "de", "reference": "at"}


ROWS = [row("at", "AT"), row("hrt", "HRT", "mixdistill", "full"), row("hrt_cl", "HRT", "mixdistill", "-CL"),
        row("hrt_k3", "HRT", "mixdistill", k=3), row("hrt_b11", "HRT", "mixdistill", b_at=1), row("CMLM10", "CMLM10", "distill")]
BLEU = {("c", "at"): 20.0, ("c", "hrt"): 21.0, ("c", "hrt_cl"): 19.5, ("c", "hrt_k3"): 18.0, ("c", "hrt_b11"): 20.5,
        ("c", "CMLM10"): 15.0}


def speed_summary():
    records = []
    for system, seconds in (("at", {1: 10.0, 32: 2.0}), ("CMLM10", {1: 20.0, 32: 8.0}), ("hrt", {1: 5.0, 32: 1.0})):
        for batch, value in seconds.items():
            records.append({"run_id": "r", "corpus": "c", "system": system, "kind": "x", "device": "cpu",
                            "device_name": "x", "threads": 2, "batching": "sorted", "alpha_from": "mean",
                            "batch_size": batch, "grid": True, "lmax": 32, "run": 0, "seconds": value,
                            "n_sentences": 10, "output_tokens": 1, "agreement": 1.0, "status": "ok"})
    return speed.summarize(pd.DataFrame(records, columns=speed.COLUMNS), "at").assign(corpus="c")


def table_rows(markdown, title):
    section = markdown.split(f"## {title}")[1].split("\n## ")[0]
    cells = [line.rstrip(" |").split(" | ") for line in section.splitlines() if line.startswith("| c |")]
    return {row[1]: row for row in cells}


def test_each_row_lands_in_its_tables_with_the_published_number_and_delta():
    markdown = hrt.tables(ROWS, BLEU, PAPER, speed_summary(), {})
    table6 = table_rows(markdown, "Table 6")
    assert set(table6) == {"at", "hrt"}  # a k=3 or ablated HRT is not Table 6's HRT
    full = table6["hrt"]
    assert full[3] == "MD" and full[4:7] == ["21.00", "28.49", f"{21.0 - 28.49:.2f}"]
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
    alphas = nt.mean_alphas(summary)
    assert alphas[("c", "CMLM10", "cpu")] == pytest.approx((10 / 20 + 2 / 8) / 2)
    assert alphas[("c", "hrt", "cpu")] == pytest.approx((2.0 + 2.0) / 2)
    markdown = hrt.tables(ROWS, BLEU, PAPER, summary, {})
    table8 = table_rows(markdown, "Table 8")
    # columns: BLEU (ours, paper, Δ), alpha GPU (no GPU here: –, paper 1.7), alpha CPU (ours 2.00, paper 1.6)
    assert table8["hrt"][7:9] == ["–", "1.70"] and table8["hrt"][10:13] == ["2.00", "1.60", "0.40"]
    table10 = table_rows(markdown, "Table 10")
    cells = table10["CMLM10"]
    assert cells[4] == "CPU" and cells[5] == "20.00 s, α 0.50 (paper 1390.90 s, α 0.80)"
    assert cells[6] == "8.00 s, α 0.25 (paper 776.90 s, α 0.30)"


# Fully NAT (Gu & Kong 2021) ---------------------------------------------------------------------

FNAT_PAPER = nt.paper_numbers(str(REPO / "data" / "papers" / "fully_nat.csv"))


def frow(name, data="distill", loss="ctc", vae=False, glancing="none", ratio=3.0, paper_name="FNAT", kind="fnat",
         **generate):
    """A row; kind fnat: a resolved Fully-NAT model (vae True: latents), another kind: at_model."""
    if kind == "fnat":
        model = {"kind": "fnat", "data": data, "loss": loss, "upsample_ratio": ratio, "glancing": glancing,
                 "f_ratio": 0.5, "vae": {"latent_dim": 8, "posterior_layers": 3, "free_bits": 1.0,
                                         "anneal_updates": 0} if vae else None,
                 "generate": {"beam": 5, "lenpen": 1.0, "ctc_beam": 1, "lm": False, "lm_alpha": None,
                              "lm_beta": None, "npd": 1, "npd_temperature": 0.1, **generate}}
    else:
        model = at_model(kind, data, **generate)
    return {"corpus": "c", "row": name, "paper_name": paper_name, "ablation": None, "model": model,
            "lm_order": 4, "src": "en", "tgt": "de", "reference": "at"}


FNAT_ROWS = [
    frow("fnat_ce", data="raw", loss="ce"), frow("fnat_kd", loss="ce"), frow("fnat_kdctc"),
    frow("fnat_vae", vae=True), frow("fnat_vae_raw", data="raw", vae=True), frow("fnat_glat", glancing="glat"),
    frow("fnat_beam", vae=True, ctc_beam=20), frow("fnat_beam_lm", vae=True, ctc_beam=20, lm=True),
    frow("fnat_npd", vae=True, npd=5), frow("fnat_npd_lm", vae=True, npd=5, ctc_beam=20, lm=True),
    frow("fnat_l15", ratio=1.5), frow("fnat_axe_rnd", loss="axe", glancing="rnd"),
    frow("other_fnat", paper_name="GLAT-Qian"),  # a fnat model standing for another system: in no FNAT table
    frow("at", data="raw", paper_name="AT", kind="at", beam=5), frow("at12d", paper_name="AT12-1", kind="at", beam=5),
    frow("CMLM10", paper_name="CMLM10", kind="cmlm", iterations=10),
]
FNAT_BLEU = {("c", r["row"]): 20.0 + i for i, r in enumerate(FNAT_ROWS)}
FNAT_BP = {("c", "fnat_vae"): 0.9, ("c", "fnat_beam_lm"): 0.95}


def fnat_speed_summary():
    """at and fnat_kdctc timed at B=1 and 32 on CPU and GPU; fnat_l15 only at B=32 on the CPU
    (10 sentences per timed pass)."""
    seconds = {("cpu", "at"): {1: 10.0, 32: 2.0}, ("cpu", "fnat_kdctc"): {1: 0.5, 32: 0.1},
               ("cuda", "at"): {1: 5.0, 32: 0.5}, ("cuda", "fnat_kdctc"): {1: 0.2, 32: 0.02},
               ("cpu", "fnat_l15"): {32: 0.4}}
    records = []
    for (device, system), times in seconds.items():
        for batch, value in times.items():
            for run, jitter in enumerate((0.0, 0.1, -0.1)):  # the median is `value`
                records.append({"run_id": "r", "corpus": "c", "system": system, "kind": "x", "device": device,
                                "device_name": "x", "threads": 2, "batching": "sorted", "alpha_from": "mean",
                                "batch_size": batch, "grid": True, "lmax": 32, "run": run,
                                "seconds": value * (1 + jitter), "n_sentences": 10, "output_tokens": 1,
                                "agreement": 1.0, "status": "ok"})
    return speed.summarize(pd.DataFrame(records, columns=speed.COLUMNS), "at").assign(corpus="c")


@pytest.mark.parametrize("config, expected", [
    ({"data": "raw", "loss": "ce"}, "CE"),
    ({"data": "distill", "loss": "ce"}, "KD"),
    ({"data": "raw", "loss": "axe"}, "AXE"),
    ({"data": "distill", "loss": "axe"}, "KD+AXE"),
    ({"data": "raw", "loss": "ctc"}, "CTC"),
    ({"data": "distill", "loss": "ctc"}, "KD+CTC"),
    ({"data": "raw", "loss": "ctc", "vae": True}, "CTC+VAE"),
    ({"data": "distill", "loss": "axe", "vae": True}, "KD+AXE+VAE"),
    ({"data": "distill", "loss": "ctc", "vae": True}, "KD+CTC+VAE"),
    ({"data": "distill", "loss": "axe", "glancing": "rnd"}, "KD+AXE+RND"),
    ({"data": "distill", "loss": "axe", "glancing": "glat"}, "KD+AXE+GLAT"),
    ({"data": "distill", "loss": "ctc", "glancing": "rnd"}, "KD+CTC+RND"),
    ({"data": "raw", "loss": "ctc", "glancing": "glat"}, "CTC+GLAT"),
    ({"data": "distill", "loss": "ctc", "glancing": "glat"}, "KD+CTC+GLAT"),
    ({"data": "distill", "loss": "ctc", "vae": True, "glancing": "glat"}, "KD+CTC+VAE+GLAT"),
    ({"data": "raw", "loss": "ce", "vae": True, "glancing": "rnd"}, "VAE+RND"),
])
def test_fnat_setting_names_the_techniques_in_table_4_order(config, expected):
    assert fnat.fnat_setting(frow("x", **config)) == expected
    if expected != "VAE+RND":  # every other combination is a Table 4 row of the paper
        assert ("table4", "FNAT", expected, "bleu_en_de") in FNAT_PAPER


def test_fnat_decoding_strings_match_table_3():
    assert [fnat.fully_nat_setting("table3", r) for r in FNAT_ROWS[6:10]] == [
        "KD+CTC+VAE;decode=beam20", "KD+CTC+VAE;decode=beam20+lm4", "KD+CTC+VAE;decode=npd5",
        "KD+CTC+VAE;decode=npd5+beam20+lm4"]
    assert all(("table3", "FNAT", fnat.fully_nat_setting("table3", r), "bp") in FNAT_PAPER for r in FNAT_ROWS[7:10])
    assert fnat.fnat_decoding(FNAT_ROWS[2]) == "" and fnat.ratio_label(2) == "2.0" and fnat.ratio_label(2.25) == "2.25"


def test_latency_is_the_median_pass_over_the_sentences_timed():
    lat = nt.latencies(fnat_speed_summary())
    assert lat[("c", "fnat_kdctc", "cpu")] == pytest.approx({"b1": 50.0, "max": 10.0, "max_batch": 32})
    assert lat[("c", "fnat_kdctc", "cuda")] == pytest.approx({"b1": 20.0, "max": 2.0, "max_batch": 32})
    assert lat[("c", "fnat_l15", "cpu")]["b1"] is None and lat[("c", "fnat_l15", "cpu")]["max"] == pytest.approx(40.0)
    alphas = nt.batch_alphas(fnat_speed_summary(), 1)
    assert alphas[("c", "fnat_kdctc", "cpu")] == pytest.approx(20.0) and alphas[("c", "fnat_kdctc", "cuda")] == pytest.approx(25.0)


def test_fully_nat_rows_land_in_their_tables_with_the_published_number_and_delta():
    markdown = fnat.tables(FNAT_ROWS, FNAT_BLEU, FNAT_PAPER, fnat_speed_summary(), FNAT_BP)
    assert markdown.startswith("# Fully-NAT tables: natpipe vs the paper")
    assert "other_fnat" not in markdown
    bleu = {name: FNAT_BLEU[("c", name)] for _, name in FNAT_BLEU}

    table2 = table_rows(markdown, "Table 2")
    assert set(table2) == {"fnat_ce", "fnat_kd", "fnat_kdctc", "fnat_vae", "fnat_glat", "at", "at12d", "CMLM10"}
    kdctc = table2["fnat_kdctc"]  # bleu ours/paper/Δ, GPU speed-up ours/paper/Δ, CPU speed-up ours
    assert kdctc[2:7] == ["FNAT", "KD+CTC", f"{bleu['fnat_kdctc']:.2f}", "26.51", f"{bleu['fnat_kdctc'] - 26.51:.2f}"]
    assert kdctc[7:11] == ["25.00", "16.80", "8.20", "20.00"]
    assert table2["fnat_ce"][3:6] == ["CE", f"{bleu['fnat_ce']:.2f}", "11.40"]
    assert table2["at12d"][3] == "data=KD" and table2["at12d"][5] == "27.34"
    assert table2["at"][3] == "default" and table2["at"][5] == "27.48" and table2["at"][7:10] == ["1.00", "1.00", "0.00"]
    assert table2["CMLM10"][5] == "27.03" and table2["fnat_glat"][5] == "27.20" and table2["fnat_vae"][7:11] == ["N/A", "16.50", "–", "N/A"]

    table3 = table_rows(markdown, "Table 3")
    assert set(table3) == {"fnat_kdctc", "fnat_vae", "fnat_beam", "fnat_beam_lm", "fnat_npd", "fnat_npd_lm", "at", "at12d"}
    vae = table3["fnat_vae"]
    gain = bleu["fnat_vae"] - bleu["fnat_kdctc"]
    assert vae[3:6] == ["KD+CTC+VAE", f"{bleu['fnat_vae']:.2f}", "18.73"]  # the JA-EN number: no Δ
    assert vae[6:9] == ["–", "–", "–"]  # SacreBLEU: none given, and an En-De row has no JA-EN paper cell
    assert vae[9:12] == [f"{gain:.2f}", "1.80", f"{gain - 1.8:.2f}"]
    assert vae[12:15] == ["0.900", "0.862", "0.038"]  # BP to the paper's three decimals
    assert vae[15:] == ["N/A", "83.00", "N/A", "11.10", "–", "N/A", "16.40", "N/A", "21.00", "–"]
    assert table3["fnat_kdctc"][9:12] == ["0.00", "0.00", "0.00"]
    assert table3["fnat_kdctc"][15:] == ["50.00", "84.00", "20.00", "11.00", "9.00", "20.00", "17.30", "25.00", "19.90", "5.10"]
    assert table3["fnat_beam_lm"][3] == "KD+CTC+VAE;decode=beam20+lm4" and table3["fnat_beam_lm"][12:15] == ["0.950", "0.954", "-0.004"]
    assert table3["at12d"][3] == "data=KD" and table3["at12d"][5] == "18.76" and table3["at12d"][9:12] == ["–", "–", "–"]

    table4 = table_rows(markdown, "Table 4")
    assert {r: cells[3] for r, cells in table4.items()} == {
        "fnat_ce": "CE", "fnat_kd": "KD", "fnat_kdctc": "KD+CTC", "fnat_vae": "KD+CTC+VAE", "fnat_vae_raw": "CTC+VAE",
        "fnat_glat": "KD+CTC+GLAT", "fnat_axe_rnd": "KD+AXE+RND"}  # greedy, lambda 3 only
    assert table4["fnat_kdctc"][4:] == [f"{bleu['fnat_kdctc']:.2f}", "26.51", f"{bleu['fnat_kdctc'] - 26.51:.2f}"]
    assert table4["fnat_axe_rnd"][5] == "22.74" and table4["fnat_vae_raw"][5] == "23.58"

    table5 = table_rows(markdown, "Table 5")
    assert {r: cells[3] for r, cells in table5.items()} == {
        "fnat_vae": "data=KD-base", "fnat_vae_raw": "data=R", "at12d": "data=KD-base", "at": "size=base"}
    assert table5["fnat_vae"][5] == "27.49" and table5["fnat_vae_raw"][5] == "23.58" and table5["at12d"][8] == "2.50"

    table6 = table_rows(markdown, "Table 6")
    assert {r: cells[3] for r, cells in table6.items()} == {"fnat_kdctc": "lambda=3.0", "fnat_l15": "lambda=1.5"}
    assert table6["fnat_kdctc"][5] == "26.51" and table6["fnat_l15"][5] == "26.16"
    assert table6["fnat_kdctc"][7:] == ["50.00", "81.80", "20.00", "17.00", "2.00", "1.32"]
    assert table6["fnat_l15"][7:] == ["N/A", "66.60", "N/A", "17.90", "N/A", "0.95"]


def test_a_table_without_rows_says_so_and_hrt_rows_stay_out_of_fully_nat_tables():
    markdown = fnat.tables(ROWS[1:3], BLEU, FNAT_PAPER, speed_summary(), {})
    assert markdown.count("(no row of this run belongs to this table)") == 5
    mixed = hrt.tables(ROWS + FNAT_ROWS[:3], {**FNAT_BLEU, **BLEU}, PAPER, speed_summary(), {})
    assert mixed == hrt.tables(ROWS, BLEU, PAPER, speed_summary(), {})  # FNAT rows are no HRT system


def test_main_dispatches_on_the_paper_and_reads_bp_from_the_summary(tmp_path, monkeypatch, capsys):
    import json
    import sys

    summary = tmp_path / "summary.csv"
    pd.DataFrame([{"corpus": "c", "system": name, "bleu_tok": value, "bp": FNAT_BP.get(("c", name)),
                   "sacrebleu": value - 1.5} for (_, name), value in FNAT_BLEU.items()]).to_csv(summary, index=False)
    speed_csv = tmp_path / "speed.csv"
    records = [{"run_id": "r", "corpus": "c", "system": system, "kind": "x", "device": "cpu", "device_name": "x",
                "threads": 1, "batching": "sorted", "alpha_from": "mean", "batch_size": 1, "grid": True, "lmax": 1,
                "run": 0, "seconds": seconds, "n_sentences": 4, "output_tokens": 1,
                "agreement": 1.0, "status": "ok"} for system, seconds in (("at", 8.0), ("fnat_vae", 0.4))]
    pd.DataFrame(records, columns=speed.COLUMNS).to_csv(speed_csv, index=False)
    out = {}
    for paper in ("fully_nat", "hrt"):
        out[paper] = tmp_path / f"{paper}.md"
        monkeypatch.setattr(sys, "argv", ["paper_tables.py", "--paper", str(REPO / "data" / "papers" / f"{paper}.csv"),
                                          "--rows", json.dumps(FNAT_ROWS), "--summary", str(summary),
                                          "--speed", str(speed_csv), "--out", str(out[paper])])
        pt.main()
    fully = out["fully_nat"].read_text(encoding="utf-8")
    vae = table_rows(fully, "Table 3")["fnat_vae"]
    assert vae[12:18] == ["0.900", "0.862", "0.038", "100.00", "83.00", "20.00"]  # BP from summary.csv; 0.4 s / 4 sentences
    assert vae[6] == f"{FNAT_BLEU[('c', 'fnat_vae')] - 1.5:.2f}"  # SacreBLEU from summary.csv
    assert out["hrt"].read_text(encoding="utf-8").startswith("# HRT tables")
    monkeypatch.setattr(sys, "argv", ["paper_tables.py", "--paper", str(tmp_path / "glat.csv"), "--rows", "[]",
                                      "--summary", str(summary), "--out", str(tmp_path / "x.md")])
    with pytest.raises(SystemExit):
        pt.run_main(pt.main)
    err = capsys.readouterr().err
    assert "no tables for paper 'glat'" in err and "fully_nat" in err and "hrt" in err


def test_the_driver_finds_a_papers_module_by_name_and_refuses_an_unknown_paper():
    assert nt.paper_module("hrt") is hrt and nt.paper_module("fully_nat") is fnat
    markdown = nt.render("hrt", ROWS, BLEU, PAPER, speed_summary(), {})
    assert markdown.startswith("# HRT tables") and table_rows(markdown, "Table 6")["hrt"][5] == "28.49"
    assert nt.render("fully_nat", FNAT_ROWS, FNAT_BLEU, FNAT_PAPER, fnat_speed_summary(), FNAT_BP).startswith(
        "# Fully-NAT tables")
    for unknown in ("glat", "at", "../hrt"):  # at: a system package without tables.py
        with pytest.raises(nt.UnknownPaper, match=f"no tables for paper '{re.escape(unknown)}'") as info:
            nt.render(unknown, ROWS, BLEU, PAPER, speed_summary(), {})
        known = str(info.value).split("(known: ")[1].rstrip(")").split(", ")
        assert {"fully_nat", "hrt"} <= set(known) and not {"at", "nat"} & set(known)


def test_a_row_meant_for_one_papers_tables_stays_out_of_the_others():
    """HRT's AT (100k steps, dropout 0.1) and Fully NAT's (300k, 0.3) are both paper_name AT."""
    ours, theirs = {**row("at_hrt", "AT"), "paper": "hrt"}, {**row("at_fnat", "AT"), "paper": "fully_nat"}
    bleu = {**BLEU, ("c", "at_hrt"): 27.0, ("c", "at_fnat"): 26.0}
    rows = [r for r in ROWS if r["row"] != "at"] + [ours, theirs]
    hrt_md = nt.render("hrt", rows, bleu, PAPER, speed_summary(), {})
    assert set(table_rows(hrt_md, "Table 6")) == {"at_hrt", "hrt"}
    fnat_md = nt.render("fully_nat", rows, bleu, nt.paper_numbers(str(REPO / "data" / "papers" / "fully_nat.csv")),
                        speed_summary(), {})
    assert "at_fnat" in fnat_md and "at_hrt" not in fnat_md


def test_hrt_table_3_puts_each_direction_beside_its_bleu_and_sacrebleu():
    """AT / AT-20L on raw data and HRT / HRT-20L on MixDistill, per language pair, both scores."""
    def de_en(r):
        return {**r, "corpus": "d", "src": "de", "tgt": "en"}

    rows = [de_en(row("at", "AT")), de_en(row("at_d", "AT", "distill")), de_en(row("at_20l", "AT-20L")),
            de_en(row("hrt", "HRT", "mixdistill", "full")), de_en(row("hrt_20l", "HRT-20L", "mixdistill")),
            de_en(row("hrt_k3", "HRT", "mixdistill", k=3)), de_en(row("hrt_raw", "HRT"))]
    bleu = {("d", r["row"]): 30.0 + i for i, r in enumerate(rows)}
    sacre = {("d", "hrt_20l"): 32.5}
    markdown = hrt.tables(rows, bleu, PAPER, speed_summary(), {}, sacrebleu=sacre)
    section = markdown.split("## Table 3")[1].split("\n## ")[0]
    table3 = {cells[1]: cells for cells in (line.rstrip(" |").split(" | ") for line in section.splitlines()
                                            if line.startswith("| d |"))}
    assert {r: cells[3] for r, cells in table3.items()} == {"at": "data=R", "at_20l": "data=R", "hrt": "data=MD",
                                                           "hrt_20l": "data=MD"}
    assert table3["at"][4:7] == ["30.00", "31.86", f"{30 - 31.86:.2f}"] and table3["at"][7:] == ["–", "31.60", "–"]
    assert table3["hrt_20l"][5] == "33.21" and table3["hrt_20l"][7:] == ["32.50", "32.90", "-0.40"]
    assert table3["at_20l"][5:9:3] == ["33.02", "32.80"] and table3["hrt"][5] == "32.28"
    assert "SAT row is a system natpipe does not implement" in section
    # the other tables report other pairs (Table 2 and 6 En->Ro / En->De, Tables 5, 8-10 En->De): a De->En row stays out
    assert all(hrt.hrt_setting(t, r) is None for r in rows for t in hrt.HRT_PAIRS if t != "table3")
    assert "| d |" not in markdown.split("## Table 3")[0] + markdown.split("## Table 4")[1]


def test_hrt_table_4_takes_its_column_from_the_runs_nist_test_set():
    def zh_en(r, test):
        return {**r, "corpus": "z", "src": "zh", "tgt": "en", "test": test}

    rows = [zh_en(row("at", "AT"), ["nist_mt05"]), zh_en(row("CMLM10", "CMLM10", "distill"), ["nist_mt05"]),
            zh_en(row("hrt", "HRT", "mixdistill", "full"), ["nist_mt05"]), zh_en(row("hrt_r", "HRT"), ["nist_mt05"]),
            row("at_ende", "AT")]  # another pair: not in Table 4
    bleu = {("z", "at"): 50.0, ("z", "CMLM10"): 49.0, ("z", "hrt"): 51.0, ("c", "at_ende"): 20.0}
    markdown = hrt.tables(rows, bleu, PAPER, speed_summary(), {})
    section = markdown.split("## Table 4")[1].split("\n## ")[0]
    table4 = {cells[1]: cells for cells in (line.rstrip(" |").split(" | ") for line in section.splitlines()
                                            if line.startswith("| "))}
    assert set(table4) - {"row"} == {"at", "CMLM10", "hrt"}
    assert table4["at"][3:] == ["test nist_mt05", "50.00", "52.91", f"{50 - 52.91:.2f}"]
    assert table4["CMLM10"][5] == "52.16" and table4["hrt"][5:] == ["53.02", f"{51 - 53.02:.2f}"]
    assert hrt.nist_metric(rows[0]) == "bleu_mt05" and hrt.nist_metric({**rows[0], "test": ["nist_mt03"]}) is None
    mt03 = hrt.tables([zh_en(row("at", "AT"), ["nist_mt03"])], bleu, PAPER, speed_summary(), {})
    assert "| z | at | AT | test nist_mt03 | 50.00 | – | – |" in mt03  # the preset's default set: no column


def test_tables_8_and_10_take_each_at_with_the_data_the_paper_trained_it_on():
    rows = [row("at", "AT"), row("at_md", "AT", "mixdistill"), row("at_20l", "AT-20L"),
            row("at121", "AT12-1"), row("at121_md", "AT12-1", "mixdistill"), row("at_big", "AT-big")]
    assert {r["row"]: hrt.hrt_setting("table8", r) for r in rows} == {
        "at": None, "at_md": "data=MD", "at_20l": "data=R", "at121": None, "at121_md": "data=MD", "at_big": None}
    assert {r["row"]: hrt.hrt_setting("table10", r) for r in rows} == {
        "at": "", "at_md": None, "at_20l": None, "at121": None, "at121_md": "", "at_big": None}
    assert all(hrt.hrt_setting(t, r) is None for r in rows for t in ("table2", "table4", "table5", "table9"))


def test_fully_nat_table_3_compares_a_ja_en_rows_sacrebleu_with_the_papers():
    ja = [{**r, "corpus": "j", "src": "ja", "tgt": "en"} for r in (frow("fnat_kdctc"), frow("FNAT_VAE_beam20_lm", vae=True,
                                                                                       ctc_beam=20, lm=True))]
    bleu = {("j", "fnat_kdctc"): 15.0, ("j", "FNAT_VAE_beam20_lm"): 19.0}
    sacre = {("j", "fnat_kdctc"): 16.0, ("j", "FNAT_VAE_beam20_lm"): 20.5}
    markdown = nt.render("fully_nat", ja, bleu, FNAT_PAPER, fnat_speed_summary(), {}, sacre)
    section = markdown.split("## Table 3")[1].split("\n## ")[0]
    table3 = {cells[1]: cells for cells in (line.rstrip(" |").split(" | ") for line in section.splitlines()
                                            if line.startswith("| j |"))}
    assert table3["FNAT_VAE_beam20_lm"][3:12] == ["KD+CTC+VAE;decode=beam20+lm4", "19.00", "21.41", "20.50", "21.41",
                                                 "-0.91", "4.00", "4.48", "-0.48"]
    assert table3["fnat_kdctc"][6:9] == ["16.00", "16.93", "-0.93"]
    # Tables 2 and 4-6 are WMT / En->De: a Ja->En row is in none of them
    assert all(fnat.fully_nat_setting(t, r) is None for r in ja for t in ("table2", "table4", "table5", "table6"))
