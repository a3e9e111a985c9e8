"""Aligned cross-entropy (AXE, Ghazvininejad et al. 2020), the monotonic hard-alignment loss
that Gu & Kong (2021, §3.3) compare with CTC on a target-sized decoder.

Unlike CTC it takes the single cheapest alignment (min, not logsumexp): a prediction may be
skipped by emitting blank, and a target token may be skipped at a cost delta x its
log-probability, so a one-token shift is no longer penalised at every later position.
"""
from __future__ import annotations

import torch


def axe_loss(log_probs: torch.Tensor, pred_mask: torch.Tensor, targets: torch.Tensor,
             target_mask: torch.Tensor, blank: int, skip_target_penalty: float = 1.0) -> torch.Tensor:
    """Per-sentence AXE loss A[N_b, T_b], shape B, in at least float32, differentiable.

    With targets y_1..y_N and predictions P_1..P_T (log_probs B x T x V, both right padded;
    T_b >= 1), the dynamic programme is

        A[0, 0] = 0
        A[i, j] = min( A[i-1, j-1] - log P_j(y_i),              align y_i with prediction j
                       A[i-1, j]   - delta * log P_j'(y_i),      skip target y_i, j' = max(j, 1)
                       A[i, j-1]   - log P_j(blank) )            skip prediction j (it emits blank)

    over 0 <= i <= N_b, 0 <= j <= T_b, where a term whose predecessor has a negative index is
    left out (so A[0, j] sums blank costs and A[i, 0] sums skip-target costs with P_1).
    Cells on one anti-diagonal i + j = d depend only on diagonals d-1 and d-2, so the Python
    loop runs N + T times and each step is vectorised over batch and diagonal. The gradient is
    that of the minimising path (ties split it).
    """
    batch, width, _ = log_probs.shape
    length = targets.size(1)
    dtype = torch.promote_types(log_probs.dtype, torch.float32)              # half -> float32
    lp = log_probs.to(dtype).masked_fill(~pred_mask.bool()[:, :, None], 0.0)  # padding stays finite
    targets = targets.masked_fill(~target_mask.bool(), blank).long()
    # logp_y[b, i, j] = log P_j(y_i) on the 1-based (N + 1) x (T + 1) grid; row/column 0 padded
    logp_y = lp.gather(2, targets[:, None, :].expand(batch, width, length)).transpose(1, 2)
    logp_y = torch.cat([logp_y[:, :, :1], logp_y], dim=2)                   # column 0 uses P_1
    logp_y = torch.cat([torch.zeros_like(logp_y[:, :1]), logp_y], dim=1)
    align_cost = -logp_y
    skip_target_cost = -skip_target_penalty * logp_y
    blank_cost = torch.cat([lp.new_zeros(batch, 1), -lp[:, :, blank]], dim=1)  # B x (T + 1)

    # skew every cost onto anti-diagonals once (cell (i, d - i) at [d, i]) so that the loop only
    # unbinds views: indexing inside the loop would cost a full-size gradient buffer per step
    diagonal_count = length + width + 1
    rows = torch.arange(length + 1, device=lp.device)
    cols = torch.arange(diagonal_count, device=lp.device)[:, None] - rows[None, :]   # D x (N + 1)
    valid = ((cols >= 0) & (cols <= width)).unbind(0)
    cols = cols.clamp(0, width)
    index = cols.t()[None].expand(batch, length + 1, diagonal_count)
    align_diag = align_cost.gather(2, index).unbind(2)
    skip_target_diag = skip_target_cost.gather(2, index).unbind(2)
    blank_diag = blank_cost[:, cols].unbind(1)
    inf = lp.new_full((batch, 1), float("inf"))

    def from_above(diagonal: torch.Tensor) -> torch.Tensor:  # value of cell (i - 1, .) at row i
        return torch.cat([inf, diagonal[:, :-1]], dim=1)

    first = torch.cat([lp.new_zeros(batch, 1), inf.expand(batch, length)], dim=1)
    diagonals = [first]
    previous2, previous1 = None, first
    for d in range(1, diagonal_count):
        best = torch.minimum(previous1 + blank_diag[d],                          # skip prediction
                             from_above(previous1) + skip_target_diag[d])        # skip target
        if previous2 is not None:
            best = torch.minimum(best, from_above(previous2) + align_diag[d])    # align
        best = torch.where(valid[d], best, inf)
        diagonals.append(best)
        previous2, previous1 = previous1, best

    table = torch.stack(diagonals, dim=1)                                    # B x (N+T+1) x (N+1)
    n = target_mask.sum(1).long()
    t = pred_mask.sum(1).long()
    return table[torch.arange(batch, device=lp.device), n + t, n]
