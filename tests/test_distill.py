"""Distillation shards: contiguous ranges, order-preserving merge, checks on every line."""
import random
import subprocess
import sys

import pytest
import sacrebleu

import distill
import subword
from common import PipelineError


@pytest.mark.parametrize("seed", range(20))
def test_shard_ranges_partition_the_corpus(seed):
    rng = random.Random(seed)
    n, shards = rng.randint(0, 500), rng.randint(1, 40)
    ranges = [distill.shard_range(n, shards, i) for i in range(shards)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    sizes = [end - start for start, end in ranges]
    assert max(sizes) - min(sizes) <= 1


def fake_teacher(line: str) -> str:
    """A deterministic per-sentence 'translation' (sometimes empty, like a real teacher)."""
    return "" if len(line) % 7 == 0 else " ".join(reversed(line.split()))


@pytest.mark.parametrize("seed", range(10))
def test_any_shard_count_gives_byte_identical_merged_output(seed):
    rng = random.Random(seed)
    sources = [" ".join(rng.choice("abcdefg") for _ in range(rng.randint(1, 9))) for _ in range(rng.randint(1, 300))]
    raw_targets = [f"raw {i}" for i in range(len(sources))]
    outputs = set()
    for shards in {1, rng.randint(2, 9), rng.randint(10, 64)}:
        shard_hyps = []
        for i in range(shards):
            start, end = distill.shard_range(len(sources), shards, i)
            shard_hyps.append([fake_teacher(line) for line in sources[start:end]])
        merged, replaced = distill.merge_shards(sources, raw_targets, shard_hyps)
        assert replaced == sum(1 for s in sources if not fake_teacher(s))
        outputs.add("\n".join(merged).encode())
    assert len(outputs) == 1
    expected = [fake_teacher(s) or raw_targets[i] for i, s in enumerate(sources)]
    assert outputs.pop() == "\n".join(expected).encode()


def test_merge_refuses_a_missing_line():
    with pytest.raises(PipelineError, match="distilled corpus has 1 lines, the raw corpus 2"):
        distill.merge_shards(["a", "b"], ["x", "y"], [["A"]])


def test_echoed_sources_must_match_what_was_sent():
    distill.check_echoed_sources(["a b", "c"], {0: "a b", 1: "c"}, "shard 0")
    distill.check_echoed_sources(["a zz"], {0: "a <unk>"}, "shard 0")  # unknown to the dictionary
    with pytest.raises(PipelineError, match="shard 3: line 2 of the shard came back as 'd', sent 'c'"):
        distill.check_echoed_sources(["a", "c"], {0: "a", 1: "d"}, "shard 3")
    with pytest.raises(PipelineError, match="line 2 of the shard came back as None"):
        distill.check_echoed_sources(["a", "c"], {0: "a"}, "shard 0")


def test_corpus_stats_against_sacrebleu():
    raw = ["das ist ein Te@@ st", "noch ein Satz"]
    dis = ["das ist ein Te@@ st", "ein Satz"]
    stats = distill.corpus_stats(raw, dis, "bpe", sample=2)
    expected = sacrebleu.corpus_bleu(["das ist ein Test", "ein Satz"], [["das ist ein Test", "noch ein Satz"]],
                                     tokenize="none").score
    assert stats["bleu_distilled_vs_raw"] == pytest.approx(round(expected, 2))
    assert stats["length_ratio_distilled_over_raw"] == pytest.approx((1 + 2 / 3) / 2, abs=1e-4)


def test_desegment_for_both_methods():
    assert subword.desegment("Te@@ st ist gu@@ t", "bpe") == "Test ist gut"
    assert subword.desegment("\u2581Te st \u2581ist", "sentencepiece") == "Test ist"


def _external(tmp_path, src_lines, sha_src=None):
    import hashlib

    (tmp_path / "clean.src").write_text("a b\nc d\n", encoding="utf-8")
    (tmp_path / "ext.src").write_text("".join(x + "\n" for x in src_lines), encoding="utf-8")
    (tmp_path / "ext.tgt").write_text("x y\nz\n", encoding="utf-8")
    (tmp_path / "codes").write_text("#version: 0.2\nq u\n", encoding="utf-8")
    digest = {name: hashlib.sha256((tmp_path / name).read_bytes()).hexdigest() for name in ("ext.src", "ext.tgt")}
    return subprocess.run(
        [sys.executable, distill.__file__, "external", "--src", tmp_path / "ext.src", "--tgt", tmp_path / "ext.tgt",
         "--sha256-src", sha_src or digest["ext.src"], "--sha256-tgt", digest["ext.tgt"],
         "--clean-source", tmp_path / "clean.src", "--subword", "bpe", "--subword-model", tmp_path / "codes",
         "--out", tmp_path / "out.tgt"], capture_output=True, text=True)


def test_external_corpus_is_checked_and_segmented(tmp_path):
    result = _external(tmp_path, ["a b", "c d"])
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.tgt").read_text(encoding="utf-8") == "x y\nz\n"


def test_external_corpus_with_other_sources_is_refused(tmp_path):
    result = _external(tmp_path, ["a b", "c e"])
    assert result.returncode == 1 and "ext.src:2: differs from" in result.stderr
    assert not (tmp_path / "out.tgt").exists()
    result = _external(tmp_path, ["a b", "c d"], sha_src="0" * 64)
    assert result.returncode == 1 and "does not match distill.external" in result.stderr
