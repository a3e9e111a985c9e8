"""Fully-NAT inference: one decoder pass per candidate, read off greedily or by CTC beam search.

* Greedy: argmax per position, then the model's output rule (CTC collapse, AXE blank removal).
* Beam (`beam > 1`, CTC only): natpipe.blocks.ctc_beam over each sentence's log-probabilities,
  optionally with the corpus's n-gram LM and Eq. (6)'s alpha, beta.
* NPD (`npd_samples = m > 1`, VAE only): candidate 0 decodes from the prior mean, candidates
  1 .. m-1 from z ~ N(mu, (t sigma)^2) with t = `npd_temperature` (0.1 in the paper); all m run
  as one batch, and the AT teacher's log p(y|x) (forced decoding) picks the best.

Returns fairseq's hypothesis format, so fairseq-generate and the speed harness read it as any
other system's.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from natpipe.blocks.latent import sample_gaussian
from natpipe.blocks.teacher_scoring import best_candidates, teacher_scores
from natpipe.decoding.hypotheses import hypothesis


class FullyNATGenerator:
    def __init__(self, model, tgt_dict, beam: int = 1, lm_path: str | None = None, alpha: float = 0.0,
                 beta: float = 0.0, npd_samples: int = 1, npd_temperature: float = 0.1, teacher=None):
        if beam > 1 and not model.uses_ctc:
            raise ValueError("beam search over the decoder output needs a CTC model (--latent-alignment ctc)")
        if npd_samples > 1 and (not model.uses_vae or teacher is None):
            raise ValueError("noisy parallel decoding needs a VAE model and the AT teacher (--npd-teacher-path)")
        self.model, self.vocab, self.teacher = model, tgt_dict, teacher
        self.npd_samples, self.npd_temperature = npd_samples, npd_temperature
        self.eos, self.pad = tgt_dict.eos(), tgt_dict.pad()
        self.search = None
        if beam > 1:
            from natpipe.blocks.ctc_beam import CTCBeamSearch

            self.search = CTCBeamSearch(list(tgt_dict.symbols), model.blank, beam=beam, lm_path=lm_path or None,
                                        alpha=alpha, beta=beta)

    @property
    def auxiliary_models(self) -> list:
        """Models besides the system's own that must live on its device (NPD's teacher). The
        beam search and its n-gram LM run on the CPU: each sentence's scores are copied there."""
        return [self.teacher] if self.teacher is not None else []

    def latents(self, encoder_out: dict, sentence_ids: list[int]) -> list[torch.Tensor]:
        """z for each candidate: the prior mean, then m-1 samples at the NPD temperature. Each
        sentence draws its own noise, seeded by its id, so its output does not depend on the batch."""
        mu, logvar = self.model.prior(encoder_out)
        real = self.model.source_mask(encoder_out)
        eps = torch.zeros((self.npd_samples - 1,) + tuple(mu.shape), dtype=mu.dtype)
        for row, sentence in enumerate(sentence_ids):
            positions = real[row].cpu()
            draw = torch.randn((self.npd_samples - 1, int(positions.sum()), mu.size(-1)),
                               generator=torch.Generator().manual_seed(sentence), dtype=mu.dtype)
            eps[:, row, positions] = draw
        eps = eps.to(mu.device)
        return [mu] + [sample_gaussian(mu, logvar, self.npd_temperature, eps=eps[c]) for c in range(self.npd_samples - 1)]

    def read_off(self, lprobs: torch.Tensor, mask: torch.Tensor) -> list[tuple[list[int], float]]:
        """Tokens and model score of each row of a decoded batch."""
        out = []
        lengths = mask.sum(1).tolist()
        if self.search is not None:
            for row, length in enumerate(lengths):
                best = self.search.search(lprobs[row, :length].float().cpu())[0]
                out.append((best.tokens, best.score))
            return out
        best, argmax = lprobs.max(-1)
        for row, length in enumerate(lengths):
            out.append((self.model.output_tokens(argmax[row, :length].tolist()), float(best[row, :length].sum())))
        return out

    @torch.no_grad()
    def log_probs(self, sample) -> tuple[torch.Tensor, torch.Tensor]:
        """Decoder log-probabilities (pad and </s> excluded) and mask of every candidate: candidate c
        of sentence i is row c * batch + i (one candidate unless NPD)."""
        model = self.model
        src_tokens, src_lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
        encoder_out = model.encode(src_tokens, src_lengths)
        if model.uses_vae:
            zs = self.latents(encoder_out, sample["id"].tolist())
            rows = torch.arange(src_tokens.size(0), device=src_tokens.device).repeat(len(zs))
            encoder_out = model.with_latent(model.encoder.reorder_encoder_out(encoder_out, rows), torch.cat(zs, 0))
        inputs, mask = model.decoder_inputs(encoder_out, model.decoder_lengths(encoder_out))
        lprobs = F.log_softmax(model.decode(inputs, mask, encoder_out).float(), dim=-1)
        lprobs[:, :, [self.pad, self.eos]] = -math.inf  # never outputs: greedy and beam search skip them
        return lprobs, mask

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        src_tokens, src_lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
        batch = src_tokens.size(0)
        lprobs, mask = self.log_probs(sample)
        candidates = self.read_off(lprobs, mask)
        choice = list(range(batch))
        if self.npd_samples > 1:
            rows = torch.arange(batch, device=src_tokens.device).repeat(self.npd_samples)
            scores = teacher_scores(self.teacher, src_tokens.index_select(0, rows), src_lengths.index_select(0, rows),
                                    [tokens for tokens, _ in candidates], self.pad, self.eos).view(self.npd_samples, batch)
            choice = best_candidates(scores)
        return [hypothesis(*candidates[row], self.eos, src_tokens.device) for row in choice]
