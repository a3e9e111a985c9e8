"""Hint-NART inference ([HINT] §3.2): the length T_y = T_x + C, or the 2B+1 lengths
T_x + C - B .. T_x + C + B decoded as one batch (candidate c of sentence i is row c * batch + i)
and the candidate with the highest teacher log p(y </s> | x) kept (forced decoding: one parallel
pass of the AR teacher). Output: the argmax token at every position.

Returns fairseq's hypothesis format, so fairseq-generate and the speed harness read it as any
other system's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from natpipe.blocks.teacher_scoring import best_candidates, teacher_scores
from natpipe.decoding.hypotheses import hypothesis


class HintNARTGenerator:
    def __init__(self, model, tgt_dict, halfwidth: int = 0, teacher=None):
        if halfwidth > 0 and teacher is None:
            raise ValueError("2B+1 length candidates are rescored by the AR teacher: give it")
        self.model, self.halfwidth, self.teacher = model, halfwidth, teacher
        self.pad, self.eos = tgt_dict.pad(), tgt_dict.eos()
        self.never = [tgt_dict.pad(), tgt_dict.eos(), tgt_dict.bos()]

    @property
    def auxiliary_models(self) -> list:
        """The rescoring teacher, which must live on the system's device."""
        return [self.teacher] if self.teacher is not None else []

    def candidate_lengths(self, src_tokens: torch.Tensor) -> torch.Tensor:
        """(2B+1) * batch lengths: offset -B .. B of T_x + C, at least 1."""
        base = self.model.target_lengths(src_tokens)
        offsets = torch.arange(-self.halfwidth, self.halfwidth + 1, device=base.device)
        return (base[None, :] + offsets[:, None]).clamp(min=1).reshape(-1)

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        model = self.model
        src_tokens, src_lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
        batch, count = src_tokens.size(0), 2 * self.halfwidth + 1
        encoder_out = model.encode(src_tokens, src_lengths)
        rows = torch.arange(batch, device=src_tokens.device).repeat(count)
        if count > 1:
            encoder_out = model.encoder.reorder_encoder_out(encoder_out, rows)
        sources = src_tokens.index_select(0, rows)
        logits, mask, _, _ = model.decode(sources, encoder_out, self.candidate_lengths(src_tokens))
        lprobs = F.log_softmax(logits.float(), dim=-1)
        lprobs[:, :, self.never] = -math.inf  # special symbols are never output
        best, argmax = lprobs.max(-1)
        lengths = mask.sum(1).tolist()
        candidates = [(argmax[row, :length].tolist(), float(best[row, :length].sum())) for row, length in enumerate(lengths)]
        choice = list(range(batch))
        if count > 1:
            scores = teacher_scores(self.teacher, sources, src_lengths.index_select(0, rows),
                                    [tokens for tokens, _ in candidates], self.pad, self.eos).view(count, batch)
            choice = best_candidates(scores)
        return [hypothesis(*candidates[row], self.eos, src_tokens.device) for row in choice]
