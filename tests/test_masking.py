"""Mask positions of HRT §4's strategies, checked on hand-computed examples; the tensor helpers
used in training are checked against the position functions and by hand."""
import random
import subprocess
import sys

import pytest
import torch

from natpipe.blocks.masking import (apply_mask, chunk_mask, chunk_masked, expand_chunks, mask_positions,
                                    masked_input_output, n_mask, random_count_mask)

PAD, EOS, MASK, B = 1, 2, 3, 0


@pytest.mark.parametrize("length,p,expected", [
    (10, 0.1, 1), (10, 0.7, 7), (10, 0.9, 9), (7, 0.1, 1),  # floor(0.7) = 0 -> at least one
    (7, 0.5, 3), (3, 0.9, 2), (1, 0.9, 1), (20, 0.3, 6), (0, 0.5, 0),
])
def test_n_mask_is_max_one_floor(length, p, expected):
    assert n_mask(length, p) == expected


def test_head_and_tail():
    assert mask_positions("head", 7, 0.5) == [0, 1, 2]
    assert mask_positions("tail", 7, 0.5) == [4, 5, 6]
    assert mask_positions("tail", 5, 0.1) == [4]


def test_chunk_keeps_the_first_token_of_each_chunk_including_the_last_partial_one():
    # k = 3 over 8 tokens: chunks [0 1 2] [3 4 5] [6 7] -> keep 0, 3, 6
    assert mask_positions("chunk", 8, k=3) == [1, 2, 4, 5, 7]
    assert mask_positions("chunk", 5, k=2) == [1, 3]
    assert mask_positions("chunk", 9, k=4) == [1, 2, 3, 5, 6, 7]  # last chunk [8] keeps its token
    assert mask_positions("chunk", 1, k=4) == []


def test_random_draws_n_mask_distinct_positions_reproducibly():
    first = mask_positions("random", 20, 0.3, rng=random.Random(1))
    assert len(first) == 6 == len(set(first)) and first == sorted(first)
    assert first == mask_positions("random", 20, 0.3, rng=random.Random(1))
    assert first != mask_positions("random", 20, 0.3, rng=random.Random(2))


def test_apply_mask_and_errors():
    assert apply_mask(list("abcde"), [1, 3]) == ["a", "<mask>", "c", "<mask>", "e"]
    with pytest.raises(ValueError, match="needs an rng"):
        mask_positions("random", 5, 0.5)
    with pytest.raises(ValueError, match="unknown masking strategy 'middle'"):
        mask_positions("middle", 5, 0.5)
    with pytest.raises(ValueError, match="outside"):
        n_mask(5, 1.5)
    with pytest.raises(ValueError, match="outside 3 tokens"):
        apply_mask([10, 11, 12], [3])
    with pytest.raises(ValueError, match="outside 3 tokens"):
        apply_mask([10, 11, 12], [-1])


def test_position_functions_need_no_torch():
    # scripts/synthetic.py imports mask_positions in an environment that needs no torch
    code = ("import sys; sys.modules['torch'] = None\n"
            "from natpipe.blocks.masking import apply_mask, expand_chunks, mask_positions\n"
            "assert mask_positions('chunk', 5, k=2) == [1, 3]\n"
            "assert expand_chunks([0, 7], 2, 3) == [0, 3, 7]\n"
            "assert apply_mask([5, 6], [1], 3) == [5, 3]\n")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_chunk_masked_is_the_same_predicate_on_ints_and_tensors():
    assert [chunk_masked(i, 3) for i in range(7)] == [False, True, True, False, True, True, False]
    assert chunk_masked(torch.arange(7), 3).tolist() == [chunk_masked(i, 3) for i in range(7)]


