"""CTC (Graves et al. 2006) as the latent alignment of a fully NAT model (Gu & Kong 2021, §3.3).

The loss marginalises all alignments a in Gamma(y); glancing (§3.4) needs the single best one,
a* = argmax_{a in Gamma(y)} sum_t log p(a_t), which has the decoder's length so target tokens
can be placed at decoder inputs. Inputs and targets are right padded: their lengths are the
masks' sums. The blank is a token index chosen by the caller.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F


def ctc_loss(log_probs: torch.Tensor, input_mask: torch.Tensor, targets: torch.Tensor,
             target_mask: torch.Tensor, blank: int) -> torch.Tensor:
    """Per-sentence -log sum_{a in Gamma(y)} p(a|x), shape B, computed in float32.

    log_probs: B x T x V (log-softmax); targets: B x N. Impossible sentences (input shorter than
    the target needs) give 0 and no gradient (zero_infinity) instead of inf poisoning the batch.
    """
    input_lengths = input_mask.sum(1).long()
    target_lengths = target_mask.sum(1).long()
    targets = targets.masked_fill(~target_mask.bool(), blank).long()  # padding content is ignored
    return F.ctc_loss(log_probs.float().transpose(0, 1), targets, input_lengths, target_lengths,
                      blank=blank, reduction="none", zero_infinity=True)


def _extended_labels(targets: torch.Tensor, blank: int) -> torch.Tensor:
    """B x (2N + 1) labels blank, y_1, blank, y_2, ..., y_N, blank."""
    batch, length = targets.shape
    ext = targets.new_full((batch, 2 * length + 1), blank)
    ext[:, 1::2] = targets
    return ext


@torch.no_grad()
def viterbi_align(log_probs: torch.Tensor, input_mask: torch.Tensor, targets: torch.Tensor,
                  target_mask: torch.Tensor, blank: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Best CTC alignment a* and its score sum_t log p(a*_t); vectorised over batch and states.

    Returns (B x T tokens, B float32 scores). Tokens at t >= T_b are `blank`; a sentence with no
    valid alignment (T_b below N_b plus the number of adjacent repeats in y) scores -inf and is all
    blank, so glancing at it places nothing.

    Glancing runs this every update, and its loops over T are launch-bound (tiny kernels on a
    GPU), so they are cut to four kernels a step forward and one back: scores live behind two
    -inf columns, which makes the predecessors of s (stay, step from s-1, skip from s-2) shifted
    views, a forbidden skip is an additive -inf, and the back-pointers are read off all scores at
    once after the forward pass, ties going to stay, then step (like the first index of a max).
    """
    batch, width, _ = log_probs.shape
    device = log_probs.device
    input_lengths = input_mask.sum(1).long()
    target_lengths = target_mask.sum(1).long()
    targets = targets.masked_fill(~target_mask.bool(), blank).long()
    ext = _extended_labels(targets, blank)                                   # B x S
    states = ext.size(1)
    emit = log_probs.float().transpose(0, 1).gather(2, ext[None].expand(width, batch, states))  # T x B x S
    # s may come from s-2 when it is a label that differs from the label two states back
    skip_bias = torch.zeros(batch, states, device=device)
    skip_bias[:, 2:].masked_fill_((ext[:, 2:] == blank) | (ext[:, 2:] == ext[:, :-2]), float("-inf"))
    skip_bias[:, :2] = float("-inf")

    # scores[t, :, 2 + s]: best score of state s at t; columns 0 and 1 stay -inf
    scores = torch.empty(width, batch, states + 2, device=device)
    scores[:, :, :2] = float("-inf")
    scores[0, :, 2:] = float("-inf")
    scores[0, :, 2:4] = emit[0, :, :2]                                       # start in blank or y_1
    for t in range(1, width):
        previous = scores[t - 1]
        best = torch.maximum(previous[:, 2:], previous[:, 1:-1])
        torch.maximum(best, previous[:, :-2] + skip_bias, out=best)
        torch.add(best, emit[t], out=scores[t, :, 2:])

    last_step = (input_lengths - 1).clamp(min=0) * batch + torch.arange(batch, device=device)
    finals = scores.view(width * batch, -1)[last_step, 2:]                   # scores at t = T_b - 1
    last = 2 * target_lengths                                                # final blank
    end_blank = finals.gather(1, last[:, None]).squeeze(1)
    end_label = finals.gather(1, (last - 1).clamp(min=0)[:, None]).squeeze(1)
    end_label = torch.where(target_lengths > 0, end_label, float("-inf"))
    end_state = torch.where(end_label > end_blank, last - 1, last)
    best_score = torch.maximum(end_blank, end_label)
    best_score = torch.where(input_lengths > 0, best_score, float("-inf"))  # T_b = 0 aligns nothing
    valid = torch.isfinite(best_score)

    inside = torch.arange(width, device=device)[None, :] < input_lengths[:, None]  # B x T
    # origin[t - 1, b, s]: the state at t - 1 on the best path into state s at t (t >= 1). Strict
    # comparisons never prefer a -inf predecessor to stay, so no origin leaves 0..S-1; steps past
    # T_b stay, so every path can start at t = T - 1.
    previous = scores[:-1]
    stay, step = previous[..., 2:], previous[..., 1:-1]
    moves = (step > stay).long()                                             # 0/1/2 states back
    moves.masked_fill_(previous[..., :-2] + skip_bias > torch.maximum(stay, step), 2)
    moves.masked_fill_(~inside[:, 1:].t()[:, :, None], 0)                   # past T_b: stay
    origin = moves.neg_().add_(torch.arange(states, device=device))
    path = torch.empty(width, batch, dtype=torch.long, device=device)        # state at each t
    path[width - 1] = end_state
    for t in range(width - 1, 0, -1):
        torch.gather(origin[t - 1], 1, path[t, :, None], out=path[t - 1, :, None])
    tokens = ext.gather(1, path.t())
    tokens = torch.where(inside & valid[:, None], tokens, blank)
    return tokens, best_score


