"""`mtnat_loss`, [MTNAT] Eq. (1): L = lambda L_NAR + (1 - lambda) sum_i L_AR^(i).

* L_NAR is the Fully-NAT loss of the model's own settings (CTC, CE, AXE; VAE, glancing), unchanged.
* L_AR^(i): label-smoothed cross-entropy of weak AR decoder i predicting `y </s>` from the shifted
  target, reading the states of the decoder pass that carries L_NAR (with glancing: the glanced
  pass, §3 "Glancing Training"). Both terms are sums over tokens, so lambda weighs like terms.
* `--ar-reduce mean` divides the AR sum by the number of AR decoders trained (the reference
  code, which also weighs its AR term by lambda and CTC by 1 - lambda: the same at 0.5).
* `--ar-layer-dropout` trains floor(n/2) (at least 1) AR decoders per update, drawn from the
  criterion's seeded per-update generator; validation uses all of them.
"""
# No `from __future__ import annotations`: fairseq reads the dataclass field types at runtime.

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import register_criterion

from natpipe.systems.fully_nat.criterion import FullyNATLoss, FullyNATLossConfig, smoothed_nll
from natpipe.systems.mtnat.system import MultiTaskNAT, ar_decoders_trained


@dataclass
class MTNATLossConfig(FullyNATLossConfig):
    ar_lambda: float = field(default=MultiTaskNAT.default("ar_lambda"), metadata={"help": "lambda of Eq. (1)"})
    ar_reduce: str = field(default=MultiTaskNAT.default("ar_reduce"), metadata={"help": "sum (Eq. 1) or mean of the AR losses"})
    ar_layer_dropout: bool = field(default=False, metadata={"help": "train a random half of the AR decoders per update"})
    ar_label_smoothing: float = field(default=MultiTaskNAT.default("ar_label_smoothing"), metadata={"help": "label smoothing of the AR losses"})


def ar_decoders_this_update(count: int, layer_dropout: bool, training: bool, generator: torch.Generator) -> list[int]:
    """Indices of the AR decoders that carry loss: all, or a seeded random floor(count/2) (>= 1)."""
    if not (layer_dropout and training):
        return list(range(count))
    keep = ar_decoders_trained(count, layer_dropout)
    return sorted(torch.randperm(count, generator=generator)[:keep].tolist())


@register_criterion("mtnat_loss", dataclass=MTNATLossConfig)
class MTNATLoss(FullyNATLoss):
    def __init__(self, task, label_smoothing, glancing, glance_f_ratio, free_bits, free_bits_anneal_updates,
                 length_loss_factor, seed, max_update, ar_lambda, ar_reduce, ar_layer_dropout, ar_label_smoothing):
        super().__init__(task, label_smoothing, glancing, glance_f_ratio, free_bits, free_bits_anneal_updates,
                         length_loss_factor, seed, max_update)
        if ar_reduce not in ("sum", "mean"):
            raise ValueError(f"--ar-reduce must be sum or mean, got {ar_reduce!r}")
        self.ar_lambda, self.ar_reduce = ar_lambda, ar_reduce
        self.ar_layer_dropout, self.ar_eps = ar_layer_dropout, ar_label_smoothing

    def forward(self, model, sample, reduce=True):
        generator = self.generator(model)
        nat, log, states = self.nat_loss(model, sample, generator, keep_states=True)
        memories = model.ar_memories(states)
        chosen = ar_decoders_this_update(len(memories), self.ar_layer_dropout, model.training, generator)
        prev, target = sample["net_input"]["prev_output_tokens"], sample["target"]
        positions = target.ne(self.pad)
        ar_terms = []
        for index in chosen:
            lprobs = F.log_softmax(model.ar_logits(index, prev, *memories[index]).float(), dim=-1)
            nll = -(lprobs.gather(-1, target.unsqueeze(-1)).squeeze(-1) * positions.to(lprobs))
            ar_terms.append(smoothed_nll(lprobs, nll, positions, self.ar_eps))
        ar = torch.stack(ar_terms).sum()
        if self.ar_reduce == "mean":
            ar = ar / len(ar_terms)
        total = self.ar_lambda * nat + (1 - self.ar_lambda) * ar
        log.update(loss=float(total.detach()), nar_loss=float(nat.detach()), ar_loss=float(ar.detach()),
                   ar_decoders=len(chosen))
        return total, log["ntokens"], log

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        super().reduce_metrics(logging_outputs)
        size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for key in ("nar_loss", "ar_loss"):
            value = sum(log.get(key, 0) for log in logging_outputs)
            metrics.log_scalar(key, value / max(size, 1) / math.log(2), size, round=3)
