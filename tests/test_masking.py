"""Mask positions of HRT §4's strategies, checked on hand-computed examples."""
import random

import pytest

from natpipe.masking import apply_mask, mask_positions, n_mask


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
