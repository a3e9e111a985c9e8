"""Shared NAT blocks (natpipe.blocks), each checked against an independent computation:
brute-force enumeration or a pure-Python dynamic programme on tiny inputs, torch.distributions,
or sampling statistics."""
import itertools
import math
import struct

import pytest
import torch

from natpipe.blocks.axe import axe_loss
from natpipe.blocks.ctc import collapse, collapse_batch, ctc_loss, greedy_decode, viterbi_align
from natpipe.blocks.glancing import batched_levenshtein, glance_counts, glance_mask, levenshtein
from natpipe.blocks.latent import free_bits_budget, free_bits_kl, gaussian_kl, sample_gaussian
from natpipe.blocks.upsampling import soft_copy, soft_copy_weights, upsampled_lengths

BLANK = 0
PAD = 3  # a real token index used as target padding: the masks must make it irrelevant


def lengths_mask(lengths, width=None):
    lengths = torch.tensor(lengths)
    width = int(lengths.max()) if width is None else width
    return torch.arange(width)[None, :] < lengths[:, None]


def ctc_batch(seed=0, vocab=4):
    """Random log-softmax inputs and padded targets, including a repeated label and padding."""
    gen = torch.Generator().manual_seed(seed)
    input_lengths, targets = [5, 4, 3, 5, 2], [[1, 1], [2], [1, 2], [2, 1, 2], [1, 2]]
    log_probs = torch.randn(len(targets), 5, vocab, generator=gen).log_softmax(-1)
    width = max(map(len, targets))
    target_tensor = torch.tensor([t + [PAD] * (width - len(t)) for t in targets])
    return log_probs, lengths_mask(input_lengths, 5), target_tensor, lengths_mask(list(map(len, targets))), \
        input_lengths, targets


def alignments(length, vocab, target):
    """Every sequence of `length` tokens that collapses to `target` (brute force)."""
    return [a for a in itertools.product(range(vocab), repeat=length) if collapse(a, BLANK) == target]


def path_score(log_probs, path):
    return sum(float(log_probs[t, token]) for t, token in enumerate(path))


def python_ctc_forward(log_probs, target):
    """Textbook alpha recursion in log space on Python floats."""
    ext = [BLANK]
    for token in target:
        ext += [token, BLANK]

    def logadd(*xs):
        xs = [x for x in xs if x > -math.inf]
        if not xs:
            return -math.inf
        top = max(xs)
        return top + math.log(sum(math.exp(x - top) for x in xs))

    alpha = [-math.inf] * len(ext)
    alpha[0] = float(log_probs[0][ext[0]])
    if len(ext) > 1:
        alpha[1] = float(log_probs[0][ext[1]])
    for t in range(1, len(log_probs)):
        new = []
        for s, label in enumerate(ext):
            terms = [alpha[s]] + ([alpha[s - 1]] if s >= 1 else [])
            if s >= 2 and label != BLANK and label != ext[s - 2]:
                terms.append(alpha[s - 2])
            new.append(logadd(*terms) + float(log_probs[t][label]))
        alpha = new
    return -logadd(*alpha[-2:]) if len(ext) > 1 else -alpha[-1]


# upsampling ---------------------------------------------------------------------------------------
def test_upsampled_lengths_ceil_and_at_least_one():
    assert upsampled_lengths(torch.tensor([1, 7, 10, 0, 3]), 3).tolist() == [3, 21, 30, 1, 9]
    assert upsampled_lengths(torch.tensor([10, 3, 1]), 1.1).tolist() == [11, 4, 2]  # 1.1*10 stays 11
    assert upsampled_lengths(torch.tensor([3, 4]), 2.5).tolist() == [8, 10]


def test_soft_copy_matches_the_formula_and_rows_sum_to_one():
    mask = lengths_mask([4, 2, 1])
    tgt_lengths = torch.tensor([6, 3, 2])
    weights = soft_copy_weights(mask, tgt_lengths, tau=0.7)
    for b, (s_len, t_len) in enumerate([(4, 6), (2, 3), (1, 2)]):
        for i in range(6):
            if i >= t_len:
                assert weights[b, i].abs().sum() == 0
                continue
            centre = i * (s_len - 1) / max(t_len - 1, 1)
            raw = [math.exp(-abs(j - centre) / 0.7) for j in range(s_len)]
            expected = [r / sum(raw) for r in raw] + [0.0] * (4 - s_len)
            assert weights[b, i].tolist() == pytest.approx(expected, abs=1e-6)
    # with the identity as source the output is the weight matrix itself
    out, tgt_mask = soft_copy(torch.eye(4).expand(3, 4, 4), mask, tgt_lengths, tau=0.7)
    assert torch.allclose(out, weights, atol=1e-6)
    assert tgt_mask.tolist() == lengths_mask([6, 3, 2]).tolist()
    assert torch.allclose(out.sum(-1), tgt_mask.float(), atol=1e-6)


