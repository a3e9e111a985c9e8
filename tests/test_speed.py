"""Speed protocol arithmetic: medians, alpha only within one run and device, the Table 10 layout."""
import math

import pandas as pd
import pytest

import speed


def timings(run_id, device, system, batch, seconds, status="ok", agreement=1.0):
    return [{"run_id": run_id, "corpus": "c", "system": system, "kind": "at", "device": device, "device_name": "x",
             "threads": 2, "batch_size": batch, "run": i, "seconds": s, "n_sentences": 100, "output_tokens": 900,
             "agreement": agreement, "status": status} for i, s in enumerate(seconds)]


def table(records):
    return pd.DataFrame([r for group in records for r in group], columns=speed.COLUMNS)


def test_alpha_is_the_ratio_of_medians_from_the_same_run_and_device():
    data = table([
        timings("r1", "cpu", "AT", 1, [10.0, 12.0, 11.0]), timings("r1", "cpu", "CMLM4", 1, [5.0, 5.5, 4.0]),
        timings("r1", "cuda", "AT", 1, [2.0, 2.0, 2.0]), timings("r1", "cuda", "CMLM4", 1, [0.5, 0.5, 0.5]),
        # another run of the reference must not leak into r1's alpha
        timings("r2", "cpu", "AT", 1, [100.0, 100.0, 100.0]),
    ])
    summary = speed.summarize(data, "AT").set_index(["run_id", "device", "system", "batch_size"])
    assert summary.loc[("r1", "cpu", "CMLM4", 1), "alpha"] == pytest.approx(11.0 / 5.0)
    assert summary.loc[("r1", "cuda", "CMLM4", 1), "alpha"] == pytest.approx(4.0)
    assert summary.loc[("r1", "cpu", "AT", 1), "alpha"] == pytest.approx(1.0)
    assert summary.loc[("r1", "cpu", "CMLM4", 1), "spread_pct"] == pytest.approx(100 * 1.5 / 5.0)


def test_latency_and_throughput_use_batch_one_and_the_largest_batch_that_ran():
    data = table([timings("r", "cuda", "AT", 1, [20.0]), timings("r", "cuda", "AT", 8, [4.0]),
                  timings("r", "cuda", "AT", 32, [float("nan")], status="oom", agreement=float("nan"))])
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
    comes from that device's medians; a batch that runs out of GPU memory is N/A there only."""
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
                              batch_sizes=[1, 4], runs=2, warmup_batches=1, max_sentences=8, threads=2)
    translate = LoadedSystem.translate

    def out_of_gpu_memory_at_4(self, ids):
        if self.device == "cpu:0" and len(ids) == 4:
            raise torch.cuda.OutOfMemoryError("simulated")
        return translate(self, ids)

    monkeypatch.setattr(LoadedSystem, "translate", out_of_gpu_memory_at_4)
    data = speed.measure(rows, args, [speed.CPU, ("cuda", "cpu:0")])
    ok = data[data["status"] == "ok"]
    assert len(ok[ok["device"] == "cpu"]) == 3 * 2 * 2 and len(ok[ok["device"] == "cuda"]) == 3 * 1 * 2
    assert set(data[data["status"] == "oom"][["device", "batch_size"]].itertuples(index=False)) == {("cuda", 4)}
    # the 30-update CTC model may emit only blanks: an empty output is still a whole decoding pass
    assert (ok["agreement"] == 1.0).all() and (ok[ok["system"] != "FNAT_npd"]["output_tokens"] > 0).all()
    summary = speed.summarize(data, "at_tiny").set_index(["device", "system", "batch_size"])
    median = ok.groupby(["device", "system", "batch_size"])["seconds"].median()
    for device in ("cpu", "cuda"):
        assert summary.loc[(device, "FNAT_npd", 1), "alpha"] == pytest.approx(
            median[(device, "at_tiny", 1)] / median[(device, "FNAT_npd", 1)])
    markdown = speed.markdown(speed.summarize(data, "at_tiny"), data, "at_tiny")
    gpu_part = markdown.split("## On CUDA")[1]
    assert "## On CPU" in markdown.split("## On CUDA")[0]
    assert all(f"| {r['name']} |" in gpu_part and "N/A" in gpu_part.split(f"| {r['name']} |")[1].split("\n")[0]
               for r in rows)
