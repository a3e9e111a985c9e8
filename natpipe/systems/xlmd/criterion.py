"""`xlmd_ctc`: XLM-D's training loss ([XLMD] §2.3, Algorithm 1).

* Iterative XLM-D (add & scale): a first pass without gradient from an all-[MASK] alignment gives
  the best alignment a* (Viterbi); block masking hides k ~ U{1..n} random positions of each block
  of `--mask-block` positions, at one share per sentence; the second pass reads the masked
  alignment and the loss is the constrained CTC, which keeps the unmasked positions' tokens
  (natpipe.systems.xlmd.decorator).
  Both passes share the source layers 1..M, run once.
* 'LT only': plain CTC over the latent transformation, no masking.

The random choices come from a CPU generator seeded by (--seed, update): the same on any device.
"""
# No `from __future__ import annotations`: fairseq reads the dataclass field types at runtime.

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from omegaconf import II

from natpipe.blocks.ctc import ctc_loss, viterbi_align
from natpipe.systems.fully_nat.criterion import targets_without_eos
from natpipe.systems.xlmd.decorator import constrained_ctc_loss, training_mask
from natpipe.systems.xlmd.system import XLMD


@dataclass
class XLMDLossConfig(FairseqDataclass):
    mask_block: int = field(default=XLMD.default("mask_block"), metadata={
        "help": "B: the best alignment is masked block by block, k ~ U{1..B} positions per block"})
    seed: int = II("common.seed")


@register_criterion("xlmd_ctc", dataclass=XLMDLossConfig)
class XLMDLoss(FairseqCriterion):
    def __init__(self, task, mask_block, seed):
        super().__init__(task)
        self.block, self.seed = mask_block, seed
        self.pad, self.eos = task.target_dictionary.pad(), task.target_dictionary.eos()

    def generator(self, model) -> torch.Generator:
        return torch.Generator().manual_seed(self.seed * 1_000_003 + getattr(model, "num_updates", 0))

    def forward(self, model, sample, reduce=True):
        tokens, tgt_mask, tgt_lengths = targets_without_eos(sample["target"], self.pad, self.eos)
        states, src_mask = model.source_states(sample["net_input"]["src_tokens"])
        latent, mask = model.latent(states, src_mask)
        log = {"nsentences": tokens.size(0), "ntokens": int(tgt_lengths.sum())}
        if not model.add_and_scale:
            lprobs = F.log_softmax(model.upper(latent, mask).float(), dim=-1)
            nll = ctc_loss(lprobs, mask, tokens, tgt_mask, model.blank)
        else:
            alignment = self.best_alignment(model, latent, mask, tokens, tgt_mask)
            masked = training_mask(mask, self.block, self.generator(model))
            inputs = alignment.masked_fill(masked, model.mask_index)
            lprobs = F.log_softmax(model.upper(model.decorator_input(latent, mask, inputs), mask).float(), dim=-1)
            nll = constrained_ctc_loss(lprobs, mask, alignment, ~masked, tokens, tgt_mask, model.blank)
            log["masked"] = int(masked.sum())
            log["positions"] = int(mask.sum())
        loss = nll.sum()
        log.update(loss=float(loss.detach()), nll_loss=float(loss.detach()), sample_size=log["ntokens"])
        return loss, log["ntokens"], log

    @torch.no_grad()
    def best_alignment(self, model, latent, mask, tokens, tgt_mask) -> torch.Tensor:
        """a* = argmax over Gamma(y) of the all-[MASK] pass (Algorithm 1, line 6)."""
        decorated = model.decorator_input(latent.detach(), mask, model.all_masked(mask))
        lprobs = F.log_softmax(model.upper(decorated, mask).float(), dim=-1)
        alignment, _ = viterbi_align(lprobs, mask, tokens, tgt_mask, model.blank)
        return alignment

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for key in ("loss", "nll_loss"):
            value = sum(log.get(key, 0) for log in logging_outputs)
            metrics.log_scalar(key, value / max(size, 1) / math.log(2), size, round=3)
        positions = sum(log.get("positions", 0) for log in logging_outputs)
        if positions:
            metrics.log_scalar("masked", sum(log.get("masked", 0) for log in logging_outputs) / positions, round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
