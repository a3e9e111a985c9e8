"""fairseq's hypothesis format for one-pass NAT generators (Fully NAT, hint-NART), so that
fairseq-generate and the speed harness read them as any other system's output."""
from __future__ import annotations

import torch


def hypothesis(tokens: list[int], score: float, eos: int, device) -> list[dict]:
    """The single hypothesis of a sentence: `tokens` then </s>, the score spread evenly over them."""
    tokens = tokens + [eos]
    return [{"tokens": torch.tensor(tokens, device=device), "score": score,
             "positional_scores": torch.full((len(tokens),), score / len(tokens)),
             "attention": None, "alignment": None}]
