"""A tiny archive laid out as fairseq's XLM-R releases (xlmr.base.tar.gz: xlmr.base/model.pt, dict.txt,
sentencepiece.bpe.model), so that the pretrained-checkpoint machinery is tested on the real format
without the 1 GB download.

XLM-R's SentencePiece model numbers <unk> 0, <s> 1, </s> 2 and its pieces from 3; fairseq's
Dictionary always has <s> 0, <pad> 1, </s> 2, <unk> 3, and dict.txt lists the pieces from 3 on in
order ("piece count"), so that a piece's fairseq index is its SentencePiece id + 1. The checkpoint
is a randomly initialised RobertaModel over that dictionary with <mask> added last (fairseq's
masked_lm task), saved as the released model.pt: the state dict under "model", an
argparse.Namespace under "args".
"""
from __future__ import annotations

import argparse
import io
import tarfile
from collections import Counter
from pathlib import Path
from types import SimpleNamespace

NAME = "xlmr.tiny"
FILES = ("model.pt", "dict.txt", "sentencepiece.bpe.model")


def train_sentencepiece(lines: list[str], vocab_size: int) -> bytes:
    """A unigram model with XLM-R's special ids (no <pad>: fairseq's dictionary has its own)."""
    import sentencepiece as spm

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(lines), model_writer=model, vocab_size=vocab_size, model_type="unigram",
        character_coverage=1.0, hard_vocab_limit=False, num_threads=1, shuffle_input_sentence=False,
        unk_id=0, bos_id=1, eos_id=2, pad_id=-1, minloglevel=2)
    return model.getvalue()


def dictionary_text(spm_model: bytes, lines: list[str]) -> str:
    """dict.txt: every piece after the specials in id order, with its count over `lines`."""
    import sentencepiece as spm

    processor = spm.SentencePieceProcessor(model_proto=spm_model)
    counts = Counter(piece for line in lines for piece in processor.encode(line, out_type=str))
    pieces = [processor.id_to_piece(i) for i in range(3, processor.get_piece_size())]
    return "".join(f"{piece} {counts[piece]}\n" for piece in pieces)


def roberta_checkpoint(dictionary_path: Path, layers: int, dim: int, ffn: int, heads: int, seed: int) -> dict:
    """model.pt's content: a seeded RobertaModel (roberta_base's structure at the given sizes)."""
    import torch
    from fairseq.data import Dictionary
    from fairseq.models.roberta import RobertaModel

    dictionary = Dictionary.load(str(dictionary_path))
    dictionary.add_symbol("<mask>")
    args = argparse.Namespace(
        arch="roberta_base", task="masked_lm", criterion="masked_lm", data=".", bpe="sentencepiece",
        encoder_layers=layers, encoder_embed_dim=dim, encoder_ffn_embed_dim=ffn, encoder_attention_heads=heads,
        max_positions=512, tokens_per_sample=512, activation_fn="gelu", sample_break_mode="complete",
        mask_prob=0.15, seed=seed)
    torch.manual_seed(seed)
    model = RobertaModel.build_model(args, SimpleNamespace(source_dictionary=dictionary))  # fills in the defaults
    # fairseq's loader upgrades any checkpoint that lacks these (a training run's bookkeeping)
    history = [{"criterion_name": "MaskedLmLoss", "optimizer_name": "FairseqAdam", "lr_scheduler_state": {},
                "num_updates": 0}]
    return {"args": args, "model": model.state_dict(), "optimizer_history": history,
            "extra_state": {"train_iterator": {"epoch": 1}}}


def build_tiny_xlmr(work: Path, lines: list[str], *, layers: int = 2, dim: int = 32, ffn: int = 64, heads: int = 2,
                    vocab_size: int = 300, seed: int = 0) -> Path:
    """work/xlmr.tiny.tar.gz holding xlmr.tiny/{model.pt, dict.txt, sentencepiece.bpe.model}, whose
    sources stay in work/xlmr.tiny/. The SentencePiece model is trained on `lines` (its vocabulary
    shrinks below vocab_size when they are too few)."""
    import torch

    root = Path(work) / NAME
    root.mkdir(parents=True, exist_ok=True)
    spm_model = train_sentencepiece(lines, vocab_size)
    (root / "sentencepiece.bpe.model").write_bytes(spm_model)
    (root / "dict.txt").write_text(dictionary_text(spm_model, lines), encoding="utf-8")
    torch.save(roberta_checkpoint(root / "dict.txt", layers, dim, ffn, heads, seed), root / "model.pt")
    archive = Path(work) / f"{NAME}.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(root, arcname=NAME, recursive=False)
        for name in FILES:
            tar.add(root / name, arcname=f"{NAME}/{name}")
    return archive
