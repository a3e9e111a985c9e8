"""Fully-NAT training loss (Gu & Kong 2021): likelihood (CE, AXE or CTC) + VAE KL + length loss,
optionally with glancing targets.

* Likelihood: CE at the golden length, AXE, or CTC over the upsampled decoder (the model's
  `--latent-alignment`), each with label smoothing eps over the decoder positions that carry loss.
* VAE: z ~ q(z|x,y) (reparameterised) is added to the encoder output; the KL to the prior is
  clamped from below per source position by a free-bits budget annealed to 0 (Chen et al. 2016),
  so the posterior is not pushed to collapse onto the prior early in training (the ELBO, Eq. 3).
* Glancing: a first pass without gradient measures D(y_hat, y) (Levenshtein of the collapsed
  output for CTC/AXE, Hamming for CE); l ~ Poisson(f_ratio x D) decoder inputs (GLAT), or
  l ~ U{0..T} (the RND ablation), are replaced by the reference token at that position: the
  Viterbi-aligned token a*_i (same length as the decoder input) for CTC, y_i for CE and AXE (golden
  length). CE loses the glanced positions from its loss (they were given); CTC and AXE keep their
  whole-sequence loss.
* Length: CE/AXE train a length predictor (cross-entropy, weight `--length-loss-factor`).
"""
# No `from __future__ import annotations`: fairseq reads the dataclass field types at runtime.

import math
from dataclasses import dataclass, field
from typing import NamedTuple

import torch
import torch.nn.functional as F
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.dataclass import FairseqDataclass
from omegaconf import II

from natpipe.blocks.axe import axe_loss
from natpipe.blocks.ctc import ctc_loss, viterbi_align
from natpipe.blocks.glancing import batched_levenshtein, glance_counts, glance_mask
from natpipe.blocks.latent import free_bits_budget, free_bits_kl, gaussian_kl, sample_gaussian
from natpipe.systems.fully_nat.system import FullyNAT

GLANCING = ("none", "glat", "rnd")


class DecoderStates(NamedTuple):
    """One decoder pass, for a loss that reads more than its logits (MT-NAT's AR decoders)."""

    layers: list  # each decoder layer's output, T x B x C
    mask: torch.Tensor  # B x T, True at real decoder positions
    encoder_out: dict  # the encoder output the decoder read (latents added)


def targets_without_eos(target: torch.Tensor, pad: int, eos: int):
    """fairseq's right-padded `y </s>` as NAT targets: tokens, mask (True at real tokens), lengths."""
    mask = target.ne(pad) & target.ne(eos)
    width = max(int(mask.sum(1).max()), 1)  # the </s> column goes
    tokens = target.masked_fill(~mask, pad)[:, :width]
    return tokens, mask[:, :width], mask.sum(1)


def smoothed_nll(lprobs: torch.Tensor, nll: torch.Tensor, positions: torch.Tensor, eps: float) -> torch.Tensor:
    """(1 - eps) * nll + eps * (mean over the vocabulary of -log p), the latter summed over `positions`."""
    if eps <= 0:
        return nll.sum()
    uniform = -(lprobs.mean(-1) * positions.to(lprobs)).sum()
    return (1 - eps) * nll.sum() + eps * uniform


@dataclass
class FullyNATLossConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.01, metadata={"help": "label smoothing (the paper: 0.01)"})
    glancing: str = field(default=FullyNAT.default("glancing"), metadata={"help": "none, glat (Poisson(f_ratio x distance)) or rnd (uniform)"})
    glance_f_ratio: float = field(default=FullyNAT.default("f_ratio"), metadata={"help": "f_ratio of Eq. (5)"})
    free_bits: float = field(default=FullyNAT.default("vae.free_bits"), metadata={"help": "initial free-bits budget (nats per source position)"})
    free_bits_anneal_updates: int = field(default=FullyNAT.default("vae.anneal_updates"), metadata={
        "help": "updates over which the budget falls linearly to 0 (0: --max-update)"})
    length_loss_factor: float = field(default=0.1, metadata={"help": "weight of the length predictor's loss"})
    seed: int = field(default=1, metadata={"help": "seed of the glancing samples"})
    max_update: int = II("optimization.max_update")


