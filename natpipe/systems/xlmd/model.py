"""XLM-D ([XLMD] §2.2, Figure 1): an XLM-R encoder whose layers 1..M read the source and whose
layers M+1..L read the decorated, upsampled sequence; XLM-R's LM head predicts every position.

The XLM-R part is fairseq's own RobertaEncoder (post-norm, embedding LayerNorm, learned positions,
GELU, LM head tied to the embeddings), so a pretrained checkpoint loads by name (pretrained.py) and
`pretrained: null` is XLM-R's own random initialisation (init_bert_params; `reset_init: transformer`
fairseq's Transformer one). The encoder reads
`<s> x </s>` as XLM-R was trained to; at most 512 positions: a longer source keeps its first 510
tokens and </s> (counted in the log). The blank of CTC is <s>, which no target contains.

The criterion and the generator call `source_states`, `latent`, `decorator_input` and `upper`.
"""
from __future__ import annotations

import argparse
import logging

import torch
from fairseq.models import BaseFairseqModel, register_model, register_model_architecture
from fairseq.models.roberta.model import RobertaEncoder
from fairseq.models.roberta.model import base_architecture as roberta_architecture
from fairseq.models.transformer import TransformerModel
from torch import nn

from natpipe.systems.xlmd.decorator import XLMR_POSITIONS, add_and_scale, decorated_lengths, latent_transform
from natpipe.systems.xlmd.system import RESET_INITS, XLMD

logger = logging.getLogger(__name__)
MASK = "<mask>"


def right_padded(tokens: torch.Tensor, pad: int) -> torch.Tensor:
    """The same sentences with their padding on the right (fairseq left-pads sources)."""
    real = tokens.ne(pad)
    order = (~real).long().argsort(dim=1, stable=True)
    return tokens.gather(1, order)


