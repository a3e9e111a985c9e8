"""Speed protocol arithmetic: mean, median and sd, alpha only within one run and device, the Table 10
layout; fairseq-generate's length-sorted batches; the Lmax probe; the speed jobs (speed.rows_per_job
rows each) and the corpus table gathered from their CSVs; the runtime estimate of a job."""
import math
from pathlib import Path

import pandas as pd
import pytest

import speed


def timings(run_id, device, system, batch, seconds, status="ok", agreement=1.0, grid=True, lmax=32,
            alpha_from="mean"):
    return [{"run_id": run_id, "corpus": "c", "system": system, "kind": "at", "device": device, "device_name": "x",
             "threads": 2, "batching": "sorted", "alpha_from": alpha_from, "batch_size": batch, "grid": grid,
             "lmax": lmax, "run": i, "seconds": s, "n_sentences": 100, "output_tokens": 900,
             "agreement": agreement, "status": status} for i, s in enumerate(seconds)]


def table(records):
    return pd.DataFrame([r for group in records for r in group], columns=speed.COLUMNS)


def test_alpha_is_the_ratio_of_means_from_the_same_run_and_device():
    data = table([
        timings("r1", "cpu", "AT", 1, [10.0, 12.0, 11.0]), timings("r1", "cpu", "CMLM4", 1, [5.0, 5.5, 4.0]),
        timings("r1", "cuda", "AT", 1, [2.0, 2.0, 2.0]), timings("r1", "cuda", "CMLM4", 1, [0.5, 0.5, 0.5]),
        # another run of the reference must not leak into r1's alpha
        timings("r2", "cpu", "AT", 1, [100.0, 100.0, 100.0]),
    ])
    summary = speed.summarize(data, "AT").set_index(["run_id", "device", "system", "batch_size"])
    assert summary.loc[("r1", "cpu", "CMLM4", 1), "alpha"] == pytest.approx(11.0 / (14.5 / 3))
    assert summary.loc[("r1", "cuda", "CMLM4", 1), "alpha"] == pytest.approx(4.0)
    assert summary.loc[("r1", "cpu", "AT", 1), "alpha"] == pytest.approx(1.0)
    assert summary.loc[("r1", "cpu", "CMLM4", 1), "spread_pct"] == pytest.approx(100 * 1.5 / 5.0)


def test_latency_and_throughput_use_batch_one_and_the_largest_batch_that_ran():
    data = table([timings("r", "cuda", "AT", 1, [20.0]), timings("r", "cuda", "AT", 8, [4.0]),
                  timings("r", "cuda", "AT", 32, [float("nan")], status="oom", agreement=float("nan"))])
    data["lmax"] = 8  # the probe: B=16 ran out of memory
    summary = speed.summarize(data, "AT")
    lat = speed.latency_throughput(summary).iloc[0]
    assert lat["L1_ms"] == pytest.approx(200.0) and lat["Lmax_batch"] == 8
    assert lat["Lmax_sent_per_s"] == pytest.approx(25.0)
    markdown = speed.markdown(summary, data, "AT")
    row = next(line for line in markdown.splitlines() if line.startswith("| AT |"))
    assert "N/A" in row and "20.00" in row and "| yes |" in row  # the batch that did not fit, as Table 10


def test_disagreeing_outputs_are_reported_not_hidden():
    data = table([timings("r", "cpu", "AT", 1, [1.0]), timings("r", "cpu", "NAT", 1, [1.0]),
                  timings("r", "cpu", "NAT", 8, [0.5], agreement=0.97)])
    row = next(line for line in speed.markdown(speed.summarize(data, "AT"), data, "AT").splitlines()
               if line.startswith("| NAT |"))
    assert "no (97.0%)" in row


def test_missing_reference_is_an_error():
    data = table([timings("r", "cpu", "NAT", 1, [1.0])])
    with pytest.raises(speed.PipelineError, match="reference row 'AT'"):
        speed.summarize(data, "AT")
    assert not math.isnan(speed.summarize(data, "NAT")["alpha"].iloc[0])


def test_mean_median_and_sample_sd_by_hand_and_alpha_from_either():
    """Runs 1, 2, 6 s: mean 3, median 2, sd sqrt(((1-3)^2 + (2-3)^2 + (6-3)^2) / 2) = sqrt(7) (the
    sample sd, ddof=1); the reference's runs 3, 3, 3: alpha 3/3 from the mean, 3/2 from the median."""
    for alpha_from, alpha in (("mean", 1.0), ("median", 1.5)):
        data = table([timings("r", "cpu", "AT", 1, [3.0, 3.0, 3.0], alpha_from=alpha_from),
                      timings("r", "cpu", "NAT", 1, [1.0, 2.0, 6.0], alpha_from=alpha_from)])
        summary = speed.summarize(data, "AT")
        nat = summary.set_index("system").loc["NAT"]
        assert (nat["mean"], nat["median"], nat["fastest"], nat["slowest"]) == (3.0, 2.0, 1.0, 6.0)
        assert nat["sd"] == pytest.approx(math.sqrt(7)) and nat["spread_pct"] == pytest.approx(250.0)
        assert nat["alpha"] == pytest.approx(alpha) and nat["time"] == {"mean": 3.0, "median": 2.0}[alpha_from]
        markdown = speed.markdown(summary, data, "AT")
        assert f"α from the {alpha_from} of 3 runs" in markdown
        assert "batches of B in fairseq-generate's length-sorted order" in markdown
        row = next(line for line in markdown.splitlines() if line.startswith("| NAT |")).split(" | ")
        assert row[1:3] == ["3.00 ± 2.65 (median 2.00)", f"{alpha:.2f}"]
    one_run = speed.summarize(table([timings("r", "cpu", "AT", 1, [3.0])]), "AT")
    assert math.isnan(one_run["sd"].iloc[0]) and "3.00 ± – (median 3.00)" in speed.markdown(
        one_run, table([timings("r", "cpu", "AT", 1, [3.0])]), "AT")
    with pytest.raises(speed.PipelineError, match="alpha_from"):
        speed.summarize(table([timings("r", "cpu", "AT", 1, [3.0], alpha_from="mode")]), "AT")


