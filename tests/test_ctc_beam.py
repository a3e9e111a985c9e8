"""CTC prefix beam search (natpipe.blocks.ctc_beam, paper Eq. 6) against independent
brute force (every alignment enumerated, the LM scored by the `kenlm` module), and
scripts/train_lm.py with the real lmplz/build_binary and KenLM."""
from __future__ import annotations

import itertools
import math
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import REPO
from natpipe.blocks.ctc_beam import LN10, CTCBeamSearch, Hypothesis, ctc_collapse

TRAIN_LM = REPO / "scripts" / "train_lm.py"
# A fairseq-like dictionary: specials first, the blank last (not index 0 on purpose).
SYMBOLS = ["<s>", "<pad>", "</s>", "<unk>", "a", "b", "c", "<blank>"]
A, B, C, BLANK = 4, 5, 6, 7


def log_probs_from(rows: list[dict[int, float]], vocab: int = len(SYMBOLS)) -> torch.Tensor:
    """[T, V] log-probabilities from per-frame {token: probability}; unlisted tokens get -inf."""
    out = torch.full((len(rows), vocab), -math.inf, dtype=torch.float64)
    for t, row in enumerate(rows):
        assert abs(sum(row.values()) - 1) < 1e-9
        for token, p in row.items():
            out[t, token] = math.log(p)
    return out


def brute_force_marginals(log_probs: torch.Tensor, blank: int) -> dict[tuple[int, ...], float]:
    """log sum over every alignment of each collapsed output, enumerating all V^T paths, with
    its own collapse (not the module's) so that the two are checked against each other."""
    frames, vocab = log_probs.shape
    lp = log_probs.double().tolist()
    totals: dict[tuple[int, ...], float] = {}
    for path in itertools.product(range(vocab), repeat=frames):
        score = sum(lp[t][v] for t, v in enumerate(path))
        if score == -math.inf:
            continue
        merged = [v for i, v in enumerate(path) if i == 0 or v != path[i - 1]]
        output = tuple(v for v in merged if v != blank)
        previous = totals.get(output, -math.inf)
        high, low = max(previous, score), min(previous, score)
        totals[output] = high + math.log1p(math.exp(low - high)) if low > -math.inf else high
    return totals


def greedy(log_probs: torch.Tensor, blank: int) -> list[int]:
    best = log_probs.argmax(-1).tolist()
    return [v for i, v in enumerate(best) if v != blank and (i == 0 or v != best[i - 1])]


