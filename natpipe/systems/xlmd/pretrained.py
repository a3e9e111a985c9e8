"""Reading fairseq's XLM-R checkpoints (xlmr.base / xlmr.large `model.pt`, unpacked by the data
stage) into an XLM-D model.

XLM-D keeps XLM-R's module tree (`encoder.sentence_encoder.*`, `encoder.lm_head.*`, fairseq's
RobertaEncoder), so a checkpoint's weights load by name; what the checkpoint has and XLM-D lacks
(a classification head) is ignored, and the decorator's sigma is the one parameter left as built.
"""
from __future__ import annotations

import logging

import torch

logger = logging.getLogger(__name__)

PREFIX = "encoder."  # RobertaModel's encoder; XLM-D names it the same
NEW = ("sigma",)  # XLM-D's only parameter that XLM-R has not


class PretrainedMismatch(ValueError):
    """The checkpoint does not fit the model as configured."""


def read_checkpoint(path: str) -> dict:
    """The encoder's state dict of a fairseq RoBERTa/XLM-R checkpoint, under today's names.

    The released xlmr.base / xlmr.large predate fairseq 0.10: their encoder is called `decoder`
    and its embedding LayerNorm `emb_layer_norm`, which fairseq's RobertaModel renames when it
    loads them; so does this (the fused `in_proj` attention weights are split by fairseq's own
    upgrade in load_pretrained)."""
    state = torch.load(path, map_location="cpu", weights_only=False)  # fairseq stores argparse args
    weights = state.get("model") if isinstance(state, dict) else None
    if weights:
        weights = {("encoder." + k[len("decoder."):] if k.startswith("decoder.") else k)
                   .replace(".emb_layer_norm.", ".layernorm_embedding."): v for k, v in weights.items()}
    if not weights or not any(k.startswith(PREFIX + "sentence_encoder.") for k in weights):
        raise PretrainedMismatch(f"{path}: not a fairseq RoBERTa/XLM-R checkpoint (no encoder.sentence_encoder.* "
                                 "weights under 'model')")
    return {k: v for k, v in weights.items() if k.startswith(PREFIX)}


def shape_of(weights: dict) -> dict:
    """Layers, width, FFN width and vocabulary read off the weights."""
    layers = {int(k.split(".")[3]) for k in weights if k.startswith("encoder.sentence_encoder.layers.")}
    embed = weights["encoder.sentence_encoder.embed_tokens.weight"]
    return {"layers": len(layers), "dim": embed.size(1), "vocabulary": embed.size(0),
            "ffn": weights["encoder.sentence_encoder.layers.0.fc1.weight"].size(0)}


def load_pretrained(model, path: str) -> None:
    """Copy the checkpoint's weights into `model` (an XLMDModel), checking the shapes first."""
    weights = read_checkpoint(path)
    model.upgrade_state_dict(weights)  # fairseq's own renames of older layouts (in_proj -> q, k, v)
    have, want = shape_of(weights), shape_of(model.state_dict())
    if have != want:
        raise PretrainedMismatch(f"{path}: the checkpoint is {have}, the model as configured is {want} (set "
                                 "encoder_layers / embed_dim / ffn_dim as the checkpoint's, and binarize with its dictionary)")
    own = model.state_dict()
    missing = [k for k in own if k not in weights and k not in NEW]
    if missing:
        raise PretrainedMismatch(f"{path}: lacks {len(missing)} of the model's weights, e.g. {missing[:3]}")
    for name in own:
        if name in weights and own[name].shape != weights[name].shape:
            raise PretrainedMismatch(f"{path}: {name} is {tuple(weights[name].shape)}, the model's {tuple(own[name].shape)}")
    model.load_state_dict({k: weights[k] for k in own if k in weights}, strict=False)
    logger.info("loaded %d pretrained tensors from %s (%s); new: %s", len(own) - len(NEW), path, have, ", ".join(NEW))
