"""MixDistill (HRT §5): each training example takes its raw target with probability p_raw and
its distilled target otherwise, redrawn every epoch.

Both underlying datasets are fairseq LanguagePairDatasets over the same source lines (the
distilled corpus is binarized with the raw dictionary and verified line by line), so an example
keeps its index and its source whichever target it takes. p_raw = 1 is raw data, 0 distilled.
"""
from __future__ import annotations

import numpy as np
from fairseq.data import FairseqDataset, data_utils


def draw_raw_mask(size: int, p_raw: float, seed: int, epoch: int) -> np.ndarray:
    """Which examples use the raw target in `epoch`: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).random(size) < p_raw


class MixDistillDataset(FairseqDataset):
    def __init__(self, raw, distilled, p_raw: float, seed: int, shuffle: bool = True):
        if len(raw) != len(distilled):
            raise ValueError(f"raw ({len(raw)}) and distilled ({len(distilled)}) training sets differ in size")
        if not np.array_equal(raw.src_sizes, distilled.src_sizes):
            raise ValueError("raw and distilled training sets have different sources")
        self.raw, self.distilled = raw, distilled
        self.p_raw, self.seed, self.shuffle = p_raw, seed, shuffle
        self.src_sizes = raw.src_sizes
        self.set_epoch(1)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        self.use_raw = draw_raw_mask(len(self.raw), self.p_raw, self.seed, epoch)
        self.tgt_sizes = np.where(self.use_raw, self.raw.tgt_sizes, self.distilled.tgt_sizes)
        for dataset in (self.raw, self.distilled):
            dataset.set_epoch(epoch)

    @property
    def can_reuse_epoch_itr_across_epochs(self) -> bool:
        return False  # target lengths change with every draw, so batches must be rebuilt

    def __getitem__(self, index: int) -> dict:
        return (self.raw if self.use_raw[index] else self.distilled)[index]

    def __len__(self) -> int:
        return len(self.raw)

    def collater(self, samples, pad_to_length=None):
        return self.raw.collater(samples, pad_to_length)

    @property
    def sizes(self):
        return np.vstack((self.src_sizes, self.tgt_sizes)).T

    def num_tokens(self, index: int) -> int:
        return max(self.src_sizes[index], self.tgt_sizes[index])

    def num_tokens_vec(self, indices):
        return np.maximum(self.src_sizes[indices], self.tgt_sizes[indices])

    def size(self, index: int):
        return self.src_sizes[index], self.tgt_sizes[index]

    def ordered_indices(self):
        """Shuffled, then sorted by target and source length like LanguagePairDataset."""
        if self.shuffle:
            indices = np.random.permutation(len(self)).astype(np.int64)
        else:
            indices = np.arange(len(self), dtype=np.int64)
        indices = indices[np.argsort(self.tgt_sizes[indices], kind="mergesort")]
        return indices[np.argsort(self.src_sizes[indices], kind="mergesort")]

    def filter_indices_by_size(self, indices, max_sizes):
        return data_utils.filter_paired_dataset_indices_by_size(self.src_sizes, self.tgt_sizes, indices, max_sizes)

    @property
    def supports_prefetch(self) -> bool:
        return False
