"""Shared decoding pieces: the per-sentence beam-search length cap and one-pass CMLM filling."""
import argparse
import math

import pytest
import torch

import natpipe.plugin  # noqa: F401
from natpipe.decoding.length_cap import force_eos_beyond_cap, sentence_caps
from natpipe.decoding.masked_fill import decoder_input, encode, fill_masks


def test_cap_is_fairseqs_formula_on_the_own_source_length():
    # encoder lengths include the source EOS; fairseq's formula counts tokens without it
    caps = sentence_caps(torch.tensor([[8], [3], [1]], dtype=torch.int32), 1.2, 10)
    assert caps.tolist() == [int(1.2 * 7 + 10), int(1.2 * 2 + 10), 10]
    assert sentence_caps(torch.tensor([11]), 0.7, 0).tolist() == [7]  # 0.7 * 10 floors to 7, not 6


def test_rows_past_their_cap_may_only_end():
    lprobs = torch.log_softmax(torch.randn(3, 6), dim=-1)
    before = lprobs.clone()
    out = force_eos_beyond_cap(lprobs, step=5, caps=torch.tensor([5, 6, 2]), eos=2)
    for row in (0, 2):
        assert out[row, 2] == before[row, 2]
        assert all(math.isinf(out[row, j]) for j in range(6) if j != 2)
    assert torch.equal(out[1], before[1])


def tiny_cmlm():
    from fairseq.data import Dictionary
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    vocab = Dictionary()
    for word in "a b c d e f g h".split():
        vocab.add_symbol(word)

    class Task:
        source_dictionary = target_dictionary = vocab

    args = argparse.Namespace(encoder_layers=1, decoder_layers=1, encoder_embed_dim=16, decoder_embed_dim=16,
                              encoder_ffn_embed_dim=32, decoder_ffn_embed_dim=32, encoder_attention_heads=2,
                              decoder_attention_heads=2, share_all_embeddings=True)
    ARCH_CONFIG_REGISTRY["cmlm_transformer"](args)
    torch.manual_seed(0)
    return ARCH_MODEL_REGISTRY["cmlm_transformer"].build_model(args, Task()).eval(), vocab


def test_decoder_input_is_bos_masked_target_eos_padded():
    batch = decoder_input([[10, 11, 12], [13]], [[1], [0]], bos=0, eos=2, pad=1, mask=3)
    assert batch.tolist() == [[0, 10, 3, 12, 2], [0, 3, 2, 1, 1]]


def test_fill_keeps_unmasked_tokens_and_takes_the_decoders_argmax():
    model, vocab = tiny_cmlm()
    words = [vocab.index(w) for w in "a b c d e f".split()]
    targets, masks = [words, words[:3]], [[0, 2, 5], [1]]
    src = torch.tensor([[vocab.index("g"), vocab.index("h"), vocab.eos()], [vocab.pad(), vocab.index("g"), vocab.eos()]])
    sample = {"net_input": {"src_tokens": src, "src_lengths": torch.tensor([3, 2])}}
    filled = fill_masks(model, encode(model, sample), targets, masks, vocab)
    assert [len(f) for f in filled] == [6, 3]
    for tokens, positions, out in zip(targets, masks, filled):
        assert all(out[i] == tokens[i] for i in range(len(tokens)) if i not in positions)
        assert all(out[i] >= vocab.nspecial for i in positions)
    # independently: the decoder's distribution over real words at each masked position
    prev = torch.tensor([[vocab.bos(), *[vocab.unk() if i in masks[0] else t for i, t in enumerate(words)], vocab.eos()]])
    enc = model.forward_encoder([src[:1], torch.tensor([3])])
    scores = model.decoder(normalize=True, prev_output_tokens=prev, encoder_out=enc, step=0)[0]
    expected = [int(scores[i + 1, vocab.nspecial:].argmax()) + vocab.nspecial for i in masks[0]]
    assert [filled[0][i] for i in masks[0]] == expected


def test_fill_without_masks_returns_the_translation_unchanged():
    model, vocab = tiny_cmlm()
    words = [vocab.index(w) for w in "a b".split()]
    src = torch.tensor([[vocab.index("g"), vocab.eos()]])
    sample = {"net_input": {"src_tokens": src, "src_lengths": torch.tensor([2])}}
    assert fill_masks(model, encode(model, sample), [words], [[]], vocab) == [words]


def test_tensor_argmax_picks_the_first_maximum_as_numpy_does():
    import numpy as np

    from natpipe.compat import _TensorArgmaxNumpy

    shim = _TensorArgmaxNumpy(np)
    for values in ([1.0, 3.0, 3.0, -2.0], [-5.0], [0.5, 0.25, 0.5]):
        assert shim.argmax([torch.tensor(v) for v in values]) == int(np.argmax(values))
    assert shim.argmax([2, 7, 1]) == 1 and shim.pi == np.pi  # everything else is numpy's


def test_cmlm_length_beam_decodes_with_tensors_numpy_cannot_read(monkeypatch):
    """GPU regression (CMLM rows with a length beam crashed: fairseq aggregated the length beam
    with np.argmax over CUDA score tensors). Tensors that refuse numpy conversion, as CUDA tensors
    do, must decode to what fairseq's numpy path picks on the CPU."""
    import numpy as np
    from fairseq import iterative_refinement_generator as refinement

    model, vocab = tiny_cmlm()
    words = [vocab.index(w) for w in "a b c d e f g".split()]
    src = torch.tensor([[*words[:5], vocab.eos()], [vocab.pad(), vocab.pad(), *words[4:7], vocab.eos()]])
    sample = {"net_input": {"src_tokens": src, "src_lengths": torch.tensor([6, 4])}}

    def decode():
        generator = refinement.IterativeRefinementGenerator(vocab, models=[model], max_iter=2, beam_size=3)
        return [hypos[0]["tokens"].tolist() for hypos in generator.generate([model], sample)]

    with monkeypatch.context() as plain:
        plain.setattr(refinement, "np", np)
        expected = decode()

    def refuse(self, *args, **kwargs):
        raise TypeError("can't convert cuda:0 device type tensor to numpy (simulated)")

    monkeypatch.setattr(torch.Tensor, "__array__", refuse)
    with pytest.raises(TypeError):  # the simulation reproduces the GPU failure of fairseq's own code
        np.argmax([torch.tensor(1.0), torch.tensor(2.0)])
    assert decode() == expected and len(expected) == 2