@register_model("xlmd")
class XLMDModel(BaseFairseqModel):
    def __init__(self, args, encoder: RobertaEncoder, dictionary):
        super().__init__()
        self.encoder = encoder
        self.sigma = nn.Parameter(torch.tensor(float(args.sigma_init)))
        self.decorator_layer, self.ratio, self.gamma = args.decorator_layer, args.upsample_ratio, args.decorator_scale
        self.add_and_scale = not getattr(args, "no_add_and_scale", False)
        self.pad, self.eos, self.bos = dictionary.pad(), dictionary.eos(), dictionary.bos()
        self.blank = dictionary.bos()
        self.mask_index = dictionary.index(MASK)
        if self.mask_index == dictionary.unk():
            raise ValueError(f"the dictionary has no {MASK} (the task translation_xlmd adds it)")
        self.truncated = 0  # sources cut to XLM-R's positions so far

    @staticmethod
    def add_args(parser):
        TransformerModel.add_args(parser)  # the size flags natpipe passes to every architecture
        parser.add_argument("--decorator-layer", type=int, default=XLMD.default("decorator_layer"),
                            help="M: the decorator follows layer M (0: the embeddings)")
        parser.add_argument("--upsample-ratio", type=float, default=XLMD.default("upsample_ratio"),
                            help="s: the latent transformation makes s*I states (at most 512)")
        parser.add_argument("--decorator-scale", type=float, default=XLMD.default("decorator_scale"),
                            help="gamma of Eq. (4)")
        parser.add_argument("--sigma-init", type=float, default=XLMD.default("sigma_init"),
                            help="initial sigma of the latent transformation")
        parser.add_argument("--no-add-and-scale", action="store_true",
                            help="'LT only': layers M+1.. read the latent transformation alone (single step)")
        parser.add_argument("--reset-init", choices=RESET_INITS, default=XLMD.default("reset_init"),
                            help="random initialisation of a model without --pretrained-checkpoint")

    @classmethod
    def build_model(cls, args, task):
        xlmd_base(args)
        if args.decorator_layer > args.encoder_layers:
            raise ValueError(f"--decorator-layer {args.decorator_layer} > --encoder-layers {args.encoder_layers}")
        if task.source_dictionary != task.target_dictionary:
            raise ValueError("XLM-D reads and writes one vocabulary: binarize with a joined dictionary")
        roberta = argparse.Namespace(
            encoder_layers=args.encoder_layers, encoder_embed_dim=args.encoder_embed_dim,
            encoder_ffn_embed_dim=args.encoder_ffn_embed_dim, encoder_attention_heads=args.encoder_attention_heads,
            dropout=args.dropout, attention_dropout=args.attention_dropout, activation_dropout=0.0,
            max_positions=XLMR_POSITIONS, max_source_positions=XLMR_POSITIONS, activation_fn="gelu",
            encoder_normalize_before=bool(getattr(args, "encoder_normalize_before", False)),
            layernorm_embedding=True, no_scale_embedding=True,
            encoder_learned_pos=True, untie_weights_roberta=False, encoder_layerdrop=0.0, encoder_layers_to_keep=None)
        roberta_architecture(roberta)
        model = cls(args, RobertaEncoder(roberta, task.source_dictionary), task.source_dictionary)
        if getattr(args, "reset_init", "xlmr") == "transformer":
            transformer_init(model, args.encoder_embed_dim)
        return model

    def max_positions(self):
        """Any length: longer sources are truncated to XLM-R's positions (not dropped, which
        would misalign a test set's hypotheses)."""
        return (10 ** 6, 10 ** 6)

    def forward(self, *args, **kwargs):
        raise NotImplementedError("XLM-D is driven by its criterion and generator")

    # -- the source side: <s> x </s> through layers 1..M ----------------------------------------
    def xlmr_input(self, src_tokens: torch.Tensor) -> torch.Tensor:
        """Right-padded `<s> x </s>` within 512 positions."""
        tokens = right_padded(src_tokens, self.pad)
        lengths = tokens.ne(self.pad).sum(1)
        tokens = torch.cat([torch.full_like(tokens[:, :1], self.bos), tokens], 1)
        if tokens.size(1) > XLMR_POSITIONS:
            long = lengths + 1 > XLMR_POSITIONS
            tokens = tokens[:, :XLMR_POSITIONS].clone()
            tokens[long, -1] = self.eos
            self.truncated += int(long.sum())
            logger.warning("%d source(s) longer than XLM-R's %d positions were truncated (%d so far)",
                           int(long.sum()), XLMR_POSITIONS, self.truncated)
        return tokens

    def run_layers(self, x: torch.Tensor, mask: torch.Tensor, layers) -> torch.Tensor:
        """B x T x C through `layers` (fairseq's encoder layers, T x B x C, padding masked)."""
        padding = ~mask
        x = (x * mask.unsqueeze(-1).to(x)).transpose(0, 1)
        for layer in layers:
            x = layer(x, encoder_padding_mask=padding if padding.any() else None)
        return x.transpose(0, 1)

    def source_states(self, src_tokens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(h^M: B x S x C, B x S mask) of `<s> x </s>`."""
        tokens = self.xlmr_input(src_tokens)
        mask = tokens.ne(self.pad)
        body = self.encoder.sentence_encoder
        x, _ = body.forward_embedding(tokens)
        return self.run_layers(x, mask, body.layers[:self.decorator_layer]), mask

    # -- the decorator --------------------------------------------------------------------------
    def latent(self, states: torch.Tensor, src_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(z: B x J x C, B x J mask), J = min(ceil(s I), 512)."""
        return latent_transform(states, src_mask, decorated_lengths(src_mask.sum(1), self.ratio), self.sigma)

    def all_masked(self, mask: torch.Tensor) -> torch.Tensor:
        """The first input alignment: [MASK] at every real position."""
        return torch.where(mask, self.mask_index, self.pad)

    def decorator_input(self, latent: torch.Tensor, mask: torch.Tensor, alignment: torch.Tensor | None) -> torch.Tensor:
        """z' of Eq. (4) for the input alignment (B x J tokens), or z itself for 'LT only'."""
        if not self.add_and_scale:
            return latent
        body = self.encoder.sentence_encoder
        alignment = alignment.masked_fill(~mask, self.pad)
        positions = body.embed_positions(alignment)  # pad+1.. along the real positions, as XLM-R's
        decorated = add_and_scale(latent, body.embed_tokens(alignment), positions, self.gamma)
        return decorated * mask.unsqueeze(-1).to(decorated)

    def upper(self, decorated: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """B x J x V logits: layers M+1..L, then XLM-R's LM head."""
        body = self.encoder.sentence_encoder
        x = self.run_layers(decorated, mask, body.layers[self.decorator_layer:])
        if body.layer_norm is not None:  # pre-norm (a Reset model's `pre_norm`; XLM-R is post-norm)
            x = body.layer_norm(x)
        return self.encoder.lm_head(x)


def transformer_init(model: nn.Module, dim: int) -> None:
    """fairseq's Transformer initialisation in place of XLM-R's BERT one: Xavier-uniform linear
    layers with zero biases, N(0, dim^-1/2) token and position embeddings (padding rows 0).
    With BERT's N(0, 0.02) a small Reset model on the sample stayed on CTC's all-blank output for
    300+ updates (README "XLM-D on the sample (CPU)"), as vanilla NAT did with it."""
    for module in model.modules():
        if isinstance(module, nn.Linear):
            nn.init.xavier_uniform_(module.weight)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
    body = model.encoder.sentence_encoder
    for embedding in (body.embed_tokens, body.embed_positions):
        nn.init.normal_(embedding.weight, mean=0.0, std=dim ** -0.5)
        with torch.no_grad():
            embedding.weight[embedding.padding_idx].zero_()


@register_model_architecture("xlmd", "xlmd_base")
def xlmd_base(args):
    """XLM-R base: 12 layers, 768 wide, FFN 3072, 12 heads."""
    for key, value in (("encoder_layers", 12), ("encoder_embed_dim", 768), ("encoder_ffn_embed_dim", 3072),
                       ("encoder_attention_heads", 12), ("dropout", 0.1), ("attention_dropout", 0.1)):
        if getattr(args, key, None) is None:
            setattr(args, key, value)


@register_model_architecture("xlmd", "xlmd_large")
def xlmd_large(args):
    """XLM-R large: 24 layers, 1024 wide, FFN 4096, 16 heads."""
    for key, value in (("encoder_layers", 24), ("encoder_embed_dim", 1024), ("encoder_ffn_embed_dim", 4096),
                       ("encoder_attention_heads", 16)):
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    xlmd_base(args)
