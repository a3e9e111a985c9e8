"""Fully NAT (Gu & Kong 2021): one decoder pass, decoder input = SoftCopy of the encoder output.

* Length: for CTC the decoder is lambda times as long as the source (`--upsample-ratio`); for CE and
  AXE it has the golden length in training and the length predictor's at inference.
* Latent alignments (`--latent-alignment`): `none` (CE, position i predicts y_i), `axe` (aligned
  cross-entropy; predictions may be blank) or `ctc`. The blank is the dictionary's <s>, which
  never occurs inside a target (and is index 0, torch's CTC default).
* VAE (`--latent-dim D > 0`, Shu et al. 2020): a prior N(mu, sigma) per source position from the
  last encoder layer; a posterior q(z|x,y), a small Transformer encoder over y plus a decoder whose
  queries are the source embeddings, sharing only the embeddings with the main model; z is
  projected and added to the encoder output before anything reads it.
* Glancing (the criterion's GLAT/RND) replaces chosen decoder inputs by target embeddings:
  `decode(..., glance_tokens, glance_mask)`.

The criterion (natpipe.systems.fully_nat.criterion) and the generator (natpipe.systems.fully_nat.generator) call
the steps below explicitly; `forward` is not used.
"""
from __future__ import annotations

import torch
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import TransformerModel, base_architecture
from torch import nn

from natpipe.blocks.ctc import collapse, collapse_batch
from natpipe.blocks.upsampling import soft_copy, upsampled_lengths
from natpipe.systems.fully_nat.system import FullyNAT

ALIGNMENTS = ("none", "axe", "ctc")


class LatentPosterior(nn.Module):
    """q(z | x, y): y encoded by `layers` Transformer layers, read by the source positions.

    (Attribute names must not end in "encoder"/"decoder": fairseq's checkpoint upgrade renames
    any `...encoder.layers.N.self_attn.in_proj_weight` it finds.)"""

    def __init__(self, embed_tokens: nn.Embedding, dim: int, heads: int, ffn: int, layers: int, latent_dim: int,
                 dropout: float, max_positions: int):
        super().__init__()
        self.embed_tokens = embed_tokens  # shared with the main model; nothing else is
        self.scale = dim ** 0.5
        self.positions = nn.Embedding(max_positions, dim)
        nn.init.normal_(self.positions.weight, std=dim ** -0.5)
        self.target_layers = nn.TransformerEncoder(
            nn.TransformerEncoderLayer(dim, heads, ffn, dropout, batch_first=True, norm_first=True), layers,
            enable_nested_tensor=False)
        self.source_layers = nn.TransformerDecoder(
            nn.TransformerDecoderLayer(dim, heads, ffn, dropout, batch_first=True, norm_first=True), layers)
        self.out = nn.Linear(dim, 2 * latent_dim)

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """Token + learned position embeddings, positions counted from each sentence's first real
        token (sources are left-padded: counting columns would tie q(z|x,y) to the batch)."""
        real = tokens.ne(self.embed_tokens.padding_idx)
        steps = (real.cumsum(1) - 1).clamp(min=0, max=self.positions.num_embeddings - 1)
        return self.scale * self.embed_tokens(tokens) + self.positions(steps)

    def forward(self, src_tokens, src_pad, tgt_tokens, tgt_pad):
        memory = self.target_layers(self.embed(tgt_tokens), src_key_padding_mask=tgt_pad)
        hidden = self.source_layers(self.embed(src_tokens), memory, tgt_key_padding_mask=src_pad,
                                     memory_key_padding_mask=tgt_pad)
        mu, logvar = self.out(hidden).chunk(2, dim=-1)
        return mu, logvar


