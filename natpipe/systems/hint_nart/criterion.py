"""`hint_nart_loss`, [HINT] Eq. (3): L = L_nll + lambda L_hid + mu L_align.

* L_nll: label-smoothed cross-entropy at the golden length (position t predicts y_t, no </s>).
* L_hid (§2.2, hints on hidden states): per sentence 2 / ((T_y - 1) T_y N) sum over decoder
  layers l and target pairs s < t of phi(d_st, d_tr), with d the cosine of the hidden states s, t of
  layer l in the student / the teacher, and phi = -log(1 - d_st) where d_st >= gamma_st and
  d_tr <= gamma_tr, else 0 (1 - d_st clamped at 1e-4: phi <= 9.2, finite for equal states).
* L_align (hints on word alignments): per sentence 1 / (T_y N H) sum over layers, heads and target
  positions of KL(teacher || student) of the encoder-decoder attention distributions.
* The teacher (`--hint-teacher-path`, the corpus's AT model) runs in eval mode and without
  gradients, teacher-forced on the same target: its position t reads </s> y_<t and predicts y_t,
  as the student's position t does. Its layers pair with the student's one to one (same N and H).
* Scale: fairseq divides the loss by the batch's target tokens. The per-sentence hint values are
  weighted by T_y, so each term is a token-weighted mean over the data, like L_nll.
"""
# No `from __future__ import annotations`: fairseq reads the dataclass field types at runtime.

import math
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass

from natpipe.systems.fully_nat.criterion import smoothed_nll, targets_without_eos
from natpipe.systems.hint_nart.model import teacher_hints
from natpipe.systems.hint_nart.system import HintNART

MIN_DISTANCE = 1e-4  # 1 - d_st is clamped here: -log(1e-4) = 9.2 at most


def cosines(states: torch.Tensor) -> torch.Tensor:
    """B x T x T cosine similarities of the positions of T x B x C states."""
    unit = F.normalize(states.transpose(0, 1).float(), dim=-1, eps=1e-8)
    return unit @ unit.transpose(1, 2)


def hidden_state_hint(student: list, teacher: list, mask: torch.Tensor, gamma_st: float, gamma_tr: float) -> torch.Tensor:
    """L_hid of each sentence (B): `student`, `teacher` are per-layer T x B x C outputs (the
    teacher's may be longer: its first T positions are read), `mask` B x T real target positions."""
    width = mask.size(1)
    pairs = mask[:, :, None] & mask[:, None, :] & torch.ones(width, width, dtype=torch.bool, device=mask.device).triu(1)
    total = torch.zeros(mask.size(0), device=mask.device)
    for ours, theirs in zip(student, teacher, strict=True):
        d_st, d_tr = cosines(ours[:width]), cosines(theirs[:width])
        penalised = pairs & (d_st >= gamma_st) & (d_tr <= gamma_tr)
        phi = -torch.log((1 - d_st).clamp(min=MIN_DISTANCE))
        total = total + (phi * penalised).sum((1, 2))
    lengths = mask.sum(1).float()
    return total * 2 / ((lengths - 1) * lengths * len(student)).clamp(min=1)


def alignment_hint(student: list, teacher: list, mask: torch.Tensor) -> torch.Tensor:
    """L_align of each sentence (B): per-layer H x B x T x S attention weights (the teacher's first
    T positions are read), `mask` B x T real target positions."""
    width = mask.size(1)
    total = torch.zeros(mask.size(0), device=mask.device)
    for ours, theirs in zip(student, teacher, strict=True):
        a_tr, a_st = theirs[:, :, :width].float(), ours.float()
        kl = (torch.xlogy(a_tr, a_tr) - a_tr * torch.log(a_st.clamp(min=1e-9))).sum(-1)  # H x B x T
        total = total + (kl.sum(0) * mask).sum(1)
    heads = student[0].size(0)
    return total / (mask.sum(1).float() * len(student) * heads).clamp(min=1)


def teacher_mismatch(student, teacher) -> str | None:
    """Why `teacher` cannot give `student` hints (layers and heads pair one to one, over one
    vocabulary), or None."""
    def shape(model):
        decoder = model.decoder
        return len(decoder.layers), decoder.layers[0].encoder_attn.num_heads, len(decoder.dictionary)

    ours, theirs = shape(student), shape(teacher)
    if ours == theirs:
        return None
    return (f"the teacher has {theirs[0]} decoder layers, {theirs[1]} heads and a {theirs[2]}-type vocabulary, "
            f"the student {ours[0]}, {ours[1]} and {ours[2]}: the hints pair layers and heads one to one")