def test_lmax_is_timed_at_the_probed_size_and_average_alpha_stays_on_the_grid():
    """Grid 1 and 8, Lmax probed at 64 (grid False): L1 at 1, Lmax at 64 (even though B=8 is the
    largest grid size), Avg α over 1 and 8 only, in speed.md and in the paper tables' mean_alphas."""
    from natpipe.tables import latencies, mean_alphas

    data = table([timings("r", "cpu", "AT", 1, [10.0], lmax=64), timings("r", "cpu", "AT", 8, [5.0], lmax=64),
                  timings("r", "cpu", "AT", 64, [4.0], grid=False, lmax=64),
                  timings("r", "cpu", "NAT", 1, [1.0], lmax=64), timings("r", "cpu", "NAT", 8, [2.5], lmax=64),
                  timings("r", "cpu", "NAT", 64, [0.5], grid=False, lmax=64)])
    summary = speed.summarize(data, "AT")
    lat = speed.latency_throughput(summary).set_index("system")
    assert lat.loc["NAT", "Lmax_batch"] == 64 and lat.loc["NAT", "Lmax_sent_per_s"] == pytest.approx(200.0)
    assert latencies(summary.assign(corpus="c"))[("c", "NAT", "cpu")] == {"b1": 10.0, "max": 5.0, "max_batch": 64}
    assert mean_alphas(summary.assign(corpus="c"))[("c", "NAT", "cpu")] == pytest.approx((10.0 + 2.0) / 2)
    lines = speed.markdown(summary, data, "AT").splitlines()
    assert next(line for line in lines if line.startswith("| System |")).count("B=") == 4  # B=1, B=8: time and α
    row = next(line for line in lines if line.startswith("| NAT |")).split(" | ")
    assert row[5] == "6.00" and row[7] == "200.0 (B=64)"


class Recorder:
    """A system that records the batches it is asked to translate (each sentence's output: its id)."""

    def __init__(self, dataset=None, fails_from=None):
        self.dataset, self.fails_from, self.batches = dataset, fails_from, []

    def translate(self, ids):
        import torch

        self.batches.append(list(ids))
        if self.fails_from is not None and len(ids) >= self.fails_from:
            raise torch.cuda.OutOfMemoryError("simulated")
        return {i: [i] for i in ids}


def toy_dataset():
    """A fairseq LanguagePairDataset of 11 pairs with ties in source length (broken by the target
    length) and in both (kept in corpus order), not shuffled: fairseq-generate's test split."""
    import torch
    from fairseq.data import Dictionary, LanguagePairDataset

    vocab = Dictionary()
    word = vocab.add_symbol("w")
    lengths = [(5, 3), (2, 2), (5, 1), (7, 4), (2, 2), (1, 6), (5, 3), (3, 3), (9, 9), (2, 1), (4, 4)]
    src = [torch.tensor([word] * s + [vocab.eos()]) for s, _ in lengths]
    tgt = [torch.tensor([word] * t + [vocab.eos()]) for _, t in lengths]
    dataset = LanguagePairDataset(src, [len(x) for x in src], vocab, tgt, [len(x) for x in tgt], vocab, shuffle=False)
    return dataset, vocab


def test_sorted_batches_are_fairseq_generates_and_corpus_batches_are_consecutive_ids():
    """The harness's batches at B = 1, 3, 4 equal those of fairseq's own batch iterator
    (task.get_batch_iterator, as fairseq-generate --batch-size B builds them); corpus order cuts
    ids[k:k+B]; the first N sentences keep fairseq's order among themselves."""
    from fairseq.tasks.translation import TranslationConfig, TranslationTask

    dataset, vocab = toy_dataset()
    task = TranslationTask(TranslationConfig(), vocab, vocab)
    n = len(dataset)
    ids = list(range(n))
    for size in (1, 3, 4):
        iterator = task.get_batch_iterator(dataset=dataset, max_sentences=size, required_batch_size_multiple=1,
                                           seed=1, disable_iterator_cache=True).next_epoch_itr(shuffle=False)
        fairseq_batches = [sorted(sample["id"].tolist()) for sample in iterator]
        assert len(fairseq_batches) == math.ceil(n / size)
        for batching, expected in (("sorted", fairseq_batches), ("corpus", [ids[k:k + size] for k in range(0, n, size)])):
            system = Recorder(dataset)
            runs = list(speed.time_system(system, speed.batch_order(dataset, n, batching), [size], runs=1, warmup=0,
                                          device="cpu"))
            assert [sorted(b) for b in system.batches] == expected and runs[0][3] == {i: [i] for i in ids}
    assert speed.batch_order(dataset, n, "sorted") == [5, 9, 1, 4, 7, 10, 2, 0, 6, 3, 8]  # by source, then target
    assert speed.batch_order(dataset, 5, "sorted") == [1, 4, 2, 0, 3]