def train_lm(tmp: Path, lines: list[str], order: int = 3, *extra: str) -> subprocess.CompletedProcess:
    text = tmp / "lm.txt"
    text.write_text("".join(line + "\n" for line in lines))
    return subprocess.run([sys.executable, str(TRAIN_LM), "--text", str(text), "--order", str(order),
                           "--output", str(tmp / "lm.bin"), *extra],
                          capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def abc_lm(tmp_path_factory) -> Path:
    """3-gram LM (real lmplz + build_binary) where "a b c" is frequent and "a c b" never seen."""
    tmp = tmp_path_factory.mktemp("lm")
    lines = ["a b c"] * 40 + ["b c"] * 5 + ["c a b c"] * 5 + ["a b c a b c"] * 5 + ["a"] * 3
    result = train_lm(tmp, lines)
    assert result.returncode == 0, f"train_lm.py failed (lmplz not built? run `make install`):\n{result.stderr}"
    assert "3-gram LM ->" in result.stderr
    return tmp / "lm.bin"


# --- (a) greedy-equivalent cases ----------------------------------------------------------------

def test_collapse_drops_blanks_and_merges_only_unseparated_repeats():
    assert ctc_collapse([BLANK, A, A, BLANK, A, B, B, BLANK, BLANK, C], BLANK) == [A, A, B, C]
    assert ctc_collapse([], BLANK) == [] and ctc_collapse([BLANK, BLANK], BLANK) == []


@pytest.mark.parametrize("seed", range(5))
def test_peaked_distribution_gives_argmax_collapse_and_beam_1_is_greedy(seed):
    generator = torch.Generator().manual_seed(seed)
    frames, vocab, blank = 12, 6, seed % 6
    # Random alignment with blanks and repeats (also repeats separated by a blank).
    alignment = torch.randint(0, vocab, (frames,), generator=generator)
    alignment[3:6] = torch.tensor([1 if blank != 1 else 2, blank, 1 if blank != 1 else 2])
    logits = torch.randn(frames, vocab, generator=generator)
    logits[torch.arange(frames), alignment] += 15.0
    log_probs = logits.log_softmax(-1)
    expected = greedy(log_probs, blank)
    assert expected == ctc_collapse(alignment.tolist(), blank)
    tokens = [f"t{i}" for i in range(vocab)]
    for beam in (1, 5, 20):
        hyps = CTCBeamSearch(tokens, blank, beam=beam).search(log_probs)
        assert hyps[0].tokens == expected
        assert all(blank not in hyp.tokens for hyp in hyps)
        assert len({tuple(hyp.tokens) for hyp in hyps}) == len(hyps) <= beam
        assert [hyp.score for hyp in hyps] == sorted((hyp.score for hyp in hyps), reverse=True)

    # Beam 1 keeps a single path on any distribution: greedy output and its path score.
    flat = torch.randn(frames, vocab, generator=generator).log_softmax(-1)
    (hyp,) = CTCBeamSearch(tokens, blank, beam=1).search(flat)
    assert hyp.tokens == greedy(flat, blank)
    assert hyp.am_score == pytest.approx(flat.max(-1).values.sum().item(), abs=1e-4)
    assert hyp.lm_score == 0.0 and hyp.score == pytest.approx(hyp.am_score)


def test_any_float_dtype_and_layout_and_shape_checks():
    generator = torch.Generator().manual_seed(7)
    logits = torch.randn(6, 4, generator=generator)
    logits[torch.arange(6), torch.tensor([0, 0, 3, 1, 3, 1])] += 8.0
    log_probs = logits.log_softmax(-1)
    search = CTCBeamSearch(["x", "y", "z", "<b>"], 3, beam=4)
    assert search.search(log_probs)[0].tokens == [0, 1, 1]
    for variant in (log_probs.double(), log_probs.half(), log_probs.bfloat16(),
                    log_probs.T.contiguous().T, log_probs.requires_grad_()):
        assert search.search(variant)[0].tokens == [0, 1, 1]
    assert [h.tokens for h in search.search(torch.empty(0, 4))] == [[]]
    with pytest.raises(ValueError, match=r"shape \[T, 4\]"):
        search.search(torch.zeros(3, 5))
    with pytest.raises(ValueError, match="blank index"):
        CTCBeamSearch(["x"], 1)


# --- (b) max marginal, not best path --------------------------------------------------------------

def test_beam_finds_the_max_marginal_output_where_greedy_does_not():
    # The best single path is blank blank blank (empty output, p = 0.216 > 0.4 * 0.6 * 0.6), but
    # "a" sums 6 alignments: p = 1 - 0.216 - p("a a" = a blank a: 0.096) = 0.688.
    rows = [{BLANK: 0.6, A: 0.4}] * 3
    log_probs = log_probs_from(rows)
    marginals = brute_force_marginals(log_probs, BLANK)
    best_output = max(marginals, key=marginals.get)
    assert greedy(log_probs, BLANK) == [] and list(best_output) == [A]
    hyps = CTCBeamSearch(SYMBOLS, BLANK, beam=20).search(log_probs)
    assert hyps[0].tokens == [A]
    for hyp in hyps:  # every output in the beam carries its exact log marginal
        assert hyp.am_score == pytest.approx(marginals[tuple(hyp.tokens)], abs=1e-5)
    assert {tuple(h.tokens) for h in hyps} == set(marginals)  # all 3 outputs: "", "a", "a a"


@pytest.mark.parametrize("seed", range(4))
def test_wide_beam_equals_brute_force_on_random_tiny_cases(seed):
    generator = torch.Generator().manual_seed(100 + seed)
    frames, vocab, blank = 5, 4, seed % 4
    log_probs = (torch.randn(frames, vocab, generator=generator) * 1.5).log_softmax(-1)
    marginals = brute_force_marginals(log_probs, blank)
    search = CTCBeamSearch([f"t{i}" for i in range(vocab)], blank, beam=1000, beam_threshold=1e6)
    hyps = search.search(log_probs)
    assert len(hyps) == len(marginals)
    best_output = max(marginals, key=marginals.get)
    assert hyps[0].tokens == list(best_output)
    for hyp in hyps:
        assert hyp.am_score == pytest.approx(marginals[tuple(hyp.tokens)], abs=1e-4)


# --- (c) the LM picks the output it has seen -----------------------------------------------------

def ambiguous_acb_vs_abc() -> torch.Tensor:
    """'a c b' is the acoustically better output, 'a b c' a close second."""
    return log_probs_from([
        {A: 0.97, BLANK: 0.03},
        {C: 0.55, B: 0.43, BLANK: 0.02},
        {B: 0.55, C: 0.43, BLANK: 0.02},
    ])


def test_lm_prefers_the_lm_favoured_output(abc_lm):
    import kenlm

    log_probs = ambiguous_acb_vs_abc()
    marginals = brute_force_marginals(log_probs, BLANK)
    assert max(marginals, key=marginals.get) == (A, C, B)
    assert CTCBeamSearch(SYMBOLS, BLANK, beam=20).search(log_probs)[0].tokens == [A, C, B]
    no_weight = CTCBeamSearch(SYMBOLS, BLANK, beam=20, lm_path=str(abc_lm), alpha=0.0).search(log_probs)
    assert no_weight[0].tokens == [A, C, B]

    hyps = CTCBeamSearch(SYMBOLS, BLANK, beam=20, lm_path=str(abc_lm), alpha=0.5).search(log_probs)
    assert hyps[0].tokens == [A, B, C]
    model = kenlm.Model(str(abc_lm))
    for hyp in hyps + no_weight:
        sentence = " ".join(SYMBOLS[t] for t in hyp.tokens)
        # ln p_LM including </s>: kenlm's log10 sentence score times ln 10.
        assert hyp.lm_score == pytest.approx(model.score(sentence, bos=True, eos=True) * LN10, abs=1e-4)
        assert hyp.am_score == pytest.approx(marginals[tuple(hyp.tokens)], abs=1e-4)
    by_output = {tuple(h.tokens): h for h in hyps}
    assert by_output[(A, B, C)].lm_score > by_output[(A, C, B)].lm_score + 5


def test_lm_end_of_sentence_is_scored(abc_lm):
    # "a b" and "a b c" have the same acoustic evidence for their prefix; only </s> after "c"
    # (seen) versus after "b" (never at a line end) separates them at equal AM scores.
    log_probs = log_probs_from([{A: 0.98, BLANK: 0.02}, {B: 0.98, BLANK: 0.02},
                                {C: 0.5, BLANK: 0.5}])
    hyps = CTCBeamSearch(SYMBOLS, BLANK, beam=20, lm_path=str(abc_lm), alpha=1.0).search(log_probs)
    by_output = {tuple(h.tokens): h for h in hyps}
    assert by_output[(A, B)].am_score == pytest.approx(by_output[(A, B, C)].am_score, abs=1e-6)
    assert hyps[0].tokens == [A, B, C]


# --- (d) the length bonus ------------------------------------------------------------------------

def test_beta_favours_a_longer_output_and_scores_are_eq_6(abc_lm):
    log_probs = log_probs_from([{A: 0.9, BLANK: 0.1}, {BLANK: 0.8, B: 0.2}, {BLANK: 0.8, B: 0.2}])
    marginals = brute_force_marginals(log_probs, BLANK)
    assert marginals[(A,)] > marginals[(A, B)]
    plain = CTCBeamSearch(SYMBOLS, BLANK, beam=20).search(log_probs)
    assert plain[0].tokens == [A]
    longer = CTCBeamSearch(SYMBOLS, BLANK, beam=20, beta=2.0).search(log_probs)
    assert longer[0].tokens == [A, B]
    for hyp in longer:
        assert hyp.score == pytest.approx(hyp.am_score + 2.0 * math.log(max(len(hyp.tokens), 1)))

    alpha, beta = 0.3, 1.5
    hyps = CTCBeamSearch(SYMBOLS, BLANK, beam=20, lm_path=str(abc_lm), alpha=alpha,
                         beta=beta).search(log_probs)
    assert len(hyps) >= 3
    for hyp in hyps:
        recomputed = hyp.am_score + alpha * hyp.lm_score + beta * math.log(max(len(hyp.tokens), 1))
        assert hyp.score == pytest.approx(recomputed, abs=1e-9)
        assert hyp.am_score == pytest.approx(marginals[tuple(hyp.tokens)], abs=1e-4)
    assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
    assert isinstance(hyps[0], Hypothesis)


# --- (e) the whole Eq. (6) is searched: brute force with an LM and beta -------------------------

# A hand-written trigram ARPA over t0 .. t3 (not normalised: kenlm does not care, and neither does
# the argmax); backoffs make some unseen n-grams cheaper than others.
TINY_ARPA = """\\data\\
ngram 1=7
ngram 2=8
ngram 3=3

\\1-grams:
-1.2\t<unk>\t0
-99\t<s>\t-0.3
-0.7\t</s>\t0
-0.5\tt0\t-0.2
-0.6\tt1\t-0.1
-0.8\tt2\t-0.35
-0.9\tt3\t-0.25

\\2-grams:
-0.2\t<s> t0\t-0.1
-0.9\t<s> t2\t0
-0.4\tt0 t1\t-0.2
-0.3\tt1 t0\t-0.15
-0.5\tt1 </s>\t0
-0.25\tt2 t2\t0
-0.6\tt3 </s>\t0
-1.5\tt3 t1\t0

\\3-grams:
-0.1\t<s> t0 t1
-0.15\tt0 t1 t0
-0.3\tt1 t0 t1

\\end\\
"""


@pytest.fixture(scope="module")
def tiny_arpa(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("arpa") / "tiny.arpa"
    path.write_text(TINY_ARPA)
    return path


def brute_force_eq6(log_probs: torch.Tensor, blank: int, tokens: list[str], lm_path: Path | None,
                    alpha: float, beta: float) -> tuple[dict, dict]:
    """Every output's exact log p_CTC (all alignments) and its exact Eq. (6) score."""
    marginals = brute_force_marginals(log_probs, blank)
    model = None
    if lm_path is not None:
        import kenlm

        model = kenlm.Model(str(lm_path))
    totals = {}
    for output, am in marginals.items():
        lm = model.score(" ".join(tokens[t] for t in output), bos=True, eos=True) * LN10 if model else 0.0
        totals[output] = am + alpha * lm + beta * math.log(max(len(output), 1))
    return marginals, totals


@pytest.mark.parametrize("alpha,beta", [(0.0, 0.0), (0.0, 1.5), (0.8, 0.0), (0.8, 1.5), (1.5, -1.0),
                                        (-0.4, 0.7)])
@pytest.mark.parametrize("seed,vocab,frames", [(0, 3, 6), (1, 3, 5), (2, 4, 5), (3, 4, 6), (4, 4, 5)])
def test_wide_beam_finds_the_brute_force_eq_6_argmax(tiny_arpa, seed, vocab, frames, alpha, beta):
    generator = torch.Generator().manual_seed(200 + seed)
    blank = seed % vocab
    log_probs = (torch.randn(frames, vocab, generator=generator) * 1.5).log_softmax(-1)
    tokens = [f"t{i}" for i in range(vocab)]
    marginals, totals = brute_force_eq6(log_probs, blank, tokens, tiny_arpa, alpha, beta)
    best_output = max(totals, key=totals.get)
    # A beam that holds every (prefix, last frame blank) state and every token each frame.
    search = CTCBeamSearch(tokens, blank, beam=5000, lm_path=str(tiny_arpa), alpha=alpha, beta=beta,
                           beam_size_token=vocab, beam_threshold=1e6)
    hyps = search.search(log_probs)
    assert hyps[0].tokens == list(best_output)
    assert hyps[0].am_score == pytest.approx(marginals[best_output], abs=1e-4)
    assert {tuple(h.tokens) for h in hyps} == set(totals)
    for hyp in hyps:
        assert hyp.am_score == pytest.approx(marginals[tuple(hyp.tokens)], abs=1e-4)
        assert hyp.score == pytest.approx(totals[tuple(hyp.tokens)], abs=1e-4)


@pytest.mark.parametrize("seed", range(6))
def test_lazy_lm_scoring_equals_scoring_every_candidate(tiny_arpa, monkeypatch, seed):
    """The search LM-scores emissions best bound first and stops when no bound can enter the
    beam; with small beams that must give exactly what scoring every candidate gives."""
    import kenlm

    import natpipe.blocks.ctc_beam as ctc_beam

    generator = torch.Generator().manual_seed(300 + seed)
    vocab, frames, blank = 5, 9, seed % 5
    tokens = [f"t{i}" for i in range(vocab)]
    log_probs = (torch.randn(frames, vocab, generator=generator) * 2.0).log_softmax(-1)
    model = kenlm.Model(str(tiny_arpa))

    def score_every_candidate(self, tree, nodes, candidates, bounds, stays):
        scores = bounds.copy()
        for index in range(stays, len(bounds)):
            if bounds[index] > -math.inf:
                row, k = divmod(index - stays, len(candidates))
                scores[index] += tree.lm_weight * model.BaseScore(
                    tree.state[nodes[row]], tokens[int(candidates[k])], kenlm.State())
        return scores, np.flatnonzero(scores > -math.inf)

    for beam, alpha, beta in [(1, 1.0, 0.0), (2, 1.0, 1.0), (3, 2.0, 0.5), (4, 0.5, 2.0)]:
        def run():
            return CTCBeamSearch(tokens, blank, beam=beam, lm_path=str(tiny_arpa), alpha=alpha, beta=beta,
                                 beam_size_token=3).search(log_probs)
        lazy = run()
        with monkeypatch.context() as patch:
            patch.setattr(ctc_beam.CTCBeamSearch, "_lm_scores", score_every_candidate)
            full = run()
        assert [h.tokens for h in lazy] == [h.tokens for h in full]
        assert [h.score for h in lazy] == pytest.approx([h.score for h in full], abs=1e-9)


def test_beta_steers_the_search_not_only_the_reranking():
    """Beam 2: searching am only and then re-ranking the survivors by beta * log|y| (what this
    module did before) never sees the long output that Eq. (6) prefers; with beta in the search
    score the long prefix survives the pruning and the search returns the brute-force argmax."""
    log_probs = log_probs_from([{A: 0.6, BLANK: 0.4}, {A: 0.3, B: 0.3, BLANK: 0.4},
                                {B: 0.3, C: 0.3, BLANK: 0.4}, {C: 0.3, A: 0.3, BLANK: 0.4}])
    beta = 2.0
    marginals = brute_force_marginals(log_probs, BLANK)
    totals = {y: am + beta * math.log(max(len(y), 1)) for y, am in marginals.items()}
    best_output = max(totals, key=totals.get)
    assert best_output == (A, B, C)

    searched = CTCBeamSearch(SYMBOLS, BLANK, beam=2, beta=beta).search(log_probs)
    assert searched[0].tokens == [A, B, C]
    # Beam 2 keeps only some of its alignments: a lower bound of the exact marginal.
    assert searched[0].am_score <= marginals[(A, B, C)] + 1e-9
    assert searched[0].score == pytest.approx(searched[0].am_score + beta * math.log(3))

    # The old way: the beta = 0 search's survivors, re-ranked by Eq. (6).
    survivors = CTCBeamSearch(SYMBOLS, BLANK, beam=2).search(log_probs)
    assert (A, B, C) not in {tuple(h.tokens) for h in survivors}
    reranked = max(survivors, key=lambda h: h.am_score + beta * math.log(max(len(h.tokens), 1)))
    assert tuple(reranked.tokens) != best_output
    assert len(searched[0].tokens) > len(survivors[0].tokens)


def test_blank_and_repeats_are_tried_outside_the_frames_top_tokens():
    # beam_size_token=1 lets only "a" be emitted, but staying on a prefix (blank, or "a" again
    # without emitting it) is always possible: every output and its exact marginal is found.
    log_probs = log_probs_from([{A: 0.6, BLANK: 0.4}] * 3)
    marginals = brute_force_marginals(log_probs, BLANK)
    hyps = CTCBeamSearch(SYMBOLS, BLANK, beam=20, beam_size_token=1).search(log_probs)
    assert {tuple(h.tokens) for h in hyps} == set(marginals) == {(), (A,), (A, A)}
    for hyp in hyps:
        assert hyp.am_score == pytest.approx(marginals[tuple(hyp.tokens)], abs=1e-6)


# --- (f) train_lm.py errors ----------------------------------------------------------------------

def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    return errors[0]


def test_train_lm_rejects_empty_text_and_writes_nothing(tmp_path):
    line = one_error_line(train_lm(tmp_path, ["", "   "]))
    assert "lm.txt" in line and "empty text" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm.txt"]


def test_train_lm_names_a_missing_lmplz_and_writes_nothing(tmp_path):
    line = one_error_line(train_lm(tmp_path, ["a b c"], 3, "--lmplz", str(tmp_path / "no" / "lmplz")))
    assert "lmplz not found" in line and str(tmp_path / "no" / "lmplz") in line and "make install" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lm.txt"]


def test_train_lm_without_lmplz_anywhere_says_where_it_looked(tmp_path):
    # The base interpreter (train_lm.py needs only the standard library), with a PATH that has
    # no lmplz: the lookup next to sys.executable and on PATH both fail.
    base_python = Path(os.path.realpath(sys.executable))
    bare_path = str(tmp_path / "bin")
    if (base_python.parent / "lmplz").exists() or shutil.which("lmplz", path=bare_path):
        pytest.skip("an lmplz is installed next to the base interpreter")
    (tmp_path / "lm.txt").write_text("a b c\n")
    result = subprocess.run([str(base_python), str(TRAIN_LM), "--text", str(tmp_path / "lm.txt"),
                             "--output", str(tmp_path / "lm.bin")], capture_output=True, text=True,
                            env={"PATH": bare_path, "PYTHONPATH": str(REPO)}, timeout=60)  # natpipe, not the venv
    line = one_error_line(result)
    assert "lmplz not found" in line and str(base_python.parent) in line and "on PATH" in line
    assert "make install" in line and "libboost-program-options-dev" in line
    assert not (tmp_path / "lm.bin").exists()
