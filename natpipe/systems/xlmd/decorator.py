"""The pieces of XLM-D that are not XLM-R ([XLMD] §2.2-2.3): the decorator and what trains and
decodes through it. Plain torch, so that each is tested against a direct computation.

* Latent transformation: z_j = sum_i softmax_i(-(i - j I/J)^2 / 2 sigma^2) h_i, i = 1..I source
  states, j = 1..J = s*I outputs (the paper's I/(s I) j); sigma is the decorator's only parameter.
* XLM-R has 512 positions: J = min(ceil(s I), 512), i.e. a longer source is upsampled by less; the
  encoder itself reads at most 512 (the model truncates longer sources, see model.py).
* Add & scale (Eq. 4): z'_j = (z_j + e[a_j]) gamma + p_j, e = XLM-R's word embeddings of the input
  alignment a (all [MASK] at first), p = its position embeddings.
* Training (Algorithm 1): the best alignment a* from an all-[MASK] pass (Viterbi), cut into blocks
  of B positions; in each block k = 1 + floor(u len) random positions are masked, u ~ U[0, 1) once
  per sentence (the paper gives no ratio: CMLM's uniform count, the same share in every block).
  Constrained CTC sums only the alignments that keep the unmasked positions' tokens, each weighted
  by its masked positions' probabilities (the unmasked are given, as CMLM's loss covers the masked
  tokens only): their log-probabilities are replaced by
  0 for a*_j and -1e4 for every other token, so they carry no gradient and exclude the other paths.
* Decoding: T steps from an all-[MASK] alignment; each step predicts the masked positions (argmax),
  merges them into the alignment, and re-masks, in every block, the floor(n (T - t) / T) positions
  of lowest probability (n: the block's real positions), so the last step keeps everything.
  Blocks are T long ("Dynamic", one position per block fixed per step) or of a static size.
"""
from __future__ import annotations

import torch

from natpipe.blocks.ctc import ctc_loss
from natpipe.blocks.upsampling import upsampled_lengths

XLMR_POSITIONS = 512  # learned positions of XLM-R (514 rows: padding index 1 and the rows below it unused)
EXCLUDED = -1e4  # log-probability of a token an unmasked position may not emit (exp() is 0 in float32)


def decorated_lengths(src_lengths: torch.Tensor, ratio: float, limit: int = XLMR_POSITIONS) -> torch.Tensor:
    """J = min(ceil(s * I), limit) per sentence."""
    return upsampled_lengths(src_lengths, ratio).clamp(max=limit)


