"""Which target positions to mask: the strategies of HRT §4's synthetic experiments.

Given a translation of N tokens and a masking rate p, N_mask = max(1, floor(N * p)) tokens are
masked: HEAD the first N_mask, TAIL the last N_mask, RANDOM N_mask positions drawn uniformly.
CHUNK ignores p: it cuts the sequence into ceil(N / k) chunks of k tokens, keeps the first token
of each chunk and masks the other k - 1 (the last chunk may be shorter), so its real rate is
about 1 - 1/k. The same keep-every-k-th pattern is HRT's Skip-CMLM input.

Plain Python on positions, so that every system (synthetic experiments, HRT, CMLM decoding)
shares one definition and tests can check exact positions.
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
        return [i for i in range(length) if i % k != 0]
    raise ValueError(f"unknown masking strategy {strategy!r} (choose from {', '.join(STRATEGIES)})")


def apply_mask(tokens: list[str], positions: list[int], mask: str = "<mask>") -> list[str]:
    chosen = set(positions)
    return [mask if i in chosen else token for i, token in enumerate(tokens)]
