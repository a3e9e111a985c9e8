"""`hint_nart_transformer`: the NART student of [HINT] (§2, after Gu et al. 2018).

* Encoder: fairseq's Transformer encoder.
* Decoder input: a uniform copy of the scaled source embeddings (the encoder's token embeddings of
  the real source tokens, </s> excluded), plus the decoder's positional embeddings.
* Decoder layers: no causal mask, and a positional-attention sub-layer (queries and keys are the
  positional embeddings, values the hidden states, Gu et al. 2018). Choice: it comes first in each
  layer (positional attention, self-attention, encoder attention, FFN) where Gu et al. put it after
  self-attention, so that the rest of the layer is fairseq's own TransformerDecoderLayer, whose
  per-head encoder attention L_align reads.
* Length: T_y = T_x + C (rounded, at least 1), T_x the source length without </s>. C (the buffer
  `length_offset`) is the mean target-minus-source length of the training data, set by the task
  when training starts and saved with the checkpoint.

Hints: `decode(..., hints=True)` also returns each layer's output (T x B x C, after its FFN: r_t,l)
and encoder-attention weights per head (H x B x T x S: a_t,l,h); `teacher_hints` returns the same of
the AT teacher run teacher-forced on the target.
"""
from __future__ import annotations

import torch
from fairseq.models import register_model, register_model_architecture
from fairseq.models.transformer import TransformerModel, base_architecture
from fairseq.modules import LayerNorm, MultiheadAttention, TransformerDecoderLayer
from torch import nn

from natpipe.blocks.upsampling import uniform_copy


class PositionalAttentionLayer(TransformerDecoderLayer):
    """Positional attention (own residual and layer norm), then fairseq's decoder layer."""

    def __init__(self, args):
        super().__init__(args)
        dim = args.decoder_embed_dim
        self.positional_attn = MultiheadAttention(dim, args.decoder_attention_heads, dropout=args.attention_dropout,
                                                  encoder_decoder_attention=True)
        self.positional_attn_layer_norm = LayerNorm(dim)

    def forward(self, x, positions, encoder_out, encoder_padding_mask, padding, need_head_weights=False):
        residual = x
        values = self.positional_attn_layer_norm(x) if self.normalize_before else x
        y, _ = self.positional_attn(query=positions, key=positions, value=values, key_padding_mask=padding,
                                    need_weights=False)
        x = self.residual_connection(self.dropout_module(y), residual)
        if not self.normalize_before:
            x = self.positional_attn_layer_norm(x)
        x, attn, _ = super().forward(x, encoder_out, encoder_padding_mask, self_attn_padding_mask=padding,
                                     need_head_weights=need_head_weights)
        return x, attn


@register_model("hint_nart_transformer")
class HintNARTModel(TransformerModel):
    def __init__(self, args, encoder, decoder):
        super().__init__(args, encoder, decoder)
        decoder.layers = nn.ModuleList(PositionalAttentionLayer(args) for _ in range(args.decoder_layers))
        self.register_buffer("length_offset", torch.zeros(()))

    def forward(self, *args, **kwargs):
        raise NotImplementedError("hint_nart_transformer is trained by --criterion hint_nart_loss "
                                  "and decoded by --task translation_hint_nart")

    def source_tokens_mask(self, src_tokens: torch.Tensor) -> torch.Tensor:
        """True at real source tokens (</s> and padding excluded), B x S."""
        dictionary = self.encoder.dictionary
        return src_tokens.ne(dictionary.pad()) & src_tokens.ne(dictionary.eos())

    def target_lengths(self, src_tokens: torch.Tensor) -> torch.Tensor:
        """T_x + C, rounded half up, at least 1."""
        source = self.source_tokens_mask(src_tokens).sum(1).to(self.length_offset)
        return torch.floor(source + self.length_offset + 0.5).long().clamp(min=1)

    def encode(self, src_tokens, src_lengths) -> dict:
        return self.encoder(src_tokens, src_lengths=src_lengths)

    def decode(self, src_tokens: torch.Tensor, encoder_out: dict, lengths: torch.Tensor, hints: bool = False):
        """(logits B x T x V, mask B x T, layer outputs, head attentions); the last two are None
        unless `hints`."""
        encoder, decoder = self.encoder, self.decoder
        embedded = encoder.embed_scale * encoder.embed_tokens(src_tokens)
        inputs, mask = uniform_copy(embedded, self.source_tokens_mask(src_tokens), lengths)
        pad = decoder.dictionary.pad()
        position_ids = torch.where(mask, torch.full_like(mask, decoder.dictionary.unk(), dtype=torch.long),
                                   torch.full_like(mask, pad, dtype=torch.long))
        positions = decoder.embed_positions(position_ids)
        x = inputs + positions
        if decoder.layernorm_embedding is not None:
            x = decoder.layernorm_embedding(x)
        x = decoder.dropout_module(x).transpose(0, 1)
        positions, padding = positions.transpose(0, 1), ~mask
        enc = encoder_out["encoder_out"][0]
        enc_pad = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
        states, attentions = ([], []) if hints else (None, None)
        for layer in decoder.layers:
            x, attn = layer(x, positions, enc, enc_pad, padding, need_head_weights=hints)
            if hints:
                states.append(x)
                attentions.append(attn)
        if decoder.layer_norm is not None:
            x = decoder.layer_norm(x)
        return decoder.output_layer(x.transpose(0, 1)), mask, states, attentions


@torch.no_grad()
def teacher_hints(teacher, src_tokens, src_lengths, prev_output_tokens):
    """Each decoder layer's output (T x B x C) and per-head encoder attention (H x B x T x S) of an
    AT model (fairseq `transformer`) run teacher-forced on `prev_output_tokens` (</s> y): the steps
    of fairseq's TransformerDecoder.extract_features, every layer asked for its head weights."""
    encoder_out = teacher.encoder(src_tokens, src_lengths=src_lengths)
    decoder = teacher.decoder
    x = decoder.embed_scale * decoder.embed_tokens(prev_output_tokens)
    if decoder.project_in_dim is not None:
        x = decoder.project_in_dim(x)
    if decoder.embed_positions is not None:
        x = x + decoder.embed_positions(prev_output_tokens)
    if decoder.layernorm_embedding is not None:
        x = decoder.layernorm_embedding(x)
    x = decoder.dropout_module(x).transpose(0, 1)
    future = decoder.buffered_future_mask(x)
    padding = prev_output_tokens.eq(decoder.padding_idx)
    enc = encoder_out["encoder_out"][0]
    enc_pad = encoder_out["encoder_padding_mask"][0] if encoder_out["encoder_padding_mask"] else None
    states, attentions = [], []
    for layer in decoder.layers:
        x, attn, _ = layer(x, enc, enc_pad, None, self_attn_mask=future, self_attn_padding_mask=padding,
                           need_head_weights=True)
        states.append(x)
        attentions.append(attn)
    return states, attentions


@register_model_architecture("hint_nart_transformer", "hint_nart_transformer")
def hint_nart_base_architecture(args):
    base_architecture(args)
