"""Decoder lengths and decoder inputs of a fully NAT model (Gu & Kong 2021, Appendix A).

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