def test_soft_copy_is_a_copy_when_lengths_match_and_tau_is_small():
    source = torch.randn(2, 5, 8)
    out, _ = soft_copy(source, lengths_mask([5, 5]), torch.tensor([5, 5]), tau=1e-3)
    assert torch.allclose(out, source, atol=1e-5)


def test_soft_copy_left_and_right_padding_agree_on_real_positions():
    gen = torch.Generator().manual_seed(0)
    real = [torch.randn(n, 6, generator=gen) for n in (5, 3, 1)]
    right = torch.zeros(3, 5, 6)
    left = torch.full((3, 5, 6), 99.0)  # padding content must not leak in
    right_mask = torch.zeros(3, 5, dtype=torch.bool)
    left_mask = torch.zeros(3, 5, dtype=torch.bool)
    for b, states in enumerate(real):
        n = len(states)
        right[b, :n], right_mask[b, :n] = states, True
        left[b, 5 - n:], left_mask[b, 5 - n:] = states, True
    tgt_lengths = torch.tensor([9, 7, 4])
    out_right, mask_right = soft_copy(right, right_mask, tgt_lengths)
    out_left, mask_left = soft_copy(left, left_mask, tgt_lengths)
    assert torch.allclose(out_right, out_left, atol=1e-6)
    assert torch.equal(mask_right, mask_left)
    assert out_left[~mask_left].abs().sum() == 0
    # one real source token: every decoder position copies it
    assert torch.allclose(out_left[2, :4], real[2].expand(4, 6), atol=1e-6)


# CTC ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1])
def test_ctc_loss_equals_brute_force_and_python_forward(seed):
    log_probs, input_mask, targets, target_mask, input_lengths, target_lists = ctc_batch(seed)
    loss = ctc_loss(log_probs, input_mask, targets, target_mask, BLANK)
    assert loss.dtype == torch.float32 and loss.shape == (len(target_lists),)
    for b, (length, target) in enumerate(zip(input_lengths, target_lists)):
        paths = alignments(length, 4, target)
        brute = -math.log(sum(math.exp(path_score(log_probs[b], p)) for p in paths)) if paths else 0.0
        assert float(loss[b]) == pytest.approx(brute, abs=1e-4)
        if paths:
            assert float(loss[b]) == pytest.approx(python_ctc_forward(log_probs[b, :length].tolist(), target),
                                                   abs=1e-4)
    # half inputs are computed in float32
    half = ctc_loss(log_probs.half(), input_mask, targets, target_mask, BLANK)
    assert half.dtype == torch.float32
    assert torch.allclose(half, loss, atol=1e-2)


def test_ctc_loss_is_zero_without_gradient_when_the_input_is_too_short():
    log_probs = torch.randn(1, 3, 4).log_softmax(-1).requires_grad_()
    loss = ctc_loss(log_probs, lengths_mask([2], 3), torch.tensor([[1, 1]]), lengths_mask([2]), BLANK)
    loss.sum().backward()
    assert float(loss.detach()) == 0 and log_probs.grad.abs().sum() == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_viterbi_finds_the_best_valid_alignment(seed):
    log_probs, input_mask, targets, target_mask, input_lengths, target_lists = ctc_batch(seed)
    tokens, scores = viterbi_align(log_probs, input_mask, targets, target_mask, BLANK)
    assert tokens.shape == (len(target_lists), 5)
    for b, (length, target) in enumerate(zip(input_lengths, target_lists)):
        best = max(path_score(log_probs[b], p) for p in alignments(length, 4, target))
        path = tokens[b, :length].tolist()
        assert collapse(path, BLANK) == target
        assert float(scores[b]) == pytest.approx(best, abs=1e-5)
        assert float(scores[b]) == pytest.approx(path_score(log_probs[b], path), abs=1e-5)
        assert tokens[b, length:].eq(BLANK).all()


