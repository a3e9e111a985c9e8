"""An AT teacher's forced-decoding score of NAT candidates (Fully NAT's NPD, hint-NART's length
candidates): every candidate is scored in one parallel teacher pass, so the rescoring keeps the
decoding non-autoregressive."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def teacher_scores(teacher, src_tokens, src_lengths, hypotheses: list[list[int]], pad: int, eos: int) -> torch.Tensor:
    """log p(y </s> | x) of each hypothesis under an AT model (row i of the source batch for hypothesis i)."""
    width = max(len(h) for h in hypotheses) + 1
    prev = torch.full((len(hypotheses), width), pad, dtype=torch.long)
    target = torch.full((len(hypotheses), width), pad, dtype=torch.long)
    for row, tokens in enumerate(hypotheses):
        prev[row, :len(tokens) + 1] = torch.tensor([eos] + tokens)
        target[row, :len(tokens) + 1] = torch.tensor(tokens + [eos])
    device = src_tokens.device
    prev, target = prev.to(device), target.to(device)
    logits, _ = teacher(src_tokens, src_lengths, prev)
    lprobs = F.log_softmax(logits.float(), dim=-1).gather(-1, target.unsqueeze(-1)).squeeze(-1)
    return (lprobs * target.ne(pad)).sum(1)


def best_candidates(scores: torch.Tensor) -> list[int]:
    """Rows of the best candidate per sentence, for candidates laid out c * batch + i
    (`scores`: candidates x batch)."""
    batch = scores.size(1)
    return (scores.argmax(0) * batch + torch.arange(batch, device=scores.device)).tolist()
