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