def test_lmax_probe_stops_at_the_first_out_of_memory_the_cap_or_the_sentences():
    """From the grid's largest B, doubling with the B longest sentences (longest first) once each."""
    longest = list(range(1000))
    gpu = Recorder(fails_from=100)
    assert speed.probe_lmax(gpu, longest, 32, 4096) == 64 and [len(b) for b in gpu.batches] == [32, 64, 128]
    assert gpu.batches[1] == longest[:64]
    cpu = Recorder()
    assert speed.probe_lmax(cpu, longest, 32, 256) == 256 and [len(b) for b in cpu.batches] == [32, 64, 128, 256]
    small = Recorder()
    assert speed.probe_lmax(small, longest[:100], 32, 4096) == 100 and [len(b) for b in small.batches] == [32, 64, 100]
    assert speed.probe_lmax(Recorder(fails_from=32), longest, 32, 4096) is None
    # device_lmax: no probe when the grid's largest B already holds the whole set; the largest grid
    # size that ran when not even that B fits
    whole = Recorder()
    assert speed.device_lmax(whole, longest[:32], [1, 8, 32], [1, 8, 32], 256) == 32 and whole.batches == []
    assert speed.device_lmax(Recorder(fails_from=32), longest, [1, 8, 32], [1, 8], 4096) == 8


def test_a_tiny_models_outputs_are_the_same_in_both_orders(tiny_run):
    """Length-sorted or corpus-order batches: every sentence translated identically (token ids)."""
    import json

    from fairseq_args import generate_args
    from tiny_workflow import TINY, TINY_CMLM

    from natpipe.decoding.systems import load_system

    corpus = tiny_run / "results/tiny_en_de"
    for spec, model in ((TINY, "at_tiny"), (TINY_CMLM, "cmlm_tiny")):
        system = load_system(generate_args(json.loads(json.dumps(spec)), str(corpus / "data-bin"), "en", "de",
                                           str(corpus / model / "checkpoint.avg.pt"), "bpe", "test", gpus=0))
        outputs = {batching: next(speed.time_system(system, speed.batch_order(system.dataset, 12, batching), [4],
                                                     runs=1, warmup=0, device="cpu"))[3]
                   for batching in ("sorted", "corpus")}
        assert speed.batch_order(system.dataset, 12, "sorted") != list(range(12))  # the orders differ
        assert outputs["sorted"] == outputs["corpus"] and len(outputs["sorted"]) == 12


def test_a_gpu_granted_to_the_speed_job_is_timed_or_refused(monkeypatch):
    import torch

    from common import PipelineError

    assert speed.timing_devices(want_gpu=True, granted_gpus=0) == [speed.CPU]
    assert speed.timing_devices(want_gpu=False, granted_gpus=1) == [speed.CPU]  # speed.gpu: false
    with pytest.raises(PipelineError, match="cpu_fallback"):  # this torch cannot use a GPU
        speed.timing_devices(want_gpu=True, granted_gpus=1)
    assert speed.timing_devices(want_gpu=True, granted_gpus=1, cpu_fallback=True) == [speed.CPU]
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert speed.timing_devices(want_gpu=True, granted_gpus=1) == [speed.CPU, speed.GPU]


