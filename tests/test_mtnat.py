"""Multi-task NAT with weak AR decoders (Wang et al. 2022): where the AR decoders attach and what
they read, Eq. (1) against a loss computed here with torch's own cross-entropy, layer dropout,
parameter sharing against the paper's Table 3 arithmetic, and decoding without the AR decoders."""
import argparse

import pytest
import torch
import torch.nn.functional as F

import natpipe.plugin  # noqa: F401
from natpipe.systems.fully_nat.generator import FullyNATGenerator
from natpipe.systems.mtnat.criterion import MTNATLoss
from test_fully_nat import PAD, SAMPLE, VOCAB, Task, criterion, tiny

EOS = VOCAB.eos()
PREV = torch.tensor([[EOS, 5, 5, 6], [EOS, 4, PAD, PAD]])  # `</s> y` shifted, right-padded as fairseq's
MT_SAMPLE = {**SAMPLE, "net_input": {**SAMPLE["net_input"], "prev_output_tokens": PREV}}
b, c = VOCAB.index("b"), VOCAB.index("c")
assert SAMPLE["target"][0].tolist()[:3] == [b, b, c] and PREV[0, 1:].tolist() == [b, b, c]


def mtnat(layers=2, seed=0, **extra):
    settings = dict(decoder_layers=layers, ar_layers=1, ar_attach="decoder", ar_share=False)
    settings.update(extra)
    return tiny(arch="mtnat_transformer", seed=seed, **settings)


def mt_criterion(**overrides):
    settings = dict(ar_lambda=0.5, ar_reduce="sum", ar_layer_dropout=False, ar_label_smoothing=0.0)
    settings.update(overrides)
    return MTNATLoss(Task(), label_smoothing=0.0, glancing="none", glance_f_ratio=0.5, free_bits=0.0,
                     free_bits_anneal_updates=0, length_loss_factor=0.1, seed=1, max_update=100, **settings)


def decoder_layer_outputs(model):
    """Each NAR decoder layer's output of the criterion's decoder pass, caught by forward hooks."""
    caught = []
    hooks = [layer.register_forward_hook(lambda m, i, out: caught.append(out[0])) for layer in model.decoder.layers]
    return caught, hooks


def test_one_ar_decoder_per_layer_reads_that_layer_only_with_the_upsampled_padding():
    model = mtnat(layers=3)
    assert model.ar_sources() == ["decoder.1", "decoder.2", "decoder.3"] and len(model.ar_decoders) == 3
    seen = []  # (AR decoder, key tensor, key padding) of every cross-attention call
    for index, ar in enumerate(model.ar_decoders):
        ar.layers[0].encoder_attn.register_forward_hook(
            lambda m, args, kwargs, out, index=index: seen.append((index, kwargs["key"], kwargs["key_padding_mask"])),
            with_kwargs=True)
    caught, hooks = decoder_layer_outputs(model)
    mt_criterion()(model, MT_SAMPLE)
    for hook in hooks:
        hook.remove()
    assert [index for index, _, _ in seen] == [0, 1, 2]
    frames = (3 * SAMPLE["net_input"]["src_lengths"]).tolist()  # lambda = 3 x the source length
    for index, key, padding in seen:
        assert key is caught[index]  # layer i's own output, nothing else
        assert key.shape[:2] == (max(frames), 2)
        assert (~padding).sum(1).tolist() == frames


def test_encoder_attachments_read_the_encoder_output():
    both, alone = mtnat(ar_attach="decoder+encoder"), mtnat(ar_attach="encoder")
    assert both.ar_sources() == ["decoder.1", "decoder.2", "encoder"] and len(both.ar_decoders) == 3
    assert alone.ar_sources() == ["encoder"] and len(alone.ar_decoders) == 1
    _, _, states = criterion().nat_loss(alone, SAMPLE, torch.Generator(), keep_states=True)
    (memory, padding), = alone.ar_memories(states)
    encoder_out = alone.encode(SAMPLE["net_input"]["src_tokens"], SAMPLE["net_input"]["src_lengths"])
    assert torch.equal(memory, encoder_out["encoder_out"][0])
    assert torch.equal(padding, SAMPLE["net_input"]["src_tokens"].eq(PAD))


def test_the_ar_decoder_is_causal():
    model = mtnat()
    memory = torch.randn(5, 2, 16)
    changed = PREV.clone()
    changed[0, 3] = VOCAB.index("h")
    first, second = (model.ar_logits(0, prev, memory, None) for prev in (PREV, changed))
    assert torch.allclose(first[0, :3], second[0, :3]) and not torch.allclose(first[0, 3], second[0, 3])


