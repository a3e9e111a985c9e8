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
    """
    batch, width, _ = log_probs.shape
    input_lengths = input_mask.sum(1).long()
    target_lengths = target_mask.sum(1).long()
    targets = targets.masked_fill(~target_mask.bool(), blank).long()
    ext = _extended_labels(targets, blank)                                   # B x S
    states = ext.size(1)
    emit = log_probs.float().gather(2, ext[:, None, :].expand(batch, width, states))  # B x T x S
    # s may come from s-2 when it is a label that differs from the label two states back
    skip_ok = torch.zeros_like(ext, dtype=torch.bool)
    skip_ok[:, 2:] = (ext[:, 2:] != blank) & (ext[:, 2:] != ext[:, :-2])
    neg_inf = torch.tensor(float("-inf"), device=log_probs.device)

    score = torch.full((batch, states), float("-inf"), device=log_probs.device)
    score[:, :2] = emit[:, 0, :2]                                            # start in blank or y_1
    back = torch.zeros(batch, width, states, dtype=torch.uint8, device=log_probs.device)  # 0/1/2 back
    finals = score.clone()                                                   # scores at t = T_b - 1
    for t in range(1, width):
        stay = score
        step = F.pad(score, (1, 0), value=float("-inf"))[:, :states]
        skip = torch.where(skip_ok, F.pad(score, (2, 0), value=float("-inf"))[:, :states], neg_inf)
        best, choice = torch.stack([stay, step, skip]).max(0)
        score = best + emit[:, t]
        back[:, t] = choice
        finals = torch.where((input_lengths == t + 1)[:, None], score, finals)

    last = 2 * target_lengths                                                # final blank
    end_blank = finals.gather(1, last[:, None]).squeeze(1)
    end_label = finals.gather(1, (last - 1).clamp(min=0)[:, None]).squeeze(1)
    end_label = torch.where(target_lengths > 0, end_label, neg_inf)
    end_state = torch.where(end_label > end_blank, last - 1, last)
    best_score = torch.maximum(end_blank, end_label)
    best_score = torch.where(input_lengths > 0, best_score, neg_inf)  # T_b = 0 aligns nothing
    valid = torch.isfinite(best_score)

    tokens = torch.full((batch, width), blank, dtype=torch.long, device=log_probs.device)
    state = end_state
    rows = torch.arange(batch, device=log_probs.device)
    for t in range(width - 1, -1, -1):
        state = torch.where(input_lengths - 1 == t, end_state, state).clamp(min=0)
        inside = (t < input_lengths) & valid
        tokens[:, t] = torch.where(inside, ext[rows, state], blank)
        state = torch.where(inside, state - back[rows, t, state].long(), state)
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


def greedy_decode(log_probs: torch.Tensor, input_mask: torch.Tensor, blank: int) -> list[list[int]]:
    """Argmax at each real position, collapsed: the fully NAT model's one-pass output."""
    best = log_probs.argmax(-1).cpu()
    mask = input_mask.bool().cpu()
    return [collapse(row[keep], blank) for row, keep in zip(best, mask)]