def test_two_devices_are_timed_and_reported_apart(tiny_run, monkeypatch):
    """The harness's GPU path without a GPU: the "cuda" label is mapped onto torch device cpu:0.
    Every row (an NPD row with its teacher among them) runs on both devices; alpha on each device
    comes from that device's means; a batch that runs out of GPU memory is N/A there only. The CSV
    names the batching and the statistic alpha comes from, and Lmax: on the CPU the probe reaches
    the 8 timed sentences (timed as the extra size B=8, grid False); on the "GPU" B=4 runs out of
    memory, so Lmax is the largest grid size that ran, 1."""
    import argparse
    import copy

    import torch
    from tiny_workflow import TINY, TINY_CMLM, TINY_FNAT

    from natpipe.decoding.systems import LoadedSystem

    corpus = tiny_run / "results/tiny_en_de"
    avg = {m: str(corpus / m / "checkpoint.avg.pt") for m in ("at_tiny", "cmlm_tiny", "fnat_tiny")}
    npd = copy.deepcopy(TINY_FNAT)
    npd["generate"] = {"ctc_beam": 1, "npd": 3, "npd_teacher_checkpoint": avg["at_tiny"]}
    rows = [{"name": "at_tiny", "model": TINY, "checkpoint": avg["at_tiny"]},
            {"name": "CMLM4", "model": TINY_CMLM, "checkpoint": avg["cmlm_tiny"]},
            {"name": "FNAT_npd", "model": npd, "checkpoint": avg["fnat_tiny"]}]
    args = argparse.Namespace(data_bin=str(corpus / "data-bin"), src="en", tgt="de", subword="bpe", corpus="tiny",
                              batch_sizes=[1, 4], runs=2, warmup_batches=1, max_sentences=8, threads=2,
                              batching="sorted", alpha_from="mean", lmax_cap_cpu=256, lmax_cap_gpu=4096)
    translate = LoadedSystem.translate

    def out_of_gpu_memory_at_4(self, ids):
        if self.device == "cpu:0" and len(ids) == 4:
            raise torch.cuda.OutOfMemoryError("simulated")
        return translate(self, ids)

    monkeypatch.setattr(LoadedSystem, "translate", out_of_gpu_memory_at_4)
    data = speed.measure(rows, args, [speed.CPU, ("cuda", "cpu:0")])
    ok = data[data["status"] == "ok"]
    assert len(ok[ok["device"] == "cpu"]) == 3 * 3 * 2 and len(ok[ok["device"] == "cuda"]) == 3 * 1 * 2
    assert set(data[data["status"] == "oom"][["device", "batch_size"]].itertuples(index=False)) == {("cuda", 4)}
    assert list(data.columns) == speed.COLUMNS and data[["batching", "alpha_from", "grid", "lmax"]].notna().all().all()
    assert (data["batching"] == "sorted").all() and (data["alpha_from"] == "mean").all()
    assert (data["lmax"] == data["device"].map({"cpu": 8, "cuda": 1})).all()
    assert (data["grid"] == (data["batch_size"] != 8)).all() and set(data[~data["grid"]]["device"]) == {"cpu"}
    # the 30-update CTC model may emit only blanks: an empty output is still a whole decoding pass
    assert (ok["agreement"] == 1.0).all() and (ok[ok["system"] != "FNAT_npd"]["output_tokens"] > 0).all()
    summary = speed.summarize(data, "at_tiny").set_index(["device", "system", "batch_size"])
    mean = ok.groupby(["device", "system", "batch_size"])["seconds"].mean()
    for device in ("cpu", "cuda"):
        assert summary.loc[(device, "FNAT_npd", 1), "alpha"] == pytest.approx(
            mean[(device, "at_tiny", 1)] / mean[(device, "FNAT_npd", 1)])
    lat = speed.latency_throughput(speed.summarize(data, "at_tiny")).set_index(["device", "system"])
    assert lat.loc[("cpu", "CMLM4"), "Lmax_batch"] == 8 and lat.loc[("cuda", "CMLM4"), "Lmax_batch"] == 1
    markdown = speed.markdown(speed.summarize(data, "at_tiny"), data, "at_tiny")
    gpu_part = markdown.split("## On CUDA")[1]
    assert "## On CPU" in markdown.split("## On CUDA")[0]
    assert all(f"| {r['name']} |" in gpu_part and "N/A" in gpu_part.split(f"| {r['name']} |")[1].split("\n")[0]
               for r in rows)


# -- the speed jobs, the corpus's table from the jobs' CSVs -------------------------------------------


@pytest.mark.parametrize("rows_per_job", [None, 1, 5])
def test_each_row_has_a_speed_job_that_times_it_with_the_reference(rows_per_job, tmp_path):
    """`snakemake speed`: measure_speed jobs that each time the reference and their rows in one
    invocation, and one speed_table job over every job's CSV that writes the corpus's speed.csv /
    .md / figure. speed.rows_per_job 1: one job per evaluation row, and the reference's own that
    times it alone; 5: the other rows five to a job; the default config: all rows in one job."""
    import json
    import re
    import shlex

    import yaml

    from conftest import REPO, snakemake

    extra = []
    if rows_per_job:
        override = tmp_path / "speed.yaml"
        override.write_text(yaml.safe_dump({"corpora": {"sample_en_de": {"speed": {"rows_per_job": rows_per_job}}}}))
        extra = ["--configfile", str(override)]
    out = snakemake("-n", "-p", "--forceall", "speed", *extra, check=True).stdout
    jobs = [job for job in out.split("\n\n") if re.search(r"rule (measure_speed|speed_table):", job)]
    timed, table = {}, []
    for job in jobs:
        command = shlex.split(job[job.index("python "):].split(" > ")[0])
        if "rule measure_speed:" in job:
            output = re.search(r"output: (\S+)", job).group(1)
            rows = [row["name"] for row in json.loads(command[command.index("--rows") + 1])]
            assert command[command.index("--csv") + 1] == output and command[2] == "measure"
            timed[output.rsplit("/", 1)[1].removesuffix(".csv")] = rows
        else:
            table.append(command)
    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    corpus = config["corpora"]["sample_en_de"]
    # each model's rows, then an AT's CTranslate2 rows (one per CPU compute type: no GPU here)
    rows = [row for s in corpus["systems"] for row in list(config["models"][s].get("variants") or [s])
            + ([f"{s}_ct2_{t}" for t in config["ctranslate2"]["cpu"]] if config["models"][s]["kind"] == "at" else [])]
    reference = corpus["teacher"]  # speed.reference is null
    others = [row for row in rows if row != reference]
    assert rows[:3] == [reference, "at_sample_ct2_float32", "at_sample_ct2_int8"] and len(others) == 8
    if rows_per_job == 1:
        expected = {row: [reference] if row == reference else [reference, row] for row in rows}
    else:
        k = rows_per_job or corpus["speed"]["rows_per_job"]  # config.yaml: all rows in one job
        expected = {others[i]: [reference, *others[i:i + k]] for i in range(0, len(others), k)}
        assert len(expected) == (1 if rows_per_job is None else 2)
    assert timed == expected
    assert len(table) == 1 and table[0][2] == "aggregate"
    command = table[0]
    assert command[-len(expected):] == [f"results/sample_en_de/speed/{job}.csv" for job in expected]
    assert [command[command.index(flag) + 1] for flag in ("--reference", "--csv", "--table", "--figure")] == [
        reference, "results/sample_en_de/speed.csv", "results/sample_en_de/speed.md",
        "results/sample_en_de/figures/acceleration.png"]