def latent_weights(src_mask: torch.Tensor, out_lengths: torch.Tensor, sigma: torch.Tensor) -> torch.Tensor:
    """B x J x S weights w_ji of the latent transformation; rows j >= J_b and padded sources are 0.

    Source positions i are counted among real tokens (1..I), so either padding side gives the same
    weights; output j (1..J_b) is centred at j * I / J_b."""
    src_mask = src_mask.bool()
    device = src_mask.device
    out_lengths = out_lengths.to(device)
    width = int(out_lengths.max()) if out_lengths.numel() else 0
    src_len = src_mask.sum(1).float()
    i = src_mask.cumsum(1).float()                                            # 1..I at real tokens
    j = torch.arange(1, width + 1, device=device, dtype=torch.float32)
    centre = j[None, :] * src_len[:, None] / out_lengths.float().clamp(min=1)[:, None]  # B x J
    sigma = sigma.float().clamp(min=1e-3)
    logits = -(i[:, None, :] - centre[:, :, None]) ** 2 / (2 * sigma ** 2)
    logits = logits.masked_fill(~src_mask[:, None, :], float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    keep = (j[None, :] <= out_lengths[:, None]) & (src_len[:, None] > 0)
    return torch.where(keep[:, :, None], weights, torch.zeros_like(weights))


def latent_transform(states: torch.Tensor, src_mask: torch.Tensor, out_lengths: torch.Tensor,
                     sigma: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B x J x C upsampled states z, B x J mask, right padded) from B x S x C states h^M."""
    weights = latent_weights(src_mask, out_lengths, sigma)
    width = weights.size(1)
    out_mask = torch.arange(width, device=weights.device)[None, :] < out_lengths.to(weights.device)[:, None]
    return torch.bmm(weights.to(states.dtype), states), out_mask


def add_and_scale(latent: torch.Tensor, alignment_embeddings: torch.Tensor, positions: torch.Tensor,
                  gamma: float) -> torch.Tensor:
    """Eq. (4): (z + e[a]) * gamma + p."""
    return (latent + alignment_embeddings) * gamma + positions


def block_ids(mask: torch.Tensor, block: int) -> torch.Tensor:
    """B x J index of each position's block (position j // block); -1 at padding."""
    index = torch.arange(mask.size(1), device=mask.device)[None, :].expand_as(mask) // block
    return index.masked_fill(~mask.bool(), -1)


def block_sizes(mask: torch.Tensor, block: int) -> torch.Tensor:
    """B x J: the number of real positions in each position's block (0 at padding)."""
    ids = block_ids(mask, block)
    count = torch.zeros(mask.size(0), mask.size(1) // block + 1, dtype=torch.long, device=mask.device)
    count.scatter_add_(1, ids.clamp(min=0), mask.long())
    return count.gather(1, ids.clamp(min=0)) * mask.long()


def lowest_in_blocks(scores: torch.Tensor, mask: torch.Tensor, block: int, counts: torch.Tensor) -> torch.Tensor:
    """B x J bool: in every block, the counts[b, j] (a per-position copy of the block's count) real
    positions of lowest score, ties to the earlier position."""
    mask = mask.bool()
    batch, width = mask.shape
    padded = -(-width // block) * block
    keyed = torch.full((batch, padded), float("inf"), device=scores.device)
    keyed[:, :width] = scores.float().masked_fill(~mask, float("inf"))
    order = keyed.view(batch, -1, block).argsort(dim=-1, stable=True)                # ascending within a block
    rank = torch.empty_like(order)
    rank.scatter_(-1, order, torch.arange(block, device=scores.device).expand_as(order).contiguous())
    rank = rank.view(batch, padded)[:, :width]
    return mask & (rank < counts)


def training_mask(mask: torch.Tensor, block: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """B x J bool, True = masked: in each block of n real positions, k = 1 + floor(u n) of them
    chosen uniformly at random, u ~ U[0, 1) drawn once per sentence (so k ~ U{1..n} in each block).

    One u per sentence, not per block: decoding re-masks the same share of every block, and a
    sentence is wholly masked (its loss plain CTC, the first decoding step's input) one time in
    `block`. Drawn per block, a 40-position sentence is wholly masked with probability 8^-5, and
    a Reset model on the sample stayed on the all-blank output (README). Drawn on the CPU (the
    same on any device)."""
    cpu_mask = mask.bool().cpu()
    sizes = block_sizes(cpu_mask, block)
    u = torch.rand(cpu_mask.size(0), 1, generator=generator)
    k = (1 + (u * sizes).floor().long()).clamp(max=block)  # one key per position then picks which k
    keys = torch.rand(cpu_mask.shape, generator=generator)
    return lowest_in_blocks(keys, cpu_mask, block, k * cpu_mask.long()).to(mask.device)


def remask_counts(mask: torch.Tensor, block: int, step: int, steps: int) -> torch.Tensor:
    """B x J: floor(n (T - t) / T) per position's block (n real positions; t = step, 1..T)."""
    return block_sizes(mask, block) * (steps - step) // steps


def constrain(lprobs: torch.Tensor, alignment: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """log-probabilities where each kept position can only emit its alignment token."""
    forced = torch.full_like(lprobs, EXCLUDED).scatter_(-1, alignment.unsqueeze(-1), 0.0)
    return torch.where(keep.unsqueeze(-1), forced, lprobs)


def constrained_ctc_loss(lprobs: torch.Tensor, mask: torch.Tensor, alignment: torch.Tensor, keep: torch.Tensor,
                         targets: torch.Tensor, target_mask: torch.Tensor, blank: int) -> torch.Tensor:
    """Per-sentence -log sum over a in Gamma(y) with a_j = alignment_j wherever keep_j."""
    return ctc_loss(constrain(lprobs.float(), alignment, keep & mask.bool()), mask, targets, target_mask, blank)


def block_size(setting, iterations: int) -> int:
    """`block` of the decoding settings: 'dynamic' = T, else the static size."""
    return iterations if setting in ("dynamic", None) else int(setting)