@pytest.mark.parametrize("reduce, eps", [("sum", 0.0), ("mean", 0.1)])
def test_loss_is_lambda_nar_plus_one_minus_lambda_times_the_ar_losses(reduce, eps):
    model = mtnat(layers=2)
    caught, hooks = decoder_layer_outputs(model)
    loss, size, log = mt_criterion(ar_lambda=0.3, ar_reduce=reduce, ar_label_smoothing=eps)(model, MT_SAMPLE)
    for hook in hooks:
        hook.remove()
    nar, _, _ = criterion()(model, SAMPLE)  # the Fully-NAT loss of the same model and batch
    target = SAMPLE["target"]
    ar = []
    for index, states in enumerate(caught):
        logits = model.ar_logits(index, PREV, states, torch.arange(states.size(0)) >= 3 * SAMPLE["net_input"]["src_lengths"][:, None])
        ar.append(F.cross_entropy(logits.reshape(-1, logits.size(-1)), target.reshape(-1), ignore_index=PAD,
                                  reduction="sum", label_smoothing=eps))
    ar_total = sum(ar) / (len(ar) if reduce == "mean" else 1)
    assert torch.allclose(loss, 0.3 * nar + 0.7 * ar_total, rtol=1e-5)
    assert size == 4 and log["ar_decoders"] == 2


def test_layer_dropout_trains_exactly_half_seeded_per_update():
    model = mtnat(layers=6).train()
    loss_fn = mt_criterion(ar_layer_dropout=True)
    chosen = []
    for ar in model.ar_decoders:
        ar.register_forward_hook(lambda m, i, out: chosen[-1].append(m))
    subsets = []
    for update in (0, 1, 2, 3, 0):
        model.num_updates = update
        chosen.append([])
        loss_fn(model, MT_SAMPLE)
        subsets.append(sorted(list(model.ar_decoders).index(m) for m in chosen[-1]))
    assert all(len(subset) == 3 for subset in subsets)
    assert subsets[0] == subsets[4] and len({tuple(s) for s in subsets[:4]}) > 1
    chosen.append([])
    _, _, log = loss_fn(model.eval(), MT_SAMPLE)
    assert log["ar_decoders"] == 6 and len(chosen[-1]) == 6  # validation: every AR decoder


def test_shared_decoders_are_one_set_of_parameters():
    model = mtnat(layers=3, ar_share=True)
    assert len(model.ar_decoders) == 1
    loss, _, log = mt_criterion()(model, MT_SAMPLE)
    assert log["ar_decoders"] == 3
    loss.backward()
    assert model.ar_decoders[0].layers[0].encoder_attn.k_proj.weight.grad.abs().sum() > 0


def base_size(arch, **extra):
    """Transformer-base 6+6, 512/2048/8 ([MTNAT] App. A) over IWSLT14's ~10k joint vocabulary."""
    from fairseq.data import Dictionary
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    vocab = Dictionary()
    for i in range(10_000):
        vocab.add_symbol(f"w{i}")

    class BigTask:
        source_dictionary = target_dictionary = vocab

    args = argparse.Namespace(share_all_embeddings=True, latent_alignment="ctc", upsample_ratio=3.0, softcopy_tau=1.0,
                              latent_dim=0, posterior_layers=1, max_predicted_length=256, **extra)
    ARCH_CONFIG_REGISTRY[arch](args)
    return sum(p.numel() for p in ARCH_MODEL_REGISTRY[arch].build_model(args, BigTask()).parameters())


def test_parameter_counts_follow_the_papers_table3_arithmetic():
    d, f, positions = 512, 2048, 1024 + 2  # fairseq's learned positions: max_target_positions + pad + 1
    attention = 4 * d * d + 4 * d  # q, k, v, out projections with biases
    layer = 2 * attention + (2 * d * f + f + d) + 3 * 2 * d  # self-, cross-attention, FFN, 3 layer norms
    one_ar = layer + positions * d
    ctc = base_size("fully_nat_transformer")
    unshared = base_size("mtnat_transformer", ar_layers=1, ar_attach="decoder+encoder", ar_share=False)
    shared = base_size("mtnat_transformer", ar_layers=1, ar_attach="decoder+encoder", ar_share=True)
    assert unshared - ctc == 7 * one_ar and shared - ctc == one_ar
    # Table 3: 83.8M vs 50.6M (CTC) without sharing, 55.3M with it: +33.2M and +4.7M
    assert abs((unshared - ctc) / 1e6 - (83.8 - 50.6)) < 0.2 and abs((shared - ctc) / 1e6 - (55.3 - 50.6)) < 0.1


def test_decoding_is_the_nar_models_without_the_ar_decoders():
    model = mtnat(layers=2, seed=3)
    with_ar = FullyNATGenerator(model, VOCAB).generate([model], SAMPLE)
    plain = tiny(decoder_layers=2, seed=9)  # other weights, then the MT-NAT model's NAR part
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("ar_decoders.")}
    plain.load_state_dict(state, strict=True)
    model.prepare_for_inference_(argparse.Namespace(generation=argparse.Namespace(beam=1)))  # as fairseq-generate
    assert model.ar_decoders is None
    without_ar = FullyNATGenerator(model, VOCAB).generate([model], SAMPLE)
    alone = FullyNATGenerator(plain, VOCAB).generate([plain], SAMPLE)
    for row in range(2):
        assert with_ar[row][0]["tokens"].tolist() == without_ar[row][0]["tokens"].tolist() \
            == alone[row][0]["tokens"].tolist()
        assert torch.equal(with_ar[row][0]["positional_scores"], alone[row][0]["positional_scores"])