def job_csv(path, run_id, timed):
    """A speed job's CSV written by hand: timed = {system: {(device, batch): [seconds per run]}}."""
    records = [{"run_id": run_id, "corpus": "c", "system": system, "kind": "at", "device": device,
                "device_name": f"node-{run_id}", "threads": 2, "batching": "sorted", "alpha_from": "mean",
                "batch_size": batch, "grid": True, "lmax": 8, "run": i, "seconds": s,
                "n_sentences": 100, "output_tokens": 900, "agreement": 1.0, "status": "ok"}
               for system, cells in timed.items() for (device, batch), seconds in cells.items()
               for i, s in enumerate(seconds)]
    pd.DataFrame(records, columns=speed.COLUMNS).to_csv(path, index=False)
    return str(path)


def test_the_speed_table_is_built_from_the_jobs_csvs_with_alpha_from_each_job(tmp_path):
    """Three jobs written by hand: the reference AT alone, then NAT and CMLM each with the AT. The
    corpus CSV is all their rows; alpha pairs each row with the AT of its own job (not the AT's own
    job, nor another's), in speed.md and in the paper tables' reading of speed.csv."""
    import argparse

    from natpipe.tables import mean_alphas, speed_summaries

    inputs = [
        job_csv(tmp_path / "AT.csv", "r0", {"AT": {("cpu", 1): [20.0, 20.0, 20.0], ("cpu", 8): [8.0, 8.0, 8.0]}}),
        job_csv(tmp_path / "NAT.csv", "r1", {"AT": {("cpu", 1): [10.0, 12.0, 11.0], ("cpu", 8): [6.0, 6.0, 6.0]},
                                             "NAT": {("cpu", 1): [2.0, 2.2, 1.8], ("cpu", 8): [3.0, 3.0, 3.0]}}),
        job_csv(tmp_path / "CMLM.csv", "r2", {"AT": {("cpu", 1): [30.0, 30.0, 30.0], ("cpu", 8): [9.0, 9.0, 9.0]},
                                              "CMLM": {("cpu", 1): [10.0, 10.0, 10.0], ("cpu", 8): [9.0, 9.0, 9.0]}}),
    ]
    out = {key: str(tmp_path / name) for key, name in (("csv", "speed.csv"), ("table", "speed.md"),
                                                        ("figure", "acceleration.png"))}
    speed.aggregate_main(argparse.Namespace(rows=inputs, reference="AT", **out))

    table = pd.read_csv(out["csv"])
    assert list(table.columns) == speed.COLUMNS and len(table) == 6 + 12 + 12
    assert list(table.groupby("run_id", sort=False)["system"].unique().map(sorted)) == [["AT"], ["AT", "NAT"], ["AT", "CMLM"]]
    # alpha by hand: NAT's job AT medians 11 (B=1) and 6 (B=8), NAT's 2 and 3; CMLM's job 30/10 and 9/9
    expected = {("NAT", 1): 5.5, ("NAT", 8): 2.0, ("CMLM", 1): 3.0, ("CMLM", 8): 1.0, ("AT", 1): 1.0, ("AT", 8): 1.0}
    summary = speed_summaries([out["csv"]], {"c": "AT"})
    for (system, batch), alpha in expected.items():
        assert (summary[(summary["system"] == system) & (summary["batch_size"] == batch)]["alpha"] == alpha).all()
    assert mean_alphas(summary) == {("c", "AT", "cpu"): 1.0, ("c", "CMLM", "cpu"): 2.0, ("c", "NAT", "cpu"): 3.75}
    lines = {line.split(" | ")[0]: line.split(" | ") for line in Path(out["table"]).read_text().splitlines()
             if line.startswith("| ")}
    assert lines["| NAT"][1:5] == ["2.00 ± 0.20 (median 2.00)", "5.50", "3.00 ± 0.00 (median 3.00)", "2.00"]
    assert lines["| NAT"][5] == "3.75"
    assert lines["| AT"][1:5] == ["20.00 ± 0.00 (median 20.00)", "1.00", "8.00 ± 0.00 (median 8.00)", "1.00"]  # own job
    assert lines["| CMLM"][1:5] == ["10.00 ± 0.00 (median 10.00)", "3.00", "9.00 ± 0.00 (median 9.00)", "1.00"]
    assert len(lines) == 4  # + the header
    assert "node-r0; node-r1; node-r2" in Path(out["table"]).read_text()  # the nodes the jobs ran on
    assert Path(out["figure"]).read_bytes()[:4] == b"\x89PNG"


