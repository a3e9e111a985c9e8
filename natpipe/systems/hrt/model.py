"""HRT (hybrid-regressive translation): one Transformer decoder used in two modes.

Skip-AT is the decoder with its causal mask, reading every k-th target token at that token's
position in the full sequence ([BOS_k] y_k y_2k ... at positions 0, k, 2k, ...); Skip-CMLM is
the same decoder without the causal mask at ordinary positions, filling [MASK]s. Both modes
share every parameter, so HRT has exactly the parameters of the AT Transformer it is
fine-tuned from (its checkpoint loads as is) and no length predictor: N_nat = k * N_at.

Symbols: fairseq's AT decoders start from </s>, so the dictionary's <s> is never an AT input
and serves as [BOS_k]; [MASK] is <unk>, as in fairseq's CMLM.
"""
from __future__ import annotations

from contextlib import contextmanager

import torch
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import TransformerModel, base_architecture
from fairseq.modules import SinusoidalPositionalEmbedding


def strided_positions(tokens: torch.Tensor, padding_idx: int, stride: int) -> torch.Tensor:
    """fairseq position ids (padding_idx + 1 + i for the i-th token, padding_idx for pads) with
    the i-th token placed at original position i * stride."""
    mask = tokens.ne(padding_idx)
    index = torch.cumsum(mask, dim=1) - 1  # 0-based index among real tokens (handles left padding)
    return torch.where(mask, index * stride + padding_idx + 1, torch.full_like(index, padding_idx))


class StridedPositions:
    """Mixed into the decoder's positional-embedding module (class swap, so parameter names and
    checkpoints stay those of the AT model); stride 1 is the module's own behaviour."""

    stride = 1

    def forward(self, input, incremental_state=None, *args, **kwargs):
        if self.stride == 1:
            return super().forward(input, incremental_state, *args, **kwargs)
        positions = strided_positions(input, self.padding_idx, self.stride)
        if isinstance(self, SinusoidalPositionalEmbedding):
            needed = int(positions.max()) + 1
            if needed > self.weights.size(0):
                self.weights = SinusoidalPositionalEmbedding.get_embedding(
                    needed, self.embedding_dim, self.padding_idx).to(self.weights)
            return self.weights.index_select(0, positions.view(-1)).view(*positions.shape, -1).detach()
        return torch.nn.functional.embedding(positions, self.weight, self.padding_idx)


def make_strided(module) -> None:
    base = type(module)
    if not issubclass(base, StridedPositions):
        module.__class__ = type(f"Strided{base.__name__}", (StridedPositions, base), {})


@register_model("hrt_transformer")
class HRTModel(TransformerModel):
    """A Transformer whose decoder can run as AT / Skip-AT (causal) or CMLM / Skip-CMLM."""

    num_updates = 0

    def set_num_updates(self, num_updates):
        """Kept for the curriculum (the criterion reads t from here); fairseq only forwards it."""
        self.num_updates = num_updates
        super().set_num_updates(num_updates)

    @classmethod
    def build_decoder(cls, args, tgt_dict, embed_tokens):
        decoder = super().build_decoder(args, tgt_dict, embed_tokens)
        if decoder.embed_positions is not None:
            make_strided(decoder.embed_positions)
        return decoder

    @contextmanager
    def skip_mode(self, stride: int):
        """Positions of decoder inputs are multiplied by `stride` (Skip-AT) inside the block."""
        positions = self.decoder.embed_positions
        previous = positions.stride if positions is not None else 1
        if positions is not None:
            positions.stride = stride
        try:
            yield self
        finally:
            if positions is not None:
                positions.stride = previous

    def decode(self, prev_output_tokens, encoder_out, causal: bool, stride: int = 1):
        """Decoder logits for a whole input sequence in one of the four modes."""
        with self.skip_mode(stride):
            logits, _ = self.decoder(prev_output_tokens, encoder_out=encoder_out, full_context_alignment=not causal)
        return logits


@register_model_architecture("hrt_transformer", "hrt_transformer")
def hrt_base_architecture(args):
    base_architecture(args)
