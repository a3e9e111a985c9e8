"""Batch-independent output-length cap for fairseq's beam search.

fairseq's SequenceGenerator caps every hypothesis of a batch at a * max(source length in the
batch) + b, so with max_len_a > 0 a sentence's translation depends on which sentences share its
batch: a looping hypothesis is cut at a different length at batch size 1 than at 32, and
distillation output depends on --max-tokens. natpipe applies the cap per sentence instead,
floor(a * (own source length) + b), the same in every batch; the batch-level cap stays as an
upper bound. (The own length counts the source tokens without EOS, whereas fairseq's batch cap
uses the padded width, EOS included: a sentence decoded alone by plain fairseq gets
int(a * (n + 1) + b), about `a` tokens more.) Installed for every fairseq run by `natpipe`.

Cost: the caps are computed once per batch, when the generator encodes it, and follow the
generator's reordering of beams and removal of finished sentences through
`reorder_encoder_out` (exactly as the encoder's own `src_lengths` do). Decoding steps before
the batch's smallest cap do no work at all; on a GPU, later steps apply the cap with a row mask,
without a data-dependent branch, so the GPU never waits for the host.
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
    """Rows whose own cap is reached may only end (fairseq's own max-length rule, per row): in
    place, every such row becomes -inf except its EOS column; the other rows stay bit for bit.

    On an accelerator this is sync-free (a row mask over the whole matrix, no data-dependent
    branch); on the CPU, where reading the mask costs nothing, only the rows that are done are
    written, which is cheaper than a pass over every row x vocabulary entry."""
    done = caps <= step
    if lprobs.device.type != "cpu":
        return _force_eos_masked(lprobs, done, eos)
    rows = done.nonzero().flatten()
    if rows.numel():
        keep = lprobs[rows, eos]
        lprobs.index_fill_(0, rows, -math.inf)
        lprobs[rows, eos] = keep
    return lprobs


def _force_eos_masked(lprobs: torch.Tensor, done: torch.Tensor, eos: int) -> torch.Tensor:
    keep = lprobs[:, eos].clone()
    lprobs.masked_fill_(done.unsqueeze(1), -math.inf)
    lprobs[:, eos] = keep
    return lprobs


class _BatchCaps:
    """The per-sentence caps of the batch being decoded, kept in the order of `owner`, the
    encoder outputs they belong to (the generator's rows after each reordering)."""

    def __init__(self, caps: torch.Tensor, owner):
        self.caps, self.owner = caps, owner
        self.first = int(caps.min()) if caps.numel() else 0  # one host sync per batch

    def follows(self, encoder_outs) -> bool:
        return encoder_outs is self.owner


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
        _batch: _BatchCaps | None = None

        def _caps_from(self, encoder_outs):
            lengths = encoder_outs[0].get("src_lengths") if encoder_outs else None
            return sentence_caps(lengths[0], self.max_len_a, self.max_len_b) if lengths else None

        def forward_encoder(self, net_input):
            encoder_outs = super().forward_encoder(net_input)
            caps = self._caps_from(encoder_outs)
            self._batch = None if caps is None else _BatchCaps(caps, encoder_outs)
            return encoder_outs

        def reorder_encoder_out(self, encoder_outs, new_order):
            new_outs = super().reorder_encoder_out(encoder_outs, new_order)
            batch = self._batch
            if batch is not None and batch.follows(encoder_outs):  # the same reordering as src_lengths
                batch.caps, batch.owner = batch.caps.index_select(0, new_order.to(batch.caps.device)), new_outs
            return new_outs

        def forward_decoder(self, tokens, encoder_outs, incremental_states, temperature: float = 1.0):
            lprobs, attn = super().forward_decoder(tokens, encoder_outs, incremental_states, temperature)
            step = tokens.size(1) - 1
            batch = self._batch
            if batch is not None and batch.follows(encoder_outs):
                if step >= batch.first:  # before the batch's smallest cap no row can be done
                    lprobs = force_eos_beyond_cap(lprobs, step, batch.caps.to(lprobs.device), self.eos)
                return lprobs, attn
            # encoder outputs this ensemble did not encode or reorder: caps from their own lengths
            caps = self._caps_from(encoder_outs)
            if caps is not None:
                lprobs = force_eos_beyond_cap(lprobs, step, caps.to(lprobs.device), self.eos)
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