def test_viterbi_without_a_valid_alignment_scores_minus_inf_and_aligns_blanks():
    log_probs = torch.randn(3, 4, 4).log_softmax(-1)
    targets = torch.tensor([[1, 1], [1, 2], [2, 2]])
    tokens, scores = viterbi_align(log_probs, lengths_mask([2, 2, 4], 4), targets, lengths_mask([2, 2, 1]), BLANK)
    assert scores[0] == float("-inf")  # [1, 1] needs 3 positions (1, blank, 1)
    assert tokens[0].eq(BLANK).all()
    assert tokens[1, :2].tolist() == [1, 2] and float(scores[1]) == pytest.approx(
        float(log_probs[1, 0, 1] + log_probs[1, 1, 2]))
    assert collapse(tokens[2], BLANK) == [2]


def test_viterbi_with_an_empty_target_aligns_all_blanks():
    log_probs = torch.randn(1, 3, 4).log_softmax(-1)
    tokens, scores = viterbi_align(log_probs, lengths_mask([3]), torch.tensor([[PAD]]),
                                   torch.zeros(1, 1, dtype=torch.bool), BLANK)
    assert tokens.tolist() == [[BLANK] * 3]
    assert float(scores[0]) == pytest.approx(float(log_probs[0, :, BLANK].sum()))


def test_collapse_merges_repeats_then_drops_blanks():
    assert collapse([5, 5, BLANK, 5], BLANK) == [5, 5]
    assert collapse([BLANK, 1, 1, 2, BLANK, 2, 2, BLANK], BLANK) == [1, 2, 2]
    assert collapse(torch.tensor([3, 3, 3]), BLANK) == [3]
    assert collapse([], BLANK) == [] and collapse([BLANK, BLANK], BLANK) == []
    assert collapse([2, 2, 7, 7], blank=7) == [2]


def test_greedy_decode_reads_only_real_positions():
    argmax = torch.tensor([[1, 1, 0, 1, 2], [2, 0, 2, 2, 1]])
    log_probs = torch.nn.functional.one_hot(argmax, 4).float().log_softmax(-1)
    assert greedy_decode(log_probs, lengths_mask([5, 3]), BLANK) == [[1, 1, 2], [2, 2]]


# AXE ----------------------------------------------------------------------------------------------
def python_axe(log_probs, target, blank, delta):
    """The AXE recurrence cell by cell on Python floats."""
    n, t = len(target), len(log_probs)
    a = [[math.inf] * (t + 1) for _ in range(n + 1)]
    a[0][0] = 0.0
    for i in range(n + 1):
        for j in range(t + 1):
            if i == j == 0:
                continue
            options = []
            if i and j:
                options.append(a[i - 1][j - 1] - log_probs[j - 1][target[i - 1]])
            if i:
                options.append(a[i - 1][j] - delta * log_probs[max(j, 1) - 1][target[i - 1]])
            if j:
                options.append(a[i][j - 1] - log_probs[j - 1][blank])
            a[i][j] = min(options)
    return a[n][t]


@pytest.mark.parametrize("delta", [1.0, 0.5])
def test_axe_equals_python_dp(delta):
    gen = torch.Generator().manual_seed(3)
    pred_lengths, target_lists = [5, 3, 2, 4, 1], [[1, 2, 1], [2, 2, 3, 1], [1], [], [2, 1]]
    log_probs = torch.randn(5, 5, 4, generator=gen).log_softmax(-1)
    targets = torch.tensor([t + [PAD] * (4 - len(t)) for t in target_lists])
    loss = axe_loss(log_probs, lengths_mask(pred_lengths), targets, lengths_mask(list(map(len, target_lists)), 4),
                    BLANK, skip_target_penalty=delta)
    for b, (length, target) in enumerate(zip(pred_lengths, target_lists)):
        expected = python_axe(log_probs[b, :length].tolist(), target, BLANK, delta)
        assert float(loss[b]) == pytest.approx(expected, abs=1e-5)


def test_axe_perfect_prediction_costs_little_and_shifts_are_cheap():
    sure = torch.full((1, 4, 4), -20.0)
    for j, token in enumerate([1, 2, 3, BLANK]):
        sure[0, j, token] = 0.0
    targets, tmask = torch.tensor([[1, 2, 3]]), lengths_mask([3])
    assert float(axe_loss(sure, lengths_mask([4]), targets, tmask, BLANK)) == pytest.approx(0.0, abs=1e-6)
    # the same prediction shifted right by one (blank first) is still free under AXE
    shifted = sure[:, [3, 0, 1, 2]]
    assert float(axe_loss(shifted, lengths_mask([4]), targets, tmask, BLANK)) == pytest.approx(0.0, abs=1e-6)


