"""The per-sentence length cap of distillation's beam search (natpipe.decoding.length_cap) on a
tiny random transformer: caps computed once per batch must follow fairseq's reordering of beams
and its removal of finished sentences exactly as the per-step computation from the encoder's
src_lengths did, and make each sentence's output what it is when decoded alone."""
import argparse
import math

import pytest
import torch

import natpipe.plugin  # noqa: F401  (installs the cap)
from natpipe.decoding.length_cap import _force_eos_masked, force_eos_beyond_cap

A, B = 1.2, 2
WORDS = "a b c d e f g h i j k l".split()


def tiny_transformer(seed: int):
    from fairseq.data import Dictionary
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    vocab = Dictionary()
    for word in WORDS:
        vocab.add_symbol(word)

    class Task:
        source_dictionary = target_dictionary = vocab

    args = argparse.Namespace(encoder_layers=1, decoder_layers=1, encoder_embed_dim=16, decoder_embed_dim=16,
                              encoder_ffn_embed_dim=32, decoder_ffn_embed_dim=32, encoder_attention_heads=2,
                              decoder_attention_heads=2, share_all_embeddings=True, dropout=0.0,
                              max_source_positions=64, max_target_positions=64)
    ARCH_CONFIG_REGISTRY["transformer"](args)
    torch.manual_seed(seed)
    model = ARCH_MODEL_REGISTRY["transformer"].build_model(args, Task()).eval().double()
    return model, vocab


def batch(vocab, sentences):
    """A fairseq translation batch: sources left-padded, each ending in EOS."""
    width = max(len(s) for s in sentences) + 1
    src = torch.full((len(sentences), width), vocab.pad(), dtype=torch.long)
    for row, words in enumerate(sentences):
        src[row, width - len(words) - 1:] = torch.tensor([vocab.index(w) for w in words] + [vocab.eos()])
    lengths = torch.tensor([len(s) + 1 for s in sentences])
    return {"net_input": {"src_tokens": src, "src_lengths": lengths}, "id": torch.arange(len(sentences))}


def per_step_reference(generator):
    """The cap as first implemented, independently of natpipe's helpers: at every decoding step,
    recomputed from the (reordered) encoder src_lengths of the rows being decoded."""
    from fairseq import sequence_generator as sg

    class PerStep(sg.EnsembleModel):
        def forward_decoder(self, tokens, encoder_outs, incremental_states, temperature=1.0):
            lprobs, attn = sg.EnsembleModel.forward_decoder(self, tokens, encoder_outs, incremental_states,
                                                            temperature)
            lengths = encoder_outs[0]["src_lengths"][0].reshape(-1)
            caps = [math.floor(A * (int(n) - 1) + B) for n in lengths]
            for row, cap in enumerate(caps):
                if cap <= tokens.size(1) - 1:
                    eos = lprobs[row, generator.eos].item()
                    lprobs[row] = -math.inf
                    lprobs[row, generator.eos] = eos
            return lprobs, attn

    generator.model = PerStep(list(generator.model.models))
    return generator


def decode(generator, sample):
    return [[(h["tokens"].tolist(), float(h["score"])) for h in hypos] for hypos in generator.generate(None, sample)]


@pytest.mark.parametrize("seed", range(3))
def test_caps_once_per_batch_equal_per_step_caps_and_decoding_alone(seed):
    from fairseq.sequence_generator import SequenceGenerator

    model, vocab = tiny_transformer(seed)
    rng = torch.Generator().manual_seed(seed)
    sentences = [[WORDS[int(i)] for i in torch.randint(len(WORDS), (n,), generator=rng)]
                 for n in (1, 9, 3, 12, 2, 7, 5, 10, 4, 1, 8, 6)]
    sample = batch(vocab, sentences)

    def generator():
        return SequenceGenerator([model], vocab, beam_size=3, max_len_a=A, max_len_b=B)

    capped = generator()
    assert type(capped.model).__name__ == "CappedEnsemble"
    rows_seen = []
    reorder = capped.model.reorder_encoder_out

    def spy(encoder_outs, new_order):
        rows_seen.append(new_order.numel())
        return reorder(encoder_outs, new_order)

    capped.model.reorder_encoder_out = spy
    computed = []
    caps_from = capped.model._caps_from
    capped.model._caps_from = lambda encoder_outs: computed.append(1) or caps_from(encoder_outs)
    batched = decode(capped, sample)
    # finished sentences left the batch while others were still decoded: the caps had to follow
    assert len(set(rows_seen)) > 2 and min(rows_seen) < 3 * len(sentences)
    assert len(computed) == 1  # once per batch, never recomputed at a decoding step

    assert batched == decode(per_step_reference(generator()), sample)
    caps = [math.floor(A * len(s) + B) for s in sentences]
    assert all(len(tokens) <= cap + 1 for hypos, cap in zip(batched, caps) for tokens, _ in hypos)
    assert sum(len(hypos[0][0]) == cap + 1 for hypos, cap in zip(batched, caps)) >= 2  # the cap binds
    for i, words in enumerate(sentences):
        alone = decode(generator(), batch(vocab, [words]))[0]
        assert [tokens for tokens, _ in alone] == [tokens for tokens, _ in batched[i]]
        assert [score for _, score in alone] == pytest.approx([score for _, score in batched[i]], abs=1e-5)


def test_encoder_outputs_it_did_not_encode_are_capped_from_their_own_lengths():
    from fairseq.sequence_generator import SequenceGenerator

    model, vocab = tiny_transformer(0)
    sample = batch(vocab, [["a", "b", "c"], ["d"]])
    ensemble = SequenceGenerator([model], vocab, beam_size=1, max_len_a=A, max_len_b=B).model
    ensemble.forward_encoder(sample["net_input"])  # another batch's caps are held
    encoder_outs = [model.encoder(**sample["net_input"])]
    tokens = torch.full((2, 4), vocab.eos())  # step 3: the second sentence's cap (floor(1.2 + 2) = 3)
    lprobs, _ = ensemble.forward_decoder(tokens, encoder_outs, [{}])
    assert torch.isfinite(lprobs[0]).sum() > 1
    assert torch.isfinite(lprobs[1]).nonzero().flatten().tolist() == [vocab.eos()]


def test_both_ways_of_forcing_eos_equal_boolean_indexing_and_leave_other_rows_bit_identical():
    torch.manual_seed(0)
    for rows, step in ((7, 4), (1, 0), (5, 9)):
        lprobs = torch.log_softmax(torch.randn(rows, 11), dim=-1)
        lprobs[0, 3] = float("nan")
        lprobs[-1, 2] = -math.inf
        caps = torch.randint(0, 10, (rows,))
        expected = lprobs.clone()
        done = caps <= step
        keep = expected[done, 2].clone()
        expected[done] = -math.inf
        expected[done, 2] = keep
        # the host path (rows that are done) and the accelerator's sync-free path (a row mask)
        for out in (force_eos_beyond_cap(lprobs.clone(), step, caps, eos=2),
                    _force_eos_masked(lprobs.clone(), caps <= step, eos=2)):
            assert torch.equal(out.isnan(), expected.isnan())
            assert torch.equal(out.nan_to_num(0.5), expected.nan_to_num(0.5))