@pytest.mark.parametrize("k", [2, 3, 4, 5])
def test_chunk_mask_over_a_padded_batch_matches_mask_positions(k):
    rng = random.Random(k)
    lengths = [rng.randint(0, 13) for _ in range(20)]
    maskable = torch.zeros(len(lengths), max(lengths), dtype=torch.bool)
    for row, length in enumerate(lengths):
        maskable[row, :length] = True
    masked = chunk_mask(maskable, k)
    for row, length in enumerate(lengths):
        assert masked[row].nonzero().flatten().tolist() == mask_positions("chunk", length, k=k)


def test_chunk_mask_counted_from_a_leading_bos_keeps_every_kth_column():
    # columns 0.. follow [B] (position 0): [B] y1 y2 y3 y4 y5 with k = 2 keeps [B] y2 y4
    maskable = torch.tensor([[True] * 5, [True, True, True, False, False]])
    assert chunk_mask(maskable, 2, start=1).tolist() == [[True, False, True, False, True],
                                                        [True, False, True, False, False]]
    assert chunk_mask(maskable[:1], 3, start=1).tolist() == [[True, True, False, True, True]]


def test_expand_chunks_places_kept_tokens_every_k_positions():
    assert expand_chunks(["B", "a", "b"], 3, "M") == ["B", "M", "M", "a", "M", "M", "b"]
    assert expand_chunks(["B"], 2, "M") == ["B"] and expand_chunks([], 2, "M") == []
    for k in (2, 3, 4):
        for m in range(5):
            expanded = expand_chunks(list(range(10, 11 + m)), k, "M")
            assert len(expanded) == k * m + 1
            assert [i for i, t in enumerate(expanded) if t == "M"] == mask_positions("chunk", k * m + 1, k=k)


def padded_targets(lengths, seed=0):
    """Right-padded batch of y_1 .. y_N </s> (ids >= 10)."""
    torch.manual_seed(seed)
    target = torch.full((len(lengths), max(lengths) + 1), PAD)
    for row, length in enumerate(lengths):
        target[row, :length] = torch.randint(10, 50, (length,))
        target[row, length] = EOS
    return target


def test_random_count_mask_masks_one_to_n_tokens_never_eos_or_padding():
    lengths = [4, 1, 7, 0, 3]
    target = padded_targets(lengths)
    maskable = target.ne(PAD) & target.ne(EOS)
    generator = torch.Generator().manual_seed(0)
    seen = {n: set() for n in lengths}
    for _ in range(300):
        masked = random_count_mask(maskable, generator)
        assert not masked[~maskable].any()  # never padding or </s>
        assert not (target[masked].eq(PAD) | target[masked].eq(EOS)).any()
        counts = masked.sum(1).tolist()
        for n, count in zip(lengths, counts):
            assert (1 <= count <= n) if n else count == 0
            seen[n].add(count)
    assert all(seen[n] == set(range(1, n + 1)) for n in lengths if n)  # every count 1 .. N occurs


def test_random_count_mask_is_reproducible_from_the_generator_seed():
    maskable = padded_targets([6, 9, 2, 8]).ne(PAD)

    def draws(seed):
        generator = torch.Generator().manual_seed(seed)
        return [random_count_mask(maskable, generator) for _ in range(3)]

    first = draws(7)
    assert all(torch.equal(a, b) for a, b in zip(first, draws(7)))
    assert not all(torch.equal(a, b) for a, b in zip(first, draws(8)))
    assert not torch.equal(first[0], first[1])  # the generator advances between batches


def test_masked_input_output_prefixes_bos_and_keeps_loss_on_masked_positions_only():
    target = torch.tensor([[11, 12, 13, EOS], [14, EOS, PAD, PAD]])
    masked = torch.tensor([[False, True, True, False], [True, False, False, False]])
    prev, out = masked_input_output(target, masked, B, MASK, PAD)
    assert prev.tolist() == [[B, 11, MASK, MASK, EOS], [B, MASK, EOS, PAD, PAD]]
    assert out.tolist() == [[PAD, PAD, 12, 13, PAD], [PAD, 14, PAD, PAD, PAD]]