@register_criterion("fully_nat_loss", dataclass=FullyNATLossConfig)
class FullyNATLoss(FairseqCriterion):
    def __init__(self, task, label_smoothing, glancing, glance_f_ratio, free_bits, free_bits_anneal_updates,
                 length_loss_factor, seed, max_update):
        super().__init__(task)
        if glancing not in GLANCING:
            raise ValueError(f"--glancing must be one of {GLANCING}, got {glancing!r}")
        self.eps, self.glancing, self.f_ratio = label_smoothing, glancing, glance_f_ratio
        self.free_bits, self.length_factor, self.seed = free_bits, length_loss_factor, seed
        self.anneal = free_bits_anneal_updates or max_update
        self.pad, self.eos = task.target_dictionary.pad(), task.target_dictionary.eos()

    def forward(self, model, sample, reduce=True):
        total, log, _ = self.nat_loss(model, sample, self.generator(model))
        return total, log["ntokens"], log

    def generator(self, model) -> torch.Generator:
        """The CPU generator of this update's random choices: the same on any device and rerun."""
        return torch.Generator().manual_seed(self.seed * 1_000_003 + getattr(model, "num_updates", 0))

    def nat_loss(self, model, sample, generator, keep_states: bool = False):
        """(loss, logging dict, DecoderStates or None) of the Fully-NAT model; `keep_states` keeps
        what the decoder pass that carries the loss (glanced inputs included) computed."""
        net_input = sample["net_input"]
        step = getattr(model, "num_updates", 0)
        tokens, tgt_mask, tgt_lengths = targets_without_eos(sample["target"], self.pad, self.eos)
        encoder_out = model.encode(net_input["src_tokens"], net_input["src_lengths"])
        log = {"nsentences": tokens.size(0), "ntokens": int(tgt_lengths.sum())}
        total = 0.0
        if model.uses_vae:
            mu_p, logvar_p = model.prior(encoder_out)
            mu_q, logvar_q = model.posterior_stats(net_input["src_tokens"], tokens)
            z = sample_gaussian(mu_q, logvar_q) if model.training else mu_q
            encoder_out = model.with_latent(encoder_out, z)
            kl = gaussian_kl(mu_q.float(), logvar_q.float(), mu_p.float(), logvar_p.float())
            src_mask = model.source_mask(encoder_out)
            budget = free_bits_budget(step, self.free_bits, self.anneal) if model.training else 0.0
            kl_term = free_bits_kl(kl, src_mask, budget)
            total = total + kl_term
            log.update(kl=float((kl * src_mask).sum().detach()), kl_term=float(kl_term.detach()))
        if not model.uses_ctc:
            length_target = tgt_lengths.clamp(max=model.length_predictor.out_features - 1)
            length_loss = F.cross_entropy(model.length_logits(encoder_out).float(), length_target, reduction="sum")
            total = total + self.length_factor * length_loss
            log["length_loss"] = float(length_loss.detach())
        lengths = model.decoder_lengths(encoder_out, tgt_lengths)
        inputs, dec_mask = model.decoder_inputs(encoder_out, lengths)
        glance_tokens = glanced = None
        if self.glancing != "none" and model.training:
            glance_tokens, glanced = self.glance(model, encoder_out, inputs, dec_mask, tokens, tgt_mask, generator)
            log["glanced"] = int(glanced.sum())
        layer_states = [] if keep_states else None
        logits = model.decode(inputs, dec_mask, encoder_out, glance_tokens, glanced, layer_states)
        lprobs = F.log_softmax(logits.float(), dim=-1)
        positions = dec_mask  # where the loss is taken (and smoothed)
        if model.alignment == "ctc":
            nll = ctc_loss(lprobs, dec_mask, tokens, tgt_mask, model.blank)
        elif model.alignment == "axe":
            nll = axe_loss(lprobs, dec_mask, tokens, tgt_mask, model.blank)
        else:  # CE at the golden length, glanced positions excluded
            positions = tgt_mask if glanced is None else tgt_mask & ~glanced[:, :tgt_mask.size(1)]
            nll = -(lprobs.gather(-1, tokens.unsqueeze(-1)).squeeze(-1) * positions.to(lprobs))
        total = total + smoothed_nll(lprobs, nll, positions, self.eps)
        log.update(loss=float(total.detach()), nll_loss=float(nll.sum().detach()), sample_size=log["ntokens"])
        return total, log, DecoderStates(layer_states, dec_mask, encoder_out) if keep_states else None

    @torch.no_grad()
    def glance(self, model, encoder_out, inputs, dec_mask, tokens, tgt_mask, generator):
        """Reference tokens at decoder positions and the positions to glance at (B x T each).

        Glancing counts and reveals target tokens (§3.4). With CTC the decoder is λ|x| long and
        mostly blank: the reference is the best alignment a*, the distance the Hamming distance
        between a*'s target tokens and the prediction at those frames, RND's count is drawn from
        U{0..|y|}, and the chosen target tokens are revealed at every frame a* gives them (never a
        blank frame). Everything up to the
        distances stays on the model's device; only B distances and lengths go to the CPU, where
        the seeded generator draws the same counts and masks on any device."""
        reference, eligible, lengths = tokens, dec_mask, dec_mask.sum(1)
        distances = torch.zeros_like(lengths)
        if self.glancing == "glat" or model.uses_ctc:
            lprobs = F.log_softmax(model.decode(inputs, dec_mask, encoder_out).float(), dim=-1)
        if model.uses_ctc:
            reference, _ = viterbi_align(lprobs, dec_mask, tokens, tgt_mask, model.blank)
            eligible, lengths = dec_mask & reference.ne(model.blank), tgt_mask.sum(1)
        if self.glancing == "glat":
            predicted = lprobs.argmax(-1)
            if model.uses_ctc:
                distances = (predicted.ne(reference) & eligible).sum(1)
            elif model.alignment == "none":
                distances = ((predicted != tokens) & tgt_mask).sum(1)
            else:  # AXE: the output length may differ from the target's: edit distance of the outputs
                output, output_lengths = model.output_tokens_batch(predicted, dec_mask)
                distances = batched_levenshtein(tokens, tgt_mask.sum(1), output, output_lengths)
        distances, lengths = torch.stack([distances.long(), lengths.long()]).cpu()  # one transfer
        counts = glance_counts(distances, lengths, self.f_ratio, self.glancing, generator)
        if not model.uses_ctc:
            return reference, glance_mask(eligible, counts, generator)
        chosen = glance_mask(tgt_mask, counts, generator)  # which target tokens, B x |y|
        starts = eligible & torch.cat([torch.ones_like(eligible[:, :1]), reference[:, 1:] != reference[:, :-1]], 1)
        token = (starts.long().cumsum(1) - 1).clamp(0, chosen.size(1) - 1)  # a frame's target token
        return reference, chosen.gather(1, token) & eligible

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        size = sum(log.get("sample_size", 0) for log in logging_outputs)
        for key in ("loss", "nll_loss", "kl", "kl_term", "length_loss"):
            if any(key in log for log in logging_outputs):
                value = sum(log.get(key, 0) for log in logging_outputs)
                metrics.log_scalar(key, value / max(size, 1) / math.log(2), size, round=3)
        if any("glanced" in log for log in logging_outputs):
            metrics.log_scalar("glanced", sum(log.get("glanced", 0) for log in logging_outputs) / max(size, 1), round=3)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