def test_axe_gradients_flow_only_to_real_positions():
    gen = torch.Generator().manual_seed(4)
    logits = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    pred_mask = lengths_mask([4, 2])
    targets, target_mask = torch.tensor([[1, 2, 3], [4, PAD, PAD]]), lengths_mask([3, 1])
    loss = axe_loss(logits.log_softmax(-1), pred_mask, targets, target_mask, BLANK)
    loss.sum().backward()
    assert torch.isfinite(logits.grad).all()
    assert logits.grad[0].abs().sum() > 0 and logits.grad[1, :2].abs().sum() > 0
    assert logits.grad[1, 2:].abs().sum() == 0
    check = torch.randn(2, 4, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda x: axe_loss(x.log_softmax(-1), pred_mask, targets, target_mask, BLANK),
                                    (check,))


# glancing -----------------------------------------------------------------------------------------
def test_levenshtein():
    assert levenshtein(list("kitten"), list("sitting")) == 3
    assert levenshtein([1, 2, 3], []) == 3 == levenshtein([], [1, 2, 3])
    assert levenshtein([1, 2, 3], [1, 2, 3]) == 0
    assert levenshtein([1, 2, 3, 4], [2, 3, 4, 1]) == 2


def test_glat_counts_are_poisson_with_mean_f_ratio_times_distance():
    n = 20000
    gen = torch.Generator().manual_seed(0)
    for distance in (0, 4, 10):
        counts = glance_counts(torch.full((n,), float(distance)), torch.full((n,), 100), 0.5, "glat", gen)
        assert counts.dtype == torch.long
        rate = 0.5 * distance
        assert float(counts.float().mean()) == pytest.approx(rate, abs=0.05 + 0.02 * rate)
        assert float(counts.float().var()) == pytest.approx(rate, abs=0.1 + 0.05 * rate)
    # "no glancing" is possible: P(l = 0) = exp(-2) for rate 2
    counts = glance_counts(torch.full((n,), 4), torch.full((n,), 100), 0.5, "glat", gen)
    assert float((counts == 0).float().mean()) == pytest.approx(math.exp(-2), abs=0.01)
    # clamped at the length
    counts = glance_counts(torch.full((n,), 30), torch.full((n,), 5), 0.5, "glat", gen)
    assert int(counts.max()) == 5 and float((counts == 5).float().mean()) > 0.99


def test_counts_are_reproducible_with_a_generator():
    draw = lambda mode: glance_counts(torch.arange(50), torch.full((50,), 20), 0.5, mode,  # noqa: E731
                                      torch.Generator().manual_seed(7))
    for mode in ("glat", "rnd"):
        assert torch.equal(draw(mode), draw(mode))


def test_rnd_counts_are_uniform_over_zero_to_length():
    n, length = 20000, 4
    counts = glance_counts(torch.zeros(n), torch.full((n,), length), mode="rnd",
                           generator=torch.Generator().manual_seed(1))
    observed = torch.bincount(counts, minlength=length + 1).float()
    assert observed.numel() == length + 1  # never above the length
    expected = n / (length + 1)
    chi_square = float(((observed - expected) ** 2 / expected).sum())
    assert chi_square < 18.5  # 99.9th percentile of chi-square with 4 degrees of freedom
    varied = glance_counts(torch.zeros(3), torch.tensor([0, 1, 2]), mode="rnd")
    assert (varied <= torch.tensor([0, 1, 2])).all()


def test_unknown_glancing_mode():
    with pytest.raises(ValueError, match="unknown glancing mode 'bert'"):
        glance_counts(torch.zeros(2), torch.ones(2, dtype=torch.long), mode="bert")


def test_glance_mask_picks_exactly_count_eligible_positions_uniformly():
    lengths = torch.tensor([5, 3, 0, 6, 4])
    eligible = torch.arange(7)[None, :] < lengths[:, None]
    eligible[3, 1::2] = False  # e.g. blank frames of a CTC alignment: 3 eligible positions left
    counts = torch.tensor([2, 3, 0, 9, 9])  # the last two are clamped to what is eligible
    gen = torch.Generator().manual_seed(2)
    hits = torch.zeros(5, 7)
    for _ in range(2000):
        mask = glance_mask(eligible, counts, gen)
        assert mask.sum(1).tolist() == [2, 3, 0, 3, 4]
        assert not (mask & ~eligible).any()
        hits += mask.float()
    frequency = hits[0, :5] / 2000
    assert torch.allclose(frequency, torch.full((5,), 0.4), atol=0.05)


