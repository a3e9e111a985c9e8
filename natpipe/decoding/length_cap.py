"""Batch-independent output-length cap for fairseq's beam search.

fairseq's SequenceGenerator caps every hypothesis of a batch at a * max(source length in the
batch) + b, so with max_len_a > 0 a sentence's translation depends on which sentences share its
batch: a looping hypothesis is cut at a different length at batch size 1 than at 32, and
distillation output depends on --max-tokens. natpipe applies the cap per sentence instead,
a * (own source length) + b, which is exactly what the sentence gets when decoded alone; the
batch-level cap stays as an upper bound. Installed for every fairseq run by `natpipe`.
"""
from __future__ import annotations

import math

import torch

_installed = False


def sentence_caps(src_lengths_with_eos: torch.Tensor, max_len_a: float, max_len_b: int) -> torch.Tensor:
    """int(a * n + b) per sentence, n excluding the source EOS as fairseq counts it (float64 so
    that the rounding equals fairseq's Python-float computation)."""
    n = src_lengths_with_eos.reshape(-1).to(torch.float64) - 1
    return torch.floor(max_len_a * n + max_len_b).long()


def force_eos_beyond_cap(lprobs: torch.Tensor, step: int, caps: torch.Tensor, eos: int) -> torch.Tensor:
    """Rows whose own cap is reached may only end (fairseq's own max-length rule, per row)."""
    done = caps <= step
    if bool(done.any()):
        keep = lprobs[done, eos].clone()
        lprobs[done] = -math.inf
        lprobs[done, eos] = keep
    return lprobs


def install() -> None:
    """Wrap SequenceGenerator so that its ensemble applies the per-sentence cap."""
    global _installed
    if _installed:
        return
    from fairseq import sequence_generator as sg

    class CappedEnsemble(sg.EnsembleModel):
        max_len_a = 0.0
        max_len_b = 200
        eos = 2

        def forward_decoder(self, tokens, encoder_outs, incremental_states, temperature: float = 1.0):
            lprobs, attn = super().forward_decoder(tokens, encoder_outs, incremental_states, temperature)
            lengths = encoder_outs[0].get("src_lengths") if encoder_outs else None
            if lengths:  # follows the generator's reordering of finished sentences and beams
                caps = sentence_caps(lengths[0], self.max_len_a, self.max_len_b).to(lprobs.device)
                lprobs = force_eos_beyond_cap(lprobs, tokens.size(1) - 1, caps, self.eos)
            return lprobs, attn

    original_init = sg.SequenceGenerator.__init__

    def init(self, models, tgt_dict, *args, **kwargs):
        original_init(self, models, tgt_dict, *args, **kwargs)
        if self.max_len_a > 0 and not self.match_source_len and isinstance(self.model, sg.EnsembleModel):
            capped = CappedEnsemble(list(self.model.models))
            capped.max_len_a, capped.max_len_b, capped.eos = self.max_len_a, self.max_len_b, self.eos
            self.model = capped

    sg.SequenceGenerator.__init__ = init
    _installed = True
