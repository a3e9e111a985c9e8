"""Hugging Face's XLM-R layout (`config.json`, `model.safetensors`, `sentencepiece.bpe.model`, as on
the Hub's FacebookAI/xlm-roberta-base) turned into the files of fairseq's release (`model.pt`,
`dict.txt`, `sentencepiece.bpe.model`), so that XLM-D loads either through one path (pretrained.py).

The two are the same network under other names, with two differences that are folded in exactly:
* HF adds a token-type embedding (one row, type 0 for every XLM-R input) to every position; fairseq
  has none, so that row is added to each position embedding row.
* HF has no dict.txt: its tokenizer maps a SentencePiece id p >= 3 to p + 1 (fairseq's <s> <pad> </s>
  <unk> take 0..3), which is what dict.txt's order means; it is rebuilt from the SentencePiece model
  (counts of 1: fairseq does not reorder a loaded dictionary) and checked against vocab_size.
"""
from __future__ import annotations

import json
import re

SPECIALS = 4  # fairseq's <s> <pad> </s> <unk>
# HF module names (after roberta.) -> fairseq's (after encoder.sentence_encoder.layers.{i}.)
LAYER_NAMES = {
    "attention.self.query": "self_attn.q_proj", "attention.self.key": "self_attn.k_proj",
    "attention.self.value": "self_attn.v_proj", "attention.output.dense": "self_attn.out_proj",
    "attention.output.LayerNorm": "self_attn_layer_norm", "intermediate.dense": "fc1",
    "output.dense": "fc2", "output.LayerNorm": "final_layer_norm",
}
LAYER_KEY = re.compile(r"encoder\.layer\.(\d+)\.(.+)\.(weight|bias)$")
# config.json values fairseq's RobertaEncoder assumes (key: accepted values)
REQUIRED = {"model_type": ("xlm-roberta", "roberta"), "hidden_act": ("gelu",), "pad_token_id": (1,),
            "position_embedding_type": ("absolute", None), "layer_norm_eps": (1e-5,)}


class ConversionError(ValueError):
    """The files are not an XLM-R that fairseq's RobertaEncoder can run."""


def check_config(config: dict, where: str) -> None:
    for key, accepted in REQUIRED.items():
        if config.get(key) not in accepted:
            raise ConversionError(f"{where}: {key} is {config.get(key)!r}; fairseq's XLM-R needs "
                                  f"{' or '.join(repr(a) for a in accepted if a is not None)}")


def fairseq_state(weights: dict, config: dict, where: str = "model.safetensors") -> dict:
    """fairseq's `encoder.*` state dict of an HF XLMRobertaForMaskedLM's (or XLMRobertaModel's) weights."""
    body = {k[len("roberta."):] if k.startswith("roberta.") else k: v for k, v in weights.items()}
    state, used = {}, set()

    def take(name):
        if name not in body:
            raise ConversionError(f"{where}: no tensor {name!r} (an XLM-R masked-LM checkpoint has it)")
        used.add(name)
        return body[name].float()

    out = "encoder.sentence_encoder."
    words = take("embeddings.word_embeddings.weight")
    state[out + "embed_tokens.weight"] = words
    positions = take("embeddings.position_embeddings.weight")
    if "embeddings.token_type_embeddings.weight" in body:
        positions = positions + take("embeddings.token_type_embeddings.weight")[0]
    state[out + "embed_positions.weight"] = positions
    for suffix in ("weight", "bias"):
        state[out + f"layernorm_embedding.{suffix}"] = take(f"embeddings.LayerNorm.{suffix}")
    for name in body:
        match = LAYER_KEY.match(name)
        if match:
            index, module, suffix = match.groups()
            if module not in LAYER_NAMES:
                raise ConversionError(f"{where}: unexpected tensor {name!r}")
            state[out + f"layers.{index}.{LAYER_NAMES[module]}.{suffix}"] = take(name)
    layers = {int(LAYER_KEY.match(k).group(1)) for k in used if LAYER_KEY.match(k)}
    if layers != set(range(config["num_hidden_layers"])):
        raise ConversionError(f"{where}: layers {sorted(layers)} but config.json's num_hidden_layers is "
                              f"{config['num_hidden_layers']}")
    head = "encoder.lm_head."
    for part in ("dense", "layer_norm"):
        for suffix in ("weight", "bias"):
            state[head + f"{part}.{suffix}"] = take(f"lm_head.{part}.{suffix}")
    state[head + "bias"] = take("lm_head.bias" if "lm_head.bias" in body else "lm_head.decoder.bias")
    state[head + "weight"] = words  # tied to the word embeddings, in both layouts
    if words.shape != (config["vocab_size"], config["hidden_size"]):
        raise ConversionError(f"{where}: word embeddings are {tuple(words.shape)}, config.json says "
                              f"({config['vocab_size']}, {config['hidden_size']})")
    return state


def dictionary_text(spm_path: str, vocab_size: int) -> str:
    """dict.txt for the SentencePiece model: its pieces from id 3 on, in order; with fairseq's 4
    specials and <mask> (added by the task) that must make the model's vocab_size rows."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_file=spm_path)
    ids = (processor.unk_id(), processor.bos_id(), processor.eos_id())
    if ids != (0, 1, 2):
        raise ConversionError(f"{spm_path}: <unk>, <s>, </s> have ids {ids}; XLM-R's SentencePiece numbers them 0, 1, 2")
    pieces = [processor.id_to_piece(i) for i in range(3, processor.get_piece_size())]
    if SPECIALS + len(pieces) + 1 != vocab_size:
        raise ConversionError(f"{spm_path}: {processor.get_piece_size()} pieces give {SPECIALS + len(pieces) + 1} "
                              f"fairseq symbols with <mask>, but config.json's vocab_size is {vocab_size}")
    return "".join(f"{piece} 1\n" for piece in pieces)


def convert(config_path: str, safetensors_path: str, spm_path: str) -> tuple[dict, str]:
    """(model.pt's content, dict.txt's text) of the three HF files."""
    from safetensors.torch import load_file

    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    check_config(config, config_path)
    state = fairseq_state(load_file(safetensors_path), config, safetensors_path)
    text = dictionary_text(spm_path, config["vocab_size"])
    return {"model": state, "args": None, "converted_from": "huggingface", "hf_config": config}, text
