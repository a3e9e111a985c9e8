"""One-pass CMLM mask filling: the decoder sees a partial translation and predicts the masks.

HRT §4: the AT translation with some tokens replaced by [MASK] is the CMLM decoder's input
([BOS] y1 .. yN [EOS], fairseq's CMLM uses <unk> as its mask); one decoder pass predicts every
masked position (beam 1), unmasked tokens are kept verbatim. Special symbols are never
predicted, so a filled position always holds a real token.
"""
from __future__ import annotations

import torch

from natpipe.blocks.masking import apply_mask


def decoder_input(targets: list[list[int]], masks: list[list[int]], bos: int, eos: int, pad: int,
                  mask: int) -> torch.Tensor:
    """[BOS] tokens-with-masks [EOS], right-padded; `masks` are 0-based positions in the tokens."""
    width = max(len(t) for t in targets) + 2
    batch = torch.full((len(targets), width), pad, dtype=torch.long)
    for row, (tokens, positions) in enumerate(zip(targets, masks)):
        batch[row, :len(tokens) + 2] = torch.tensor([bos, *apply_mask(tokens, positions, mask), eos])
    return batch


@torch.no_grad()
def encode(model, sample: dict):
    """The encoder output of a fairseq batch; computed once, reused for every masking of it."""
    return model.forward_encoder([sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]])


@torch.no_grad()
def fill_masks(model, encoder_out, targets: list[list[int]], masks: list[list[int]], tgt_dict) -> list[list[int]]:
    """Fill the masked positions of each target with the CMLM's argmax in one pass.

    `encoder_out` encodes the sources of the same sentences in the same order; the returned
    lists have the targets' lengths.
    """
    bos, eos, pad, unk = tgt_dict.bos(), tgt_dict.eos(), tgt_dict.pad(), tgt_dict.unk()
    prev = decoder_input(targets, masks, bos, eos, pad, unk).to(encoder_out["encoder_out"][0].device)
    log_probs = model.decoder(normalize=True, prev_output_tokens=prev, encoder_out=encoder_out, step=0)
    forbidden = [bos, eos, pad, unk] + list(range(tgt_dict.nspecial))
    log_probs[:, :, forbidden] = float("-inf")
    predicted = log_probs.argmax(-1).cpu()
    filled = []
    for row, (tokens, positions) in enumerate(zip(targets, masks)):
        out = list(tokens)
        for i in positions:
            out[i] = int(predicted[row, i + 1])  # +1: the BOS column
        filled.append(out)
    return filled