def test_a_job_of_several_rows_gives_each_its_alpha_and_the_reference_its_first_run(tmp_path):
    """speed.rows_per_job > 1: two jobs of two rows each, no job of the reference alone. Each row's
    alpha pairs it with the reference of its own job; the reference's line is its first job's."""
    import argparse

    inputs = [job_csv(tmp_path / "NAT.csv", "r1", {"AT": {("cpu", 1): [10.0, 10.0]}, "NAT": {("cpu", 1): [2.0, 2.0]},
                                                   "CMLM": {("cpu", 1): [5.0, 5.0]}}),
              job_csv(tmp_path / "HRT.csv", "r2", {"AT": {("cpu", 1): [12.0, 12.0]}, "HRT": {("cpu", 1): [8.0, 8.0]},
                                                   "CTC": {("cpu", 1): [3.0, 3.0]}})]
    table, own = speed.gather(inputs, "AT")
    assert own == {"NAT": "r1", "CMLM": "r1", "HRT": "r2", "CTC": "r2", "AT": "r1"} and len(table) == 12
    out = {key: str(tmp_path / name) for key, name in (("csv", "speed.csv"), ("table", "speed.md"),
                                                        ("figure", "acceleration.png"))}
    speed.aggregate_main(argparse.Namespace(rows=inputs, reference="AT", **out))
    lines = {line.split(" | ")[0]: line.split(" | ") for line in Path(out["table"]).read_text().splitlines()
             if line.startswith("| ")}
    # alpha by hand: 10/2, 10/5 in the first job, 12/8, 12/3 in the second; the AT's line from r1
    assert [lines[f"| {row}"][2] for row in ("NAT", "CMLM", "HRT", "CTC", "AT")] == ["5.00", "2.00", "1.50", "4.00", "1.00"]
    assert lines["| AT"][1] == "10.00 ± 0.00 (median 10.00)" and len(lines) == 6  # + the header
    with pytest.raises(speed.PipelineError, match="row 'CMLM' or run r3 appears twice"):
        speed.gather([inputs[0], job_csv(tmp_path / "again.csv", "r3", {"AT": {("cpu", 1): [1.0]},
                                                                        "CMLM": {("cpu", 1): [1.0]}})], "AT")


def test_a_csv_that_is_not_one_speed_job_is_refused(tmp_path):
    two_runs = tmp_path / "two.csv"
    pd.concat([pd.read_csv(job_csv(tmp_path / f"{r}.csv", r, {"AT": {("cpu", 1): [1.0]}, "NAT": {("cpu", 1): [1.0]}}))
               for r in ("r1", "r2")]).to_csv(two_runs, index=False)
    with pytest.raises(speed.PipelineError, match="not one speed job's CSV"):
        speed.gather([str(two_runs)], "AT")
    no_reference = job_csv(tmp_path / "nat.csv", "r3", {"NAT": {("cpu", 1): [1.0]}})
    with pytest.raises(speed.PipelineError, match="not one speed job's CSV"):
        speed.gather([no_reference], "AT")
    same = job_csv(tmp_path / "same.csv", "r4", {"AT": {("cpu", 1): [1.0]}, "NAT": {("cpu", 1): [1.0]}})
    with pytest.raises(speed.PipelineError, match="appears twice"):
        speed.gather([same, same], "AT")


# -- the runtime estimate -----------------------------------------------------------------------------

BASE_AT = {"kind": "at", "arch": "transformer", "encoder_layers": 6, "decoder_layers": 6, "embed_dim": 512,
           "ffn_dim": 2048, "generate": {"beam": 5}}


def test_the_estimate_of_a_base_at_is_hrt_table_10():
    """Transformer-Base AT, beam 5, newstest2014's 3,003 sentences, one pass at B = 1/8/16/32:
    Table 10's seconds (CPU 1118 + 314.1 + 246.3 + 201.3, GPU 857.2 + 137.8 + 73.1 + 40.1) with the
    paper's 16 CPU threads; 2 threads count 8x on the CPU; job start and model loading on top."""
    from natpipe.speed_estimate import LOAD_S, START_S, job_seconds

    def estimate(**kw):
        args = {"sentences": 3003, "batch_sizes": [1, 8, 16, 32], "runs": 1, "warmup_batches": 0, "threads": 16,
                "gpu": False, **kw}
        return job_seconds([BASE_AT], **args) - START_S - LOAD_S

    assert estimate() == pytest.approx(1879.7)
    assert estimate(gpu=True) == pytest.approx(1879.7 + 1108.2)
    assert estimate(threads=2) == pytest.approx(8 * 1879.7)
    assert estimate(runs=5, warmup_batches=2, batch_sizes=[32]) == pytest.approx(201.3 / 3003 * (5 * 3003 + 64))
    assert estimate(batch_sizes=[12]) == pytest.approx(314.1)  # a batch size Table 10 lacks: the next smaller one's
    assert estimate(sentences=300) == pytest.approx(1879.7 * 300 / 3003)