@register_model("fully_nat_transformer")
class FullyNATModel(TransformerModel):
    @staticmethod
    def add_args(parser):
        TransformerModel.add_args(parser)
        parser.add_argument("--latent-alignment", choices=ALIGNMENTS, default="ctc",
                            help="loss family: none (CE), axe or ctc (decoder length = ratio x source length)")
        parser.add_argument("--upsample-ratio", type=float, default=FullyNAT.default("upsample_ratio"),
                            help="lambda: CTC decoder length / source length")
        parser.add_argument("--softcopy-tau", type=float, default=1.0, help="SoftCopy temperature over |j - i*S/T|")
        parser.add_argument("--latent-dim", type=int, default=0, help="D of the VAE latents (0: no VAE)")
        parser.add_argument("--posterior-layers", type=int, default=FullyNAT.default("vae.posterior_layers"), help="layers of q(z|x,y)'s encoder and decoder")
        parser.add_argument("--max-predicted-length", type=int, default=256, help="classes of the length predictor")

    def __init__(self, args, encoder, decoder):
        super().__init__(args, encoder, decoder)
        dim = args.encoder_embed_dim
        self.alignment = args.latent_alignment
        self.blank = decoder.dictionary.bos()
        self.length_predictor = None if self.uses_ctc else nn.Linear(dim, args.max_predicted_length)
        self.latent_dim = args.latent_dim
        if self.latent_dim > 0:
            self.prior_layer = nn.Linear(dim, 2 * self.latent_dim)
            self.latent_proj = nn.Linear(self.latent_dim, dim)
            self.posterior = LatentPosterior(encoder.embed_tokens, dim, args.encoder_attention_heads,
                                             args.encoder_ffn_embed_dim, args.posterior_layers, self.latent_dim,
                                             args.dropout, args.max_target_positions + 2)

    @property
    def uses_ctc(self) -> bool:
        return self.alignment == "ctc"

    @property
    def uses_vae(self) -> bool:
        return self.latent_dim > 0

    def output_tokens(self, predicted: list[int]) -> list[int]:
        """The translation read off per-position argmax tokens: CTC collapses, AXE drops blanks."""
        if self.uses_ctc:
            return collapse(predicted, self.blank)
        return [t for t in predicted if t != self.blank]

    def output_tokens_batch(self, predicted: torch.Tensor, mask: torch.Tensor):
        """`output_tokens` of every row on the device (glancing's edit distance): B x T tokens, B lengths."""
        return collapse_batch(predicted, mask, self.blank, merge_repeats=self.uses_ctc)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("fully_nat_transformer is trained by --criterion fully_nat_loss "
                                  "and decoded by --task translation_fully_nat")

    # encoder side -------------------------------------------------------------------------------
    def encode(self, src_tokens, src_lengths) -> dict:
        return self.encoder(src_tokens, src_lengths=src_lengths)

    @staticmethod
    def source_mask(encoder_out: dict) -> torch.Tensor:
        """True at real source positions, B x S."""
        states = encoder_out["encoder_out"][0]
        if encoder_out["encoder_padding_mask"]:
            return ~encoder_out["encoder_padding_mask"][0]
        return torch.ones(states.size(1), states.size(0), dtype=torch.bool, device=states.device)

    def prior(self, encoder_out: dict):
        """mu, log-variance of p(z|x), B x S x D, from the last encoder layer."""
        mu, logvar = self.prior_layer(encoder_out["encoder_out"][0].transpose(0, 1)).chunk(2, dim=-1)
        return mu, logvar

    def posterior_stats(self, src_tokens, tgt_tokens):
        pad = self.decoder.dictionary.pad()
        return self.posterior(src_tokens, src_tokens.eq(pad), tgt_tokens, tgt_tokens.eq(pad))

    def with_latent(self, encoder_out: dict, z: torch.Tensor) -> dict:
        """A copy of encoder_out whose states have proj(z) added (z: B x S x D)."""
        states = encoder_out["encoder_out"][0] + self.latent_proj(z).transpose(0, 1).to(encoder_out["encoder_out"][0])
        return {**encoder_out, "encoder_out": [states]}

    # lengths --------------------------------------------------------------------------------------
    def length_logits(self, encoder_out: dict) -> torch.Tensor:
        states = encoder_out["encoder_out"][0].transpose(0, 1)
        mask = self.source_mask(encoder_out).unsqueeze(-1).to(states)
        pooled = (states * mask).sum(1) / mask.sum(1).clamp(min=1)
        return self.length_predictor(pooled)

    def decoder_lengths(self, encoder_out: dict, target_lengths: torch.Tensor | None = None) -> torch.Tensor:
        """CTC: lambda x source length; otherwise the golden length when given, else the predicted one."""
        if self.uses_ctc:
            return upsampled_lengths(self.source_mask(encoder_out).sum(1), self.args.upsample_ratio)
        if target_lengths is not None:
            return target_lengths
        return self.length_logits(encoder_out).argmax(-1).clamp(min=1)

    # decoder --------------------------------------------------------------------------------------
    def decoder_inputs(self, encoder_out: dict, lengths: torch.Tensor):
        """SoftCopy of the encoder output to `lengths` positions: (B x T x C inputs, B x T mask)."""
        return soft_copy(encoder_out["encoder_out"][0].transpose(0, 1), self.source_mask(encoder_out), lengths,
                         self.args.softcopy_tau)

    def decode(self, inputs: torch.Tensor, mask: torch.Tensor, encoder_out: dict,
               glance_tokens: torch.Tensor | None = None, glance_mask: torch.Tensor | None = None,
               layer_states: list | None = None) -> torch.Tensor:
        """Logits B x T x V of one bidirectional decoder pass over the given inputs; each layer's
        output (T x B x C) is appended to `layer_states` when given (what MT-NAT's AR decoders read)."""
        decoder = self.decoder
        if glance_mask is not None:
            glanced = decoder.embed_scale * decoder.embed_tokens(glance_tokens)
            inputs = torch.where(glance_mask.unsqueeze(-1), glanced.to(inputs), inputs)
        pad = decoder.dictionary.pad()
        position_ids = torch.where(mask, torch.full_like(mask, decoder.dictionary.unk(), dtype=torch.long),
                                   torch.full_like(mask, pad, dtype=torch.long))
        x = inputs
        if decoder.embed_positions is not None:
            x = x + decoder.embed_positions(position_ids)
        if decoder.layernorm_embedding is not None:
            x = decoder.layernorm_embedding(x)
        x = decoder.dropout_module(x).transpose(0, 1)
        padding = ~mask
        enc = encoder_out["encoder_out"][0]
        enc_pad = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
        for layer in decoder.layers:
            x, _, _ = layer(x, enc, enc_pad, None, self_attn_mask=None, self_attn_padding_mask=padding)
            if layer_states is not None:
                layer_states.append(x)
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        return decoder.output_layer(x.transpose(0, 1))


@register_model_architecture("fully_nat_transformer", "fully_nat_transformer")
def fully_nat_base_architecture(args):
    base_architecture(args)
