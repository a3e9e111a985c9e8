"""Glancing targets (Qian et al. 2020) as Gu & Kong (2021, §3.4) use them.

The number of glanced tokens is l ~ Poisson(f_ratio x D(y_hat, y)), D the Levenshtein distance
between the model's prediction and the reference: a poor prediction glances at many target
tokens, a good one at few, and the Poisson (instead of GLAT's deterministic l) leaves a chance of
not glancing at all. The RND ablation draws l uniformly from 0..|y|. Which positions are glanced
is uniform among the real ones; with CTC the caller glances at the Viterbi-aligned tokens a*.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch

MODES = ("glat", "rnd")


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance with unit insertion, deletion and substitution costs, one pair in pure Python:
    the reference that `batched_levenshtein` is tested against (too slow for training)."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


def batched_levenshtein(a: torch.Tensor, a_lengths: torch.Tensor, b: torch.Tensor,
                        b_lengths: torch.Tensor) -> torch.Tensor:
    """Edit distances of B right-padded pairs (LongTensor B) on their device, without a host sync.

    Glancing needs D(y_hat, y) for every sentence of every update; a per-sentence Python loop costs
    more than the decoder pass on a GPU. The DP runs vectorised over the batch and the wider
    string's positions and loops over the narrower one's (the distance is symmetric), three
    kernels a row. A row's dependency on its left neighbour, row[j] = min_{k <= j} (tmp[k] + j - k),
    is a cumulative minimum once rows are kept as v[j] = row_i[j] - j - i (v = cummin(tmp - j - i)).
    Rows past a sentence's |a| get an unbeatable diagonal, which leaves v as it is. Padding
    contents are ignored.
    """
    if a.size(1) > b.size(1):
        a, a_lengths, b, b_lengths = b, b_lengths, a, a_lengths
    batch, width = b.shape
    a_lengths, b_lengths = a_lengths.long(), b_lengths.long()
    # diagonal move in v units: substitution cost (0 or 1) - 2; never taken past |a_b|
    diagonal = (a.t()[:, :, None] != b[None]).long() - 2                    # |a| x B x |b|
    past_a = torch.arange(a.size(1), device=a.device)[:, None] >= a_lengths[None, :]
    diagonal.masked_fill_(past_a[:, :, None], a.size(1) + width + 2)
    v = torch.zeros(batch, width + 1, dtype=torch.long, device=b.device)    # row 0: row[j] = j
    candidate = torch.zeros_like(v)                                          # column 0: row[0] = i
    for i in range(a.size(1)):
        torch.minimum(v[:, 1:], v[:, :-1] + diagonal[i], out=candidate[:, 1:])  # deletion, substitution
        v = candidate.cummin(1).values                                          # insertions
    return v.gather(1, b_lengths[:, None]).squeeze(1) + b_lengths + a_lengths


def _device(generator: torch.Generator | None, fallback: torch.device) -> torch.device:
    """Draw where the generator lives (a CPU generator cannot feed CUDA sampling), then move."""
    return generator.device if generator is not None else fallback


def glance_counts(distances: torch.Tensor, lengths: torch.Tensor, f_ratio: float = 0.5, mode: str = "glat",
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """How many target tokens each sentence glances at, clamped to [0, length] (LongTensor B).

    "glat": l ~ Poisson(f_ratio x distance); "rnd": l ~ Uniform{0, ..., length}.
    """
    if f_ratio < 0:
        raise ValueError(f"glancing ratio f_ratio={f_ratio} must be non-negative")
    device = _device(generator, lengths.device)
    lengths = lengths.long()
    if mode == "glat":
        rates = (f_ratio * distances.to(device=device, dtype=torch.float32)).clamp(min=0)
        counts = torch.poisson(rates, generator=generator).long()
    elif mode == "rnd":
        high = lengths.to(device).clamp(min=0)
        uniform = torch.rand(high.shape, generator=generator, device=device)
        counts = (uniform * (high + 1)).long()                              # floor: 0..length
    else:
        raise ValueError(f"unknown glancing mode {mode!r} (choose from {', '.join(MODES)})")
    counts = counts.to(lengths.device)
    return torch.minimum(counts, lengths).clamp(min=0)


def glance_mask(eligible: torch.Tensor, counts: torch.Tensor,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """B x T mask with exactly min(counts[b], eligible[b].sum()) True positions, drawn uniformly
    among the eligible ones (the target positions; for CTC the frames its best alignment gives a
    target token, never a blank): random scores, the rest pushed last, keep the lowest ranks."""
    device = eligible.device
    scores = torch.rand(eligible.shape, generator=generator, device=_device(generator, device)).to(device)
    scores = scores.masked_fill(~eligible, 2.0)                             # above any eligible score
    ranks = scores.argsort(dim=1).argsort(dim=1)
    counts = torch.minimum(counts.to(device).long(), eligible.sum(1)).clamp(min=0)
    return (ranks < counts[:, None]) & eligible