def test_the_estimate_counts_the_lmax_probe_and_size():
    """Lmax on 3,003 sentences: probes 32, 64, 128, 256 (each of the longest sentences, costed
    LONGEST_FACTOR x), then B=256 timed like a grid size at B=32's per-sentence cost (Table 10's
    largest); nothing is probed when the grid's largest B holds every sentence."""
    from natpipe.speed_estimate import LONGEST_FACTOR, job_seconds, lmax_probes

    assert lmax_probes(3003, [1, 8, 16, 32], 256) == ([32, 64, 128, 256], 256)
    assert lmax_probes(3003, [1, 8, 16, 32], 4096) == ([32, 64, 128, 256, 512, 1024, 2048, 3003], 3003)
    assert lmax_probes(32, [1, 8, 16, 32], 256) == ([], 32) and lmax_probes(300, [1, 512], 256) == ([], 512)
    args = {"sentences": 3003, "batch_sizes": [1, 8, 16, 32], "runs": 1, "warmup_batches": 0, "threads": 16,
            "gpu": False}
    extra = job_seconds([BASE_AT], **args, lmax_cap={"cpu": 256, "gpu": 4096}) - job_seconds([BASE_AT], **args)
    assert extra == pytest.approx(201.3 / 3003 * (LONGEST_FACTOR * (32 + 64 + 128 + 256) + 3003))
    assert job_seconds([BASE_AT], **{**args, "sentences": 32}, lmax_cap={"cpu": 256, "gpu": 4096}) == pytest.approx(
        job_seconds([BASE_AT], **{**args, "sentences": 32}))


def test_the_estimate_follows_the_row_kind_size_and_decoding():
    from natpipe.registry import System
    from natpipe.speed_estimate import sentence_seconds

    def per_sentence(model, device="cpu", batch=1):
        return sentence_seconds(model, device, batch, threads=16)

    at = per_sentence(BASE_AT)
    assert at == pytest.approx(1118.0 / 3003)
    assert per_sentence({**BASE_AT, "generate": {"beam": 10}}) == pytest.approx(2 * at)
    assert per_sentence({**BASE_AT, "generate": {"beam": 1}}) == pytest.approx(at)  # never cheaper for a smaller beam
    assert per_sentence({**BASE_AT, "encoder_layers": 20}) == pytest.approx(at * (0.3 * 20 + 6) / (0.3 * 6 + 6))
    assert per_sentence({**BASE_AT, "embed_dim": 1024, "ffn_dim": 4096}) == pytest.approx(4 * at)  # FLOPs on the CPU
    assert per_sentence({**BASE_AT, "embed_dim": 1024, "ffn_dim": 4096}, "gpu") == pytest.approx(2 * 857.2 / 3003)
    assert per_sentence({**BASE_AT, "embed_dim": 256, "ffn_dim": 1024}) == pytest.approx(at)  # never cheaper: narrower
    cmlm = {**BASE_AT, "kind": "cmlm", "generate": {"beam": 5, "iterations": 4}}
    assert per_sentence(cmlm) == pytest.approx(635.1 / 3003)  # Table 10's CMLM4
    assert per_sentence({**cmlm, "generate": {"beam": 5, "iterations": 7}}) == pytest.approx((635.1 + 1390.9) / 2 / 3003)
    hrt = {**BASE_AT, "kind": "hrt", "chunk_size": 3, "generate": {"beam": 5, "b_nat": 1}}
    assert per_sentence(hrt, "gpu", 32) == pytest.approx(18.2 / 3003)  # HRT k=3
    # HRT b_nat=5 ran out of GPU memory at B=32 in Table 10: its B=16 figure stands in
    assert per_sentence({**hrt, "generate": {"beam": 5, "b_nat": 5}}, "gpu", 32) == pytest.approx(46.5 / 3003)
    fnat = {**BASE_AT, "kind": "fnat", "loss": "ctc", "upsample_ratio": 3.0,
            "generate": {"ctc_beam": 1, "npd": 1, "lm": False}}
    cmlm1 = 207.3 / 3003
    assert per_sentence(fnat) == pytest.approx(cmlm1)
    assert per_sentence({**fnat, "generate": {"ctc_beam": 1, "npd": 5, "lm": False}}) == pytest.approx(6 * cmlm1)
    assert per_sentence({**fnat, "generate": {"ctc_beam": 20, "npd": 1, "lm": True}}) == pytest.approx(cmlm1 + 0.3)
    unknown = {**BASE_AT, "kind": "toy"}
    assert System().speed_cost(unknown).table10[0][0] == "*"  # a kind that says nothing: the slowest system

    from natpipe import speed_estimate

    assert speed_estimate.anchor_seconds("*", "", "cpu", 1) == 1390.9  # CMLM10


