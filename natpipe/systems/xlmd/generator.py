"""XLM-D inference ([XLMD] §2.3, App. A.3): T steps over the decorated sequence from an all-[MASK]
alignment. Each step takes the argmax at the masked positions and merges it into the alignment;
all but the last re-mask, in every block, the floor(n (T - t) / T) positions of lowest probability
(a position keeps the probability it was predicted with). The output is the collapsed alignment
(repeats merged, blanks dropped). 'LT only' models and T = 1 take one pass. Source layers 1..M run
once, whatever T.

Returns fairseq's hypothesis format, so fairseq-generate and the speed harness read it as any
other system's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from natpipe.blocks.ctc import collapse
from natpipe.decoding.hypotheses import hypothesis
from natpipe.systems.xlmd.decorator import lowest_in_blocks, remask_counts


class XLMDGenerator:
    def __init__(self, model, tgt_dict, iterations: int = 1, block: int = 1):
        if iterations > 1 and not model.add_and_scale:
            raise ValueError("an 'LT only' model (no add & scale) decodes in one step")
        self.model, self.iterations, self.block = model, iterations, block
        self.eos = tgt_dict.eos()
        self.never = [tgt_dict.pad(), tgt_dict.eos(), model.mask_index]
        self.steps_run = 0  # model passes over the decorated sequence (tests count them)

    def predict(self, latent, mask, alignment):
        lprobs = F.log_softmax(self.model.upper(self.model.decorator_input(latent, mask, alignment), mask).float(), -1)
        lprobs[:, :, self.never] = -math.inf
        self.steps_run += 1
        return lprobs.max(-1)

    def refine(self, latent: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B x J alignment, B x J log-probabilities of its tokens) after T steps."""
        model = self.model
        alignment = model.all_masked(mask)
        scores = torch.zeros(mask.shape, device=mask.device)
        for step in range(1, self.iterations + 1):
            best, argmax = self.predict(latent, mask, alignment)
            open_ = alignment.eq(model.mask_index) & mask
            alignment = torch.where(open_, argmax, alignment)
            scores = torch.where(open_, best, scores)
            if step < self.iterations:
                remask = lowest_in_blocks(scores, mask, self.block, remask_counts(mask, self.block, step, self.iterations))
                alignment = alignment.masked_fill(remask, model.mask_index)
        return alignment, scores

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        model = self.model
        states, src_mask = model.source_states(sample["net_input"]["src_tokens"])
        latent, mask = model.latent(states, src_mask)
        alignment, scores = self.refine(latent, mask)
        lengths = mask.sum(1).tolist()
        device = alignment.device
        return [hypothesis(collapse(alignment[row, :length], model.blank), float(scores[row, :length].sum()), self.eos, device)
                for row, length in enumerate(lengths)]