# latent -------------------------------------------------------------------------------------------
def test_gaussian_kl_matches_torch_distributions():
    gen = torch.Generator().manual_seed(0)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(3, 4, 8, generator=gen) for _ in range(4))
    kl = gaussian_kl(mu_q, lv_q, mu_p, lv_p)
    q = torch.distributions.Normal(mu_q, torch.exp(0.5 * lv_q))
    p = torch.distributions.Normal(mu_p, torch.exp(0.5 * lv_p))
    assert kl.shape == (3, 4)
    assert torch.allclose(kl, torch.distributions.kl_divergence(q, p).sum(-1), atol=1e-5)
    assert (kl >= 0).all()
    assert torch.allclose(gaussian_kl(mu_q, lv_q, mu_q, lv_q), torch.zeros(3, 4))


def test_free_bits_clamp_value_and_gradient():
    kl = torch.tensor([[0.2, 0.5, 9.0], [0.1, 0.3, 0.4]], requires_grad=True)
    mask = torch.tensor([[True, True, False], [True, True, True]])
    above = free_bits_kl(kl, mask, budget=1.0)
    above.backward()
    assert float(above.detach()) == pytest.approx(5 * 1.0)
    assert kl.grad.abs().sum() == 0
    kl.grad = None
    below = free_bits_kl(kl, mask, budget=0.05)
    below.backward()
    assert float(below.detach()) == pytest.approx(0.2 + 0.5 + 0.1 + 0.3 + 0.4)
    assert torch.equal(kl.grad, mask.float())
    mixed = free_bits_kl(kl.detach(), mask, budget=0.35)
    assert float(mixed) == pytest.approx(0.35 + 0.5 + 0.35 + 0.35 + 0.4)


def test_free_bits_budget_schedule():
    assert [free_bits_budget(u, 1.0, 100) for u in (0, 25, 50, 100, 200)] == pytest.approx([1, 0.75, 0.5, 0, 0])
    assert free_bits_budget(10 ** 6, 2.0, 0) == 2.0  # no annealing
    assert free_bits_budget(-5, 1.0, 10) == 1.0
    with pytest.raises(ValueError, match="non-negative"):
        free_bits_budget(0, -1.0, 10)


