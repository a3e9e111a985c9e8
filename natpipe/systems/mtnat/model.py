"""`mtnat_transformer`: a Fully-NAT model plus weak AR decoders that exist for training only.

Each weak AR decoder ([MTNAT] §3) is `--ar-layers` Transformer decoder layers (1 in the paper)
with its own learned positions, causal self-attention over the shifted target and
cross-attention to ONE set of states: a NAR decoder layer's output (masked at the decoder's
padding, so over the upsampled length with CTC), or the encoder output (`--ar-attach`). Token
embeddings and the output projection are the NAR decoder's: at base size an AR decoder is then
4.2M (layer) + 0.5M (1026 learned positions) = 4.7M parameters, the paper's Table 3 arithmetic
(83.8M = 50.6M + 7 x 4.7M with the reference code's 7th decoder on the encoder).

`prepare_for_inference_` (called by fairseq-generate and natpipe's speed harness) drops the AR
decoders: decoding is the Fully-NAT model's, and so are its outputs and cost.
"""
from __future__ import annotations

import torch
from fairseq.models import register_model, register_model_architecture
from fairseq.modules import LayerNorm, PositionalEmbedding, TransformerDecoderLayer
from torch import nn

from natpipe.systems.fully_nat.model import FullyNATModel, fully_nat_base_architecture
from natpipe.systems.mtnat.system import AR_ATTACH, MultiTaskNAT, ar_sources


class WeakARDecoder(nn.Module):
    """`layers` causal Transformer decoder layers over the shifted target, reading one memory."""

    def __init__(self, args, layers: int, padding_idx: int):
        super().__init__()
        dim = args.decoder_embed_dim
        self.positions = PositionalEmbedding(args.max_target_positions, dim, padding_idx, learned=True)
        self.layers = nn.ModuleList(TransformerDecoderLayer(args) for _ in range(layers))
        self.layer_norm = LayerNorm(dim) if args.decoder_normalize_before else None
        self.dropout = nn.Dropout(args.dropout)

    def forward(self, embedded: torch.Tensor, prev_tokens: torch.Tensor, memory: torch.Tensor,
                memory_padding: torch.Tensor) -> torch.Tensor:
        """Features B x T x C. `embedded`: the scaled token embeddings of `prev_tokens` (B x T);
        `memory`: S x B x C states, `memory_padding`: B x S, True at padding."""
        x = self.dropout(embedded + self.positions(prev_tokens)).transpose(0, 1)
        steps = prev_tokens.size(1)
        future = torch.triu(torch.full((steps, steps), float("-inf"), device=x.device, dtype=x.dtype), 1)
        padding = prev_tokens.eq(self.positions.padding_idx)
        for layer in self.layers:
            x, _, _ = layer(x, memory, memory_padding, None, self_attn_mask=future, self_attn_padding_mask=padding)
        if self.layer_norm is not None:
            x = self.layer_norm(x)
        return x.transpose(0, 1)


@register_model("mtnat_transformer")
class MTNATModel(FullyNATModel):
    @staticmethod
    def add_args(parser):
        FullyNATModel.add_args(parser)
        parser.add_argument("--ar-layers", type=int, default=MultiTaskNAT.default("ar_layers"),
                            help="layers of each weak AR decoder")
        parser.add_argument("--ar-attach", choices=list(AR_ATTACH), default=MultiTaskNAT.default("ar_attach"),
                            help="states the AR decoders read: each NAR decoder layer, plus the encoder, or the encoder only")
        parser.add_argument("--ar-share", action="store_true", help="one set of AR decoder parameters for all")

    def __init__(self, args, encoder, decoder):
        super().__init__(args, encoder, decoder)
        self.attach = args.ar_attach
        count = 1 if args.ar_share else len(self.ar_sources())
        pad = decoder.dictionary.pad()
        self.ar_decoders = nn.ModuleList(WeakARDecoder(args, args.ar_layers, pad) for _ in range(count))

    def ar_sources(self) -> list[str]:
        return ar_sources(self.args.decoder_layers, self.attach)

    def ar_memories(self, states) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(memory S x B x C, padding B x S) per AR decoder, from a decoder pass's
        natpipe.systems.fully_nat.criterion.DecoderStates."""
        encoder_out = states.encoder_out
        encoder_padding = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
        memories = []
        for source in self.ar_sources():
            if source == "encoder":
                memories.append((encoder_out["encoder_out"][0], encoder_padding))
            else:
                memories.append((states.layers[int(source.split(".")[1]) - 1], ~states.mask))
        return memories

    def ar_logits(self, index: int, prev_tokens: torch.Tensor, memory: torch.Tensor,
                  memory_padding: torch.Tensor | None) -> torch.Tensor:
        """Logits B x T x V of AR decoder `index` (its attachment point's order in ar_sources)."""
        if self.ar_decoders is None:
            raise RuntimeError("the AR decoders were dropped for inference (prepare_for_inference_)")
        decoder = self.decoder
        ar = self.ar_decoders[0 if len(self.ar_decoders) == 1 else index]
        embedded = decoder.embed_scale * decoder.embed_tokens(prev_tokens)
        return decoder.output_layer(ar(embedded, prev_tokens, memory, memory_padding))

    def prepare_for_inference_(self, cfg):
        """Decoding never reads the AR decoders: drop them (memory and outputs are the NAR model's)."""
        self.ar_decoders = None
        super().prepare_for_inference_(cfg)


@register_model_architecture("mtnat_transformer", "mtnat_transformer")
def mtnat_base_architecture(args):
    fully_nat_base_architecture(args)
    args.ar_share = getattr(args, "ar_share", False)  # fairseq suppresses flag defaults in model args
