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
    """Edit distance with unit insertion, deletion and substitution costs."""
    if len(a) < len(b):
        a, b = b, a
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        diagonal, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            diagonal, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, diagonal + (x != y))
    return row[-1]


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


def glance_mask(lengths: torch.Tensor, counts: torch.Tensor, width: int,
                generator: torch.Generator | None = None) -> torch.Tensor:
    """B x width mask with exactly min(counts[b], lengths[b]) True positions, drawn uniformly
    among the first lengths[b]: random scores, padding pushed last, keep the lowest ranks."""
    device = lengths.device
    scores = torch.rand(lengths.size(0), width, generator=generator,
                        device=_device(generator, device)).to(device)
    positions = torch.arange(width, device=device)[None, :]
    real = positions < lengths[:, None]
    scores = scores.masked_fill(~real, 2.0)                                 # above any real score
    ranks = scores.argsort(dim=1).argsort(dim=1)
    counts = torch.minimum(counts.to(device).long(), lengths.long()).clamp(min=0)
    return (ranks < counts[:, None]) & real