def collapse(tokens: Sequence[int] | torch.Tensor, blank: int) -> list[int]:
    """Gamma^-1: merge consecutive repeats, then drop blanks ([a, a, blank, a] -> [a, a])."""
    if isinstance(tokens, torch.Tensor):
        tokens = tokens.tolist()
    out: list[int] = []
    previous = None
    for token in tokens:
        if token != previous and token != blank:
            out.append(token)
        previous = token
    return out


def collapse_batch(tokens: torch.Tensor, mask: torch.Tensor, blank: int,
                   merge_repeats: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """`collapse` of every row at once on the device: (B x T outputs left-aligned and padded with
    `blank`, B lengths). Glancing reads the output of every sentence every update; a Python loop
    per sentence would dominate it. merge_repeats=False only drops blanks (AXE's read-off).

    mask: B x T, True at the real positions, which come first (right padding)."""
    keep = mask.bool() & (tokens != blank)
    if merge_repeats:
        keep[:, 1:] &= tokens[:, 1:] != tokens[:, :-1]
    width = tokens.size(1)
    slots = torch.where(keep, keep.long().cumsum(1) - 1, width)             # dropped -> spare column
    out = tokens.new_full((tokens.size(0), width + 1), blank)
    out.scatter_(1, slots, tokens)
    return out[:, :width], keep.sum(1)


def greedy_decode(log_probs: torch.Tensor, input_mask: torch.Tensor, blank: int) -> list[list[int]]:
    """Argmax at each real position, collapsed: the fully NAT model's one-pass output."""
    best = log_probs.argmax(-1).cpu()
    mask = input_mask.bool().cpu()
    return [collapse(row[keep], blank) for row, keep in zip(best, mask)]