def preset_workflow(preset, **extra):
    """The Workflow of config.yaml overlaid by configs/<preset>.yaml, as `snakemake --configfile` builds it."""
    import yaml
    from snakemake.utils import update_config

    from conftest import REPO
    from natpipe.workflow import Workflow

    config = yaml.safe_load((REPO / "config.yaml").read_text(encoding="utf-8"))
    if preset:
        update_config(config, yaml.safe_load((REPO / "configs" / f"{preset}.yaml").read_text(encoding="utf-8")))
    update_config(config, extra)
    return Workflow(config)


@pytest.mark.parametrize("preset", [None] + sorted(p.stem for p in (Path(__file__).parent.parent / "configs").glob("*.yaml")))
def test_every_speed_job_of_every_preset_is_estimated_within_its_limit(preset):
    w = preset_workflow(preset)  # the check of the dry run passes
    limit = w.job_spec("measure_speed")["runtime"]
    for corpus in w.run:
        estimates = {job: w.speed_job_estimate_s(corpus, job) for job in w.speed_jobs(corpus)}
        timed = {row for job in estimates for row in w.speed_job_rows(corpus, job)}
        assert timed == set(w.rows_of(corpus)) | {w.speed_reference(corpus)}
        assert all(0 < s <= 60 * limit for s in estimates.values())


def test_a_speed_job_over_its_limit_fails_the_dry_run_naming_it_and_what_to_change(tmp_path):
    import yaml

    from conftest import snakemake
    from natpipe.registry import ConfigError

    # wmt14_en_de timed with 2 CPU threads: XLM-D's T = 8, s = 3 row (XLMD Table 5) would take days; the preset
    # raises the limit to 2520 min for that row at its 16 threads. 108 jobs: 96 rows, and 3 AT models (teacher,
    # speed reference, AT12-1) x 4 CTranslate2 compute types (the preset decodes on GPUs)
    with pytest.raises(ConfigError, match=r"config key compute.resources.measure_speed.runtime: \d+ of the 108 speed "
                       r"jobs of corpus wmt14_en_de are estimated over their limit of 2520 min; the longest, "
                       r"row 'xlmd_m0_s30_t8' timed with the reference 'at_hrt', at [\d,]+ min"):
        preset_workflow("wmt14_en_de", corpora={"wmt14_en_de": {"speed": {"threads": 2}}})
    override = tmp_path / "short.yaml"
    override.write_text(yaml.safe_dump({"compute": {"resources": {"measure_speed": {"runtime": 10}}}}))
    result = snakemake("-n", "--configfile", override)
    assert result.returncode != 0
    message = next(line for line in (result.stdout + result.stderr).splitlines() if line.startswith("config key"))
    assert "speed jobs of corpus sample_en_de are estimated over their limit of 10 min" in message
    # the sample times its 8 rows in one job (rows_per_job 14): the message names them all
    assert "the longest, rows 'at_sample_ct2_float32', 'at_sample_ct2_int8', 'CMLM10', " in message and "'XLMD_T2' timed with the reference 'at_sample'" in message
    for setting in ("speed.max_sentences (32 sentences now)", "speed.runs (2)", "speed.batch_sizes ([1, 8, 16, 32])",
                    "speed.rows_per_job (14)", "corpora.sample_en_de.speed"):
        assert setting in message


def test_hrt_table_10_shows_the_reference_once_from_its_own_job(tmp_path):
    """The reference is timed in every row's job (alpha needs it there); HRT Table 10 prints its
    line from the job that timed it alone, and each other row's from its own job."""
    from natpipe.systems.hrt.tables import table10
    from natpipe.tables import speed_summaries

    inputs = [job_csv(tmp_path / "AT.csv", "r0", {"AT": {("cpu", 1): [20.0]}}),
              job_csv(tmp_path / "CMLM4.csv", "r1", {"AT": {("cpu", 1): [12.0]}, "CMLM4": {("cpu", 1): [4.0]}}),
              job_csv(tmp_path / "CMLM10.csv", "r2", {"AT": {("cpu", 1): [15.0]}, "CMLM10": {("cpu", 1): [30.0]}})]
    all_jobs = tmp_path / "speed.csv"
    pd.concat([pd.read_csv(p) for p in inputs]).assign(corpus="c").to_csv(all_jobs, index=False)
    summary = speed_summaries([str(all_jobs)], {"c": "AT"})
    rows = [{"corpus": "c", "row": name, "paper_name": name, "ablation": None, "reference": "AT", "src": "en", "tgt": "de",
             "model": {"kind": kind, "data": "raw", "generate": {"beam": 5, "iterations": 4}}}
            for name, kind in (("AT", "at"), ("CMLM4", "cmlm"), ("CMLM10", "cmlm"))]
    lines = [line for line in table10(rows, summary, {}) if line.startswith("| c |")]
    assert [line.split(" | ")[1] for line in lines] == ["AT", "CMLM4", "CMLM10"]
    assert "20.00 s, α 1.00" in lines[0] and "4.00 s, α 3.00" in lines[1] and "30.00 s, α 0.50" in lines[2]