def test_sample_gaussian_moments_temperature_and_generator():
    mu, logvar = torch.tensor([1.0, -2.0]), torch.log(torch.tensor([4.0, 0.25]))
    assert torch.equal(sample_gaussian(mu, logvar, temperature=0.0), mu)
    many = sample_gaussian(mu.expand(20000, 2), logvar.expand(20000, 2), 0.5, torch.Generator().manual_seed(0))
    assert torch.allclose(many.mean(0), mu, atol=0.03)
    assert torch.allclose(many.std(0), 0.5 * torch.tensor([2.0, 0.5]), atol=0.03)
    same = [sample_gaussian(mu, logvar, generator=torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(*same)
    mu_grad = mu.clone().requires_grad_()
    sample_gaussian(mu_grad, logvar).sum().backward()
    assert torch.equal(mu_grad.grad, torch.ones(2))


# batched glancing path (on the device, no per-sentence Python) -----------------------------------
def padded(rows, width, generator, fill_high=4):
    """Right-padded LongTensor of the given rows; the padding is random junk that must not matter."""
    out = torch.randint(0, fill_high, (len(rows), width), generator=generator)
    for i, row in enumerate(rows):
        out[i, :len(row)] = torch.tensor(row, dtype=torch.long)
    return out, torch.tensor([len(row) for row in rows])


def random_rows(count, width, high, generator):
    lengths = torch.randint(0, width + 1, (count,), generator=generator).tolist()
    return [torch.randint(0, high, (n,), generator=generator).tolist() for n in lengths]


@pytest.mark.parametrize("seed", range(4))
def test_batched_levenshtein_equals_the_python_reference(seed):
    gen = torch.Generator().manual_seed(seed)
    for width_a, width_b in [(0, 0), (0, 5), (6, 0), (3, 9), (9, 3), (7, 7), (12, 30)]:  # both loop choices
        a_rows, b_rows = random_rows(40, width_a, 3, gen), random_rows(40, width_b, 3, gen)
        a_rows[0], b_rows[1] = [], []  # empty strings on either side ...
        a_rows[2] = b_rows[2] = []     # ... and on both
        a, a_lengths = padded(a_rows, width_a, gen)
        b, b_lengths = padded(b_rows, width_b, gen)
        distances = batched_levenshtein(a, a_lengths, b, b_lengths)
        assert distances.dtype == torch.long
        assert distances.tolist() == [levenshtein(x, y) for x, y in zip(a_rows, b_rows)]
        assert torch.equal(batched_levenshtein(b, b_lengths, a, a_lengths), distances)  # symmetric
    kitten, lengths = padded([list(b"kitten"), list(b"flaw")], 7, gen)
    sitting, lengths2 = padded([list(b"sitting"), list(b"lawn")], 7, gen)
    assert batched_levenshtein(kitten, lengths, sitting, lengths2).tolist() == [3, 2]


@pytest.mark.parametrize("blank", [0, 2])
def test_collapse_batch_equals_collapse_per_row(blank):
    gen = torch.Generator().manual_seed(blank)
    tokens = torch.randint(0, 4, (60, 9), generator=gen)  # 4 symbols: blanks and repeats are common
    lengths = torch.randint(0, 10, (60,), generator=gen)
    lengths[:2] = torch.tensor([0, 9])
    mask = torch.arange(9)[None, :] < lengths[:, None]
    for merge_repeats in (True, False):
        out, out_lengths = collapse_batch(tokens, mask, blank, merge_repeats=merge_repeats)
        assert out.shape == tokens.shape
        for row, n, read, m in zip(tokens.tolist(), lengths.tolist(), out.tolist(), out_lengths.tolist()):
            real = row[:n]
            expected = collapse(real, blank) if merge_repeats else [t for t in real if t != blank]  # CTC / AXE
            assert read[:m] == expected and m == len(expected)
            assert all(t == blank for t in read[m:])


def float32(x):
    return struct.unpack("f", struct.pack("f", x))[0]


def python_viterbi(log_probs, target):
    """Viterbi over the extended labels on Python floats rounded like float32 sums; ties prefer
    staying, then a step of one state, then a skip, and the final blank over the final label."""
    ext = [BLANK]
    for token in target:
        ext += [token, BLANK]
    if not log_probs:
        return [], -math.inf
    score = [-math.inf] * len(ext)
    for s in range(min(2, len(ext))):
        score[s] = log_probs[0][ext[s]]
    choices = []
    for row in log_probs[1:]:
        options = [[score[s], score[s - 1] if s >= 1 else -math.inf,
                    score[s - 2] if s >= 2 and ext[s] not in (BLANK, ext[s - 2]) else -math.inf]
                   for s in range(len(ext))]
        picks = [max(range(3), key=lambda k: opts[k]) for opts in options]  # the first of equal maxima
        score = [float32(opts[k] + row[label]) for opts, k, label in zip(options, picks, ext)]
        choices.append(picks)
    last = len(ext) - 1
    state = last - 1 if target and score[last - 1] > score[last] else last
    best = score[state]
    if best == -math.inf:
        return [BLANK] * len(log_probs), best
    path = [state]
    for picks in reversed(choices):
        state -= picks[state]
        path.append(state)
    return [ext[s] for s in reversed(path)], best


@pytest.mark.parametrize("seed", range(3))
def test_viterbi_matches_a_python_viterbi_token_for_token_even_with_ties(seed):
    """Rounded logits give many equal scores: the tie-breaking must stay the same, not only the score."""
    gen = torch.Generator().manual_seed(seed)
    batch, width, vocab = 24, 12, 4
    log_probs = torch.randn(batch, width, vocab, generator=gen).round().log_softmax(-1)
    targets = random_rows(batch, 5, vocab - 1, gen)
    targets = [[t + 1 for t in row] for row in targets]  # labels 1..3, never the blank
    input_lengths = torch.randint(0, width + 1, (batch,), generator=gen)
    input_lengths[0], targets[1] = width, [1, 1, 1, 1, 1]  # a full row; one needing 9 positions
    target_tensor, target_lengths = padded(targets, 5, gen)
    tokens, scores = viterbi_align(log_probs, lengths_mask(input_lengths.tolist(), width), target_tensor,
                                   lengths_mask(target_lengths.tolist(), 5), BLANK)
    for b in range(batch):
        n = int(input_lengths[b])
        path, best = python_viterbi(log_probs[b, :n].tolist(), targets[b])
        assert tokens[b].tolist() == path + [BLANK] * (width - n)
        assert float(scores[b]) == best
