"""Which target positions to mask: one definition shared by every system.

HRT §4's synthetic strategies: given a translation of N tokens and a masking rate p,
N_mask = max(1, floor(N * p)) tokens are masked: HEAD the first N_mask, TAIL the last N_mask,
RANDOM N_mask positions drawn uniformly. CHUNK ignores p: it cuts the sequence into ceil(N / k)
chunks of k tokens, keeps the first token of each chunk and masks the other k - 1 (the last chunk
may be shorter), so its real rate is about 1 - 1/k. The same keep-every-k-th pattern is HRT's
Skip-CMLM input, counted from [B]: [B] y_1 .. y_N keeps [B], y_k, y_2k, ... (`chunk_mask` in
training, `expand_chunks` at inference). CMLM's mask-predict objective masks a uniform number
1 .. N of the tokens at uniform positions (`random_count_mask`).

The position functions are plain Python (scripts/synthetic.py uses them without torch); the
tensor helpers import torch when called, and the module never imports fairseq.
"""
from __future__ import annotations

import math
import random

STRATEGIES = ("head", "tail", "random", "chunk")


def n_mask(length: int, p_mask: float) -> int:
    """max(1, floor(N * p)); the epsilon keeps 0.7 * 10 = 6.999... from flooring to 6."""
    if length == 0:
        return 0
    if not 0 < p_mask <= 1:
        raise ValueError(f"masking rate {p_mask} is outside (0, 1]")
    return min(length, max(1, math.floor(length * p_mask + 1e-9)))


def chunk_masked(position, k: int):
    """The CHUNK pattern itself: is `position` (an int, or an integer tensor elementwise) masked?
    Position 0 of every chunk of k is kept."""
    return position % k != 0


def mask_positions(strategy: str, length: int, p_mask: float = 0.0, k: int = 2,
                   rng: random.Random | None = None) -> list[int]:
    """Sorted 0-based positions to mask in a sequence of `length` tokens."""
    if strategy == "head":
        return list(range(n_mask(length, p_mask)))
    if strategy == "tail":
        return list(range(length - n_mask(length, p_mask), length))
    if strategy == "random":
        if rng is None:
            raise ValueError("the random strategy needs an rng (seeded per run)")
        return sorted(rng.sample(range(length), n_mask(length, p_mask)))
    if strategy == "chunk":
        if k < 2:
            raise ValueError(f"chunk size k={k} must be at least 2")
        return [i for i in range(length) if chunk_masked(i, k)]
    raise ValueError(f"unknown masking strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")


def apply_mask(tokens: list, positions: list[int], mask="<mask>") -> list:
    """`tokens` (strings or ids) with every position in `positions` replaced by `mask`; a position
    outside the tokens is an error, not silently skipped (it would mean misaligned masks)."""
    chosen = set(positions)
    if chosen and not (min(chosen) >= 0 and max(chosen) < len(tokens)):
        raise ValueError(f"mask positions {sorted(chosen)} fall outside {len(tokens)} tokens")
    return [mask if i in chosen else token for i, token in enumerate(tokens)]


def expand_chunks(kept: list, k: int, mask) -> list:
    """The CHUNK pattern seen from its kept tokens: kept[j] at position j*k, `mask` between.

    HRT's Skip-CMLM inference input: kept = [B] z_1 .. z_m gives [B] (mask^(k-1) z_i)_i, k*m + 1
    tokens, the same layout as the Skip-CMLM training input.
    """
    length = (len(kept) - 1) * k + 1 if kept else 0
    tokens = iter(kept)
    return [mask if chunk_masked(i, k) else next(tokens) for i in range(length)]


# -- tensor helpers for batched training samples (right-padded [batch, width] tensors) ----------

def chunk_mask(maskable, k: int, start: int = 0):
    """CHUNK over a batch: column c is masked iff chunk_masked(start + c, k) and maskable[:, c].

    `start` is the position of column 0 in the sequence the pattern is counted on (1 when the
    columns follow a [B] that is not part of the tensor).
    """
    import torch

    columns = torch.arange(start, start + maskable.size(1), device=maskable.device)[None, :]
    return chunk_masked(columns, k) & maskable


def random_count_mask(maskable, generator):
    """CMLM's training masks (mask-predict): per row, a uniform count 1 .. N of its N maskable
    positions, chosen uniformly at random; rows without maskable positions get no mask.

    Draws come from `generator` on the CPU (then moved to `maskable`'s device), so the masks
    depend only on the seed, not on the device.
    """
    import torch

    lengths = maskable.sum(1)
    scores = torch.rand(maskable.shape, generator=generator).to(maskable.device).masked_fill(~maskable, 2.0)
    counts = (torch.rand(len(lengths), generator=generator).to(maskable.device) * lengths).long() + 1
    counts = torch.minimum(counts, lengths)
    ranks = scores.argsort(1).argsort(1)
    return (ranks < counts[:, None]) & maskable


def masked_input_output(target, masked, bos: int, mask: int, pad: int):
    """(decoder input, output) of a masked-LM sample: input [B] + target with `masked` replaced by
    `mask`; output pad except at the masked positions, so the loss is taken there only."""
    import torch

    prev = torch.cat([target.new_full((target.size(0), 1), bos), target.masked_fill(masked, mask)], dim=1)
    output = torch.cat([target.new_full((target.size(0), 1), pad), target.masked_fill(~masked, pad)], dim=1)
    return prev, output
