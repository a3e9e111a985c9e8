"""Decoder lengths and decoder inputs of NAT models: Fully NAT's (Gu & Kong 2021, Appendix A) and the
uniform copy (Gu et al. 2018) that hint-NART's decoder reads.

CTC needs a decoder longer than the target, so its length is lambda x the source length; CE and
AXE use a target-sized decoder. Either way the decoder input is SoftCopy (Wei et al. 2019): each
decoder position averages the encoder states around its proportional source position.
"""
from __future__ import annotations

import torch


def upsampled_lengths(src_lengths: torch.Tensor, ratio: float) -> torch.Tensor:
    """ceil(ratio * length), at least 1; the epsilon keeps 1.1 * 10 = 11.000000000000002 at 11."""
    if ratio <= 0:
        raise ValueError(f"upsampling ratio {ratio} must be positive")
    scaled = src_lengths.to(torch.float64) * ratio - 1e-6
    return torch.ceil(scaled).long().clamp(min=1)


def soft_copy_weights(src_mask: torch.Tensor, tgt_lengths: torch.Tensor, tau: float = 1.0) -> torch.Tensor:
    """B x T x S float32 weights of `soft_copy`; rows i >= T_b are zero, padded sources get 0.

    Source positions are counted among real tokens only (cumsum of the mask), so left and right
    padding give the same weights on the real positions.
    """
    if tau <= 0:
        raise ValueError(f"SoftCopy temperature tau={tau} must be positive")
    src_mask = src_mask.bool()
    device = src_mask.device
    tgt_lengths = tgt_lengths.to(device)
    width = int(tgt_lengths.max()) if tgt_lengths.numel() else 0
    src_len = src_mask.sum(1).float()                                      # S_b
    src_pos = (src_mask.cumsum(1) - 1).float()                             # j among real tokens
    i = torch.arange(width, device=device, dtype=torch.float32)
    step = (src_len - 1).clamp(min=0) / (tgt_lengths.float() - 1).clamp(min=1)
    centre = i[None, :] * step[:, None]                                    # B x T
    logits = -(src_pos[:, None, :] - centre[:, :, None]).abs() / tau
    logits = logits.masked_fill(~src_mask[:, None, :], float("-inf"))
    weights = torch.softmax(logits, dim=-1)
    keep = (i[None, :] < tgt_lengths[:, None]) & (src_len[:, None] > 0)   # no NaN rows for S_b = 0
    return torch.where(keep[:, :, None], weights, torch.zeros_like(weights))


def soft_copy(source: torch.Tensor, src_mask: torch.Tensor, tgt_lengths: torch.Tensor,
              tau: float = 1.0) -> tuple[torch.Tensor, torch.Tensor]:
    """SoftCopy: position i of sentence b gets sum_j w_ij source[b, j] with
    w_ij = softmax_j(-|j - i (S_b - 1) / max(T_b - 1, 1)| / tau) over the real source tokens.

    source: B x S x C; src_mask: B x S, True on real tokens (left or right padded);
    tgt_lengths: B. Returns (B x T x C inputs, B x T target mask), T = max(tgt_lengths), with
    right-padded targets whose padded positions are zeros.
    """
    weights = soft_copy_weights(src_mask, tgt_lengths, tau)
    width = weights.size(1)
    tgt_mask = torch.arange(width, device=weights.device)[None, :] < tgt_lengths.to(weights.device)[:, None]
    return torch.bmm(weights.to(source.dtype), source), tgt_mask


def uniform_copy_indices(src_lengths: torch.Tensor, tgt_lengths: torch.Tensor) -> torch.Tensor:
    """B x T source positions of the uniform copy (Gu et al. 2018; hint-NART §2): target position
    t (from 0) reads source position round(t * T_x / T_y), halves rounded up and clamped to the
    last source token; positions past T_y read 0. Counted among real source tokens."""
    src_lengths, tgt_lengths = src_lengths.long(), tgt_lengths.long().to(src_lengths.device)
    width = int(tgt_lengths.max()) if tgt_lengths.numel() else 0
    t = torch.arange(width, device=src_lengths.device)[None, :]
    # integer arithmetic: floor((2 t T_x + T_y) / (2 T_y)) = round-half-up of t T_x / T_y, exactly
    index = (2 * t * src_lengths[:, None] + tgt_lengths[:, None]) // (2 * tgt_lengths[:, None].clamp(min=1))
    index = torch.minimum(index, (src_lengths[:, None] - 1).clamp(min=0))
    return index.masked_fill(t >= tgt_lengths[:, None], 0)


def uniform_copy(source: torch.Tensor, src_mask: torch.Tensor, tgt_lengths: torch.Tensor):
    """The uniform copy of `source` (B x S x C, real tokens contiguous where `src_mask`, left or right
    padded) to `tgt_lengths` positions: (B x T x C inputs, B x T mask), padded positions zero."""
    src_mask = src_mask.bool()
    index = uniform_copy_indices(src_mask.sum(1), tgt_lengths)
    tgt_mask = torch.arange(index.size(1), device=index.device)[None, :] < tgt_lengths.to(index.device)[:, None]
    column = index + src_mask.long().argmax(1, keepdim=True)  # the first real token's column
    copied = source.gather(1, column.unsqueeze(-1).expand(-1, -1, source.size(-1)))
    return copied * tgt_mask.unsqueeze(-1).to(copied), tgt_mask