@dataclass
class HintNARTLossConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.1, metadata={"help": "label smoothing (the paper: 0.1)"})
    hint_lambda: float = field(default=HintNART.default("hint_lambda"), metadata={"help": "lambda: weight of L_hid"})
    hint_mu: float = field(default=HintNART.default("hint_mu"), metadata={"help": "mu: weight of L_align"})
    gamma_st: float = field(default=HintNART.default("gamma_st"), metadata={"help": "student cosine threshold of L_hid"})
    gamma_tr: float = field(default=HintNART.default("gamma_tr"), metadata={"help": "teacher cosine threshold of L_hid"})
    hint_teacher_path: str = field(default="", metadata={"help": "checkpoint of the AR teacher the hints come from"})


@register_criterion("hint_nart_loss", dataclass=HintNARTLossConfig)
class HintNARTLoss(FairseqCriterion):
    def __init__(self, task, label_smoothing, hint_lambda, hint_mu, gamma_st, gamma_tr, hint_teacher_path):
        super().__init__(task)
        if (hint_lambda > 0 or hint_mu > 0) and not hint_teacher_path:
            raise ValueError("hint_nart_loss: --hint-lambda or --hint-mu > 0 needs the AR teacher (--hint-teacher-path)")
        self.eps, self.hint_lambda, self.hint_mu = label_smoothing, hint_lambda, hint_mu
        self.gamma_st, self.gamma_tr, self.teacher_path = gamma_st, gamma_tr, hint_teacher_path
        self.pad, self.eos = task.target_dictionary.pad(), task.target_dictionary.eos()
        self._teacher = []  # a list, not an attribute: the teacher is no submodule (not trained, not saved)

    @property
    def uses_teacher(self) -> bool:
        return self.hint_lambda > 0 or self.hint_mu > 0

    def teacher(self, model):
        """The frozen AR teacher on the student's device, loaded once and checked against it."""
        if not self._teacher:
            from natpipe.checkpoints import load_auxiliary_model

            teacher = load_auxiliary_model(self.teacher_path, self.task, model)
            teacher.requires_grad_(False)
            mismatch = teacher_mismatch(model, teacher)
            if mismatch:
                raise ValueError(f"{self.teacher_path}: {mismatch}")
            self._teacher.append(teacher)
        return self._teacher[0]

    def forward(self, model, sample, reduce=True):
        net_input = sample["net_input"]
        src_tokens, src_lengths = net_input["src_tokens"], net_input["src_lengths"]
        tokens, mask, lengths = targets_without_eos(sample["target"], self.pad, self.eos)
        encoder_out = model.encode(src_tokens, src_lengths)
        logits, _, states, attentions = model.decode(src_tokens, encoder_out, lengths, hints=self.uses_teacher)
        lprobs = F.log_softmax(logits.float(), dim=-1)
        nll = -(lprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * mask.to(lprobs))
        total = smoothed_nll(lprobs, nll, mask, self.eps)
        log = {"nsentences": tokens.size(0), "ntokens": int(lengths.sum()), "sample_size": int(lengths.sum()),
               "nll_loss": float(nll.sum().detach())}
        if self.uses_teacher:
            teacher_states, teacher_attentions = teacher_hints(self.teacher(model), src_tokens, src_lengths,
                                                               net_input["prev_output_tokens"])
            weights = lengths.float()  # per-sentence means, token-weighted as L_nll
            hid = (hidden_state_hint(states, teacher_states, mask, self.gamma_st, self.gamma_tr) * weights).sum()
            align = (alignment_hint(attentions, teacher_attentions, mask) * weights).sum()
            total = total + self.hint_lambda * hid + self.hint_mu * align
            log.update(hint_hid=float(hid.detach()), hint_align=float(align.detach()))
        log["loss"] = float(total.detach())
        return total, log["sample_size"], log

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for key, scale in (("loss", math.log(2)), ("nll_loss", math.log(2)), ("hint_hid", 1.0), ("hint_align", 1.0)):
            if any(key in log for log in logging_outputs):
                value = sum(log.get(key, 0) for log in logging_outputs)
                metrics.log_scalar(key, value / max(size, 1) / scale, size, round=4)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
