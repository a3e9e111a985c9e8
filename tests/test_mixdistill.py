"""MixDistill: raw fraction ~ p_raw, deterministic per (seed, epoch), redrawn across epochs."""
import numpy as np
import pytest
import torch

import natpipe.plugin  # noqa: F401  (compat layer before fairseq data modules)
from fairseq.data import Dictionary, LanguagePairDataset

from natpipe.blocks.mixdistill import MixDistillDataset, draw_raw_mask

N = 4000


def pair_dataset(target_offset: int) -> LanguagePairDataset:
    """Sources 0..N-1 (one token each); targets of length 1 + (i % 3) + offset."""
    vocab = Dictionary()
    for word in range(20):
        vocab.add_symbol(str(word))
    src = [torch.tensor([vocab.index(str(i % 10)), vocab.eos()]) for i in range(N)]
    tgt = [torch.tensor([vocab.index("1")] * (1 + i % 3 + target_offset) + [vocab.eos()]) for i in range(N)]
    return LanguagePairDataset(src, np.array([len(s) for s in src]), vocab, tgt, np.array([len(t) for t in tgt]), vocab)


@pytest.mark.parametrize("p_raw", [0.0, 0.2, 0.5, 1.0])
def test_raw_fraction_matches_p_raw(p_raw):
    mixed = MixDistillDataset(pair_dataset(0), pair_dataset(5), p_raw, seed=1)
    fractions = []
    for epoch in (1, 2, 3):
        mixed.set_epoch(epoch)
        fractions.append(mixed.use_raw.mean())
    # binomial standard deviation at N=4000 is at most 0.008: 4 sigma
    assert all(abs(f - p_raw) <= 0.032 for f in fractions)


def test_items_take_the_chosen_target_and_keep_their_source():
    raw, distilled = pair_dataset(0), pair_dataset(5)
    mixed = MixDistillDataset(raw, distilled, 0.5, seed=3)
    for index in range(50):
        item = mixed[index]
        expected = raw[index] if mixed.use_raw[index] else distilled[index]
        assert torch.equal(item["target"], expected["target"]) and torch.equal(item["source"], raw[index]["source"])
        assert mixed.size(index)[1] == len(expected["target"])
    batch = mixed.collater([mixed[i] for i in range(8)])
    assert batch["net_input"]["src_tokens"].shape[0] == 8


def test_draw_is_deterministic_under_a_seed_and_differs_across_epochs():
    a = draw_raw_mask(N, 0.5, seed=7, epoch=1)
    assert np.array_equal(a, draw_raw_mask(N, 0.5, seed=7, epoch=1))
    assert not np.array_equal(a, draw_raw_mask(N, 0.5, seed=7, epoch=2))
    assert not np.array_equal(a, draw_raw_mask(N, 0.5, seed=8, epoch=1))
    mixed = MixDistillDataset(pair_dataset(0), pair_dataset(5), 0.5, seed=7)
    mixed.set_epoch(2)
    assert np.array_equal(mixed.use_raw, draw_raw_mask(N, 0.5, seed=7, epoch=2))
    assert not mixed.can_reuse_epoch_itr_across_epochs


def test_mismatched_corpora_are_refused():
    with pytest.raises(ValueError, match="differ in size"):
        MixDistillDataset(pair_dataset(0), torch.utils.data.Subset(pair_dataset(0), range(3)), 0.5, 1)
