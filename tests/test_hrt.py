"""HRT: Figure 3 sample construction, the curriculum, strided positions, and Eq. (3) decoding
checked against an independent computation on a tiny model."""
import argparse
import math

import pytest
import torch

import natpipe.plugin  # noqa: F401
from natpipe.systems.hrt.criterion import cmlm_sample, curriculum_split, skip_at_sample, skip_cmlm_sample
from natpipe.systems.hrt.generator import HRTGenerator, nat_input, truncate_at_eos
from natpipe.systems.hrt.model import strided_positions

PAD, EOS, BOS_K, B, MASK = 1, 2, 0, 2, 3  # fairseq: <s>=0 <pad>=1 </s>=2 <unk>=3
Y1, Y2, Y3, Y4, Y5 = 11, 12, 13, 14, 15


def test_skip_at_sample_is_figure_3c_for_k2_and_k3():
    target = torch.tensor([[Y1, Y2, Y3, Y4, EOS], [Y1, Y2, Y3, EOS, PAD]])
    prev, out = skip_at_sample(target, 2, BOS_K, PAD, EOS)
    # y1..y4 </s> is extended to y1..y4 </s> </s>: input ([B2], y2, y4), output (y2, y4, </s>)
    assert prev.tolist() == [[BOS_K, Y2, Y4], [BOS_K, Y2, PAD]]
    assert out.tolist() == [[Y2, Y4, EOS], [Y2, EOS, PAD]]
    assert strided_positions(prev, PAD, 2).tolist() == [[2, 4, 6], [2, 4, PAD]]  # positions 0, 2, 4 (+ pad + 1)
    prev3, out3 = skip_at_sample(torch.tensor([[Y1, Y2, Y3, Y4, Y5, EOS]]), 3, BOS_K, PAD, EOS)
    assert prev3.tolist() == [[BOS_K, Y3]] and out3.tolist() == [[Y3, EOS]]
    assert strided_positions(prev3, PAD, 3).tolist() == [[2, 5]]  # positions 0 and 3


def test_skip_cmlm_sample_masks_all_but_every_kth_token_and_takes_loss_there_only():
    target = torch.tensor([[Y1, Y2, Y3, Y4, EOS], [Y1, Y2, EOS, PAD, PAD]])
    prev, out = skip_cmlm_sample(target, 2, B, MASK, PAD, EOS)
    assert prev.tolist() == [[B, MASK, Y2, MASK, Y4, MASK, EOS], [B, MASK, Y2, MASK, EOS, PAD, PAD]]
    assert out.tolist() == [[PAD, Y1, PAD, Y3, PAD, EOS, PAD], [PAD, Y1, PAD, EOS, PAD, PAD, PAD]]
    prev3, out3 = skip_cmlm_sample(torch.tensor([[Y1, Y2, Y3, Y4, EOS]]), 3, B, MASK, PAD, EOS)
    assert prev3.tolist() == [[B, MASK, MASK, Y3, MASK, MASK, EOS]]
    assert out3.tolist() == [[PAD, Y1, Y2, PAD, Y4, EOS, PAD]]


def test_cmlm_sample_masks_between_one_and_all_tokens_never_eos_or_padding():
    target = torch.tensor([[Y1, Y2, Y3, Y4, EOS], [Y1, EOS, PAD, PAD, PAD]])
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        prev, out = cmlm_sample(target, B, MASK, PAD, EOS, generator)
        masked = prev[:, 1:].eq(MASK)
        assert torch.equal(masked, out[:, 1:].ne(PAD))
        assert 1 <= int(masked[0].sum()) <= 4 and masked[1].tolist() == [True, False, False, False, False]
        assert torch.equal(prev[:, 1:][~masked], target[~masked])


@pytest.mark.parametrize("step,expected", [(0, 0), (50, 5), (100, 10), (150, 10)])
def test_curriculum_moves_the_batch_from_auxiliary_to_primary_tasks(step, expected):
    assert curriculum_split(10, step, 100) == expected
    assert curriculum_split(10, step, 100, enabled=False) == 10  # -CL: primary tasks only
    assert curriculum_split(7, 50, 100) == 3  # floor(7 * 0.5)


def tiny_hrt(layers=1):
    from fairseq.data import Dictionary
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    vocab = Dictionary()
    for word in "a b c d e f g h".split():
        vocab.add_symbol(word)

    class Task:
        source_dictionary = target_dictionary = vocab

    args = argparse.Namespace(encoder_layers=layers, decoder_layers=layers, encoder_embed_dim=16,
                              decoder_embed_dim=16, encoder_ffn_embed_dim=32, decoder_ffn_embed_dim=32,
                              encoder_attention_heads=2, decoder_attention_heads=2, share_all_embeddings=True,
                              max_source_positions=64, max_target_positions=64)
    ARCH_CONFIG_REGISTRY["hrt_transformer"](args)
    torch.manual_seed(0)
    return ARCH_MODEL_REGISTRY["hrt_transformer"].build_model(args, Task()).eval(), vocab


def test_hrt_has_exactly_the_parameters_of_the_at_transformer():
    """HRT fine-tunes from an AT checkpoint (FT): every parameter must have the AT's name and shape,
    and there must be no other (no length predictor, no extra embeddings)."""
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    model, vocab = tiny_hrt()

    class Task:
        source_dictionary = target_dictionary = vocab

    args = argparse.Namespace(encoder_layers=1, decoder_layers=1, encoder_embed_dim=16, decoder_embed_dim=16,
                              encoder_ffn_embed_dim=32, decoder_ffn_embed_dim=32, encoder_attention_heads=2,
                              decoder_attention_heads=2, share_all_embeddings=True, max_source_positions=64,
                              max_target_positions=64)
    ARCH_CONFIG_REGISTRY["transformer"](args)
    at = ARCH_MODEL_REGISTRY["transformer"].build_model(args, Task())
    ours = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    theirs = {k: tuple(v.shape) for k, v in at.state_dict().items()}
    assert ours == theirs
    model.load_state_dict(at.state_dict(), strict=True)  # an AT checkpoint loads as is


def test_nat_input_and_truncation():
    assert nat_input([Y2, Y4, EOS], 2, B, MASK) == [B, MASK, Y2, MASK, Y4, MASK, EOS]
    assert len(nat_input([Y2, EOS], 3, B, MASK)) == 1 + 3 * 2  # N_nat = k * N_at
    assert truncate_at_eos([Y1, Y2, EOS, EOS], EOS) == 3 and truncate_at_eos([Y1], EOS) == 1


def independent_eq3(model, vocab, src, src_len, tokens, k, z):
    """Eq. (3) recomputed from scratch: Skip-AT log-probs of z by forced decoding plus the
    Skip-CMLM log-probs of the chosen fills at every masked position."""
    enc = model.encoder(src, src_lengths=src_len)
    prev = torch.tensor([[vocab.bos()] + z[:-1]])
    lp = model.get_normalized_probs((model.decode(prev, enc, causal=True, stride=k), None), log_probs=True)[0]
    at = sum(float(lp[i, t]) for i, t in enumerate(z))
    # HRT §5.3 written out, not through the generator's nat_input: [B], then k-1 masks before each z_i
    y_nat = torch.tensor([[vocab.eos()] + [t for token in z for t in [vocab.unk()] * (k - 1) + [token]]])
    lp2 = model.get_normalized_probs((model.decode(y_nat, enc, causal=False), None), log_probs=True)[0]
    masked = [i for i in range(1, y_nat.size(1)) if int(y_nat[0, i]) == vocab.unk()]
    for index in (vocab.pad(), vocab.bos(), vocab.unk()):
        lp2[:, index] = -math.inf
    filled = y_nat[0].tolist()
    for i in masked:
        filled[i] = int(lp2[i].argmax())
    return at + sum(float(lp2[i, filled[i]]) for i in masked), filled[1:]


@pytest.mark.parametrize("k,b_at,b_nat", [(2, 1, 1), (2, 3, 2), (3, 4, 1)])
def test_decoding_reproduces_eq3_scores_and_truncates_at_the_first_eos(k, b_at, b_nat):
    model, vocab = tiny_hrt()
    src = torch.tensor([[vocab.index("a"), vocab.index("b"), vocab.index("c"), vocab.eos()],
                        [vocab.pad(), vocab.index("d"), vocab.index("e"), vocab.eos()]])
    src_len = torch.tensor([4, 3])
    sample = {"net_input": {"src_tokens": src, "src_lengths": src_len}}
    generator = HRTGenerator(model, vocab, k=k, b_at=b_at, b_nat=b_nat, max_len_a=0, max_len_b=12)
    with model.skip_mode(k):
        skip = generator.search.generate([model], sample, bos_token=vocab.bos())
    hypos = generator.generate([model], sample)
    for row, (candidates, skip_hypos) in enumerate(zip(hypos, skip)):
        assert len(candidates) == b_nat  # only the top b_nat Skip-AT hypotheses reach Skip-CMLM
        row_src = src[row:row + 1][:, (src[row] != vocab.pad()).nonzero().min():]
        expected = []
        for hypo in skip_hypos[:b_nat]:
            z = hypo["tokens"].tolist()
            score, filled = independent_eq3(model, vocab, row_src, src_len[row:row + 1], None, k, z)
            assert len(filled) == k * len(z)
            expected.append((score, filled[:truncate_at_eos(filled, vocab.eos())]))
        expected.sort(key=lambda e: -e[0])
        for got, (score, tokens) in zip(candidates, expected):
            assert got["score"] == pytest.approx(score, abs=1e-4)
            assert got["tokens"].tolist() == tokens and got["tokens"].tolist().count(vocab.eos()) <= 1
            assert len(got["positional_scores"]) == len(tokens)


def test_b_nat_larger_than_b_at_is_refused():
    model, vocab = tiny_hrt()
    with pytest.raises(ValueError, match="b_at >= b_nat"):
        HRTGenerator(model, vocab, k=2, b_at=1, b_nat=2)


def test_primary_rows_are_a_random_curriculum_share_of_the_batch():
    """Alg. 1 draws the primary sentences at random: fairseq sorts a batch by source length, so
    the first rows would always be the longest ones."""
    from natpipe.systems.hrt.criterion import primary_rows

    counts = torch.zeros(8)
    for seed in range(400):
        chosen, rest = primary_rows(8, 3, torch.Generator().manual_seed(seed))
        assert len(chosen) == 3 and sorted(chosen.tolist() + rest.tolist()) == list(range(8))
        counts[chosen] += 1
        again, _ = primary_rows(8, 3, torch.Generator().manual_seed(seed))
        assert again.tolist() == chosen.tolist()  # reproducible from the seed and the update
    assert ((counts / 400 - 3 / 8).abs() < 0.1).all(), counts  # every row as often, ~p_k of the time
    assert primary_rows(5, 0, torch.Generator())[0].numel() == 0 and primary_rows(5, 5, torch.Generator())[1].numel() == 0


def test_criterion_sums_the_four_task_losses_over_the_curriculum_split(monkeypatch):
    """At t = T/2 half of the batch (here rows 0-1) builds SKIP-AT + SKIP-CMLM, the rest AT + CMLM;
    the loss equals cross-entropies computed here from hand-built decoder inputs."""
    import torch.nn.functional as F

    import natpipe.systems.hrt.criterion as criterion
    from natpipe.systems.hrt.criterion import HRTLoss

    monkeypatch.setattr(criterion, "primary_rows", lambda n, k, generator: (torch.arange(k), torch.arange(k, n)))

    model, vocab = tiny_hrt()
    a, b, c, d = (vocab.index(w) for w in "a b c d".split())
    eos, pad, bos_k, unk = vocab.eos(), vocab.pad(), vocab.bos(), vocab.unk()

    class Task:
        target_dictionary = vocab

        class cfg:
            chunk_size = 2

    loss_fn = HRTLoss(Task(), label_smoothing=0.0, curriculum_lambda=1.0, curriculum_steps=10, max_update=99,
                      no_curriculum=False, seed=3)
    model.num_updates = 5  # p_k = 0.5: sentences 0-1 primary, 2-3 auxiliary
    target = torch.tensor([[a, b, c, eos], [d, a, eos, pad], [b, c, d, eos], [c, eos, pad, pad]])
    prev = torch.tensor([[eos, a, b, c], [eos, d, a, pad], [eos, b, c, d], [eos, c, pad, pad]])
    src = torch.tensor([[a, b, eos], [c, d, eos], [pad, d, eos], [pad, a, eos]])
    sample = {"net_input": {"src_tokens": src, "src_lengths": torch.tensor([3, 3, 2, 2]), "prev_output_tokens": prev},
              "target": target, "ntokens": 11}
    tasks, rows = loss_fn.task_samples(sample, 5)
    assert rows["primary"].tolist() == [0, 1] and set(tasks) == {"skip_at", "skip_cmlm", "at", "cmlm"}
    loss, size, log = loss_fn(model, sample)

    def ce(rows, dec_in, out, causal, stride):
        enc = model.encoder(src[rows], src_lengths=torch.tensor([3, 3, 2, 2])[rows])
        logits = model.decode(dec_in, enc, causal=causal, stride=stride)
        lp = torch.log_softmax(logits.float(), -1)
        return F.nll_loss(lp.view(-1, lp.size(-1)), out.view(-1), ignore_index=pad, reduction="sum"), int(out.ne(pad).sum())

    primary, auxiliary = slice(0, 2), slice(2, 4)
    # y = a b c </s> -> a b c </s> (k=2: already a multiple); y = d a </s> -> d a </s> </s>
    skip_at = ce(primary, torch.tensor([[bos_k, b], [bos_k, a]]), torch.tensor([[b, eos], [a, eos]]), True, 2)
    skip_cmlm = ce(primary, torch.tensor([[eos, unk, b, unk, eos], [eos, unk, a, unk, eos]]),
                   torch.tensor([[pad, a, pad, c, pad], [pad, d, pad, eos, pad]]), False, 1)
    at = ce(auxiliary, prev[2:], target[2:], True, 1)
    cmlm_in, cmlm_out, _, _ = tasks["cmlm"]
    cmlm = ce(auxiliary, cmlm_in, cmlm_out, False, 1)
    expected = sum(x[0] for x in (skip_at, skip_cmlm, at, cmlm))
    assert float(loss) == pytest.approx(float(expected), rel=1e-5)
    assert size == sum(x[1] for x in (skip_at, skip_cmlm, at, cmlm)) and log["n_primary"] == 2


def test_the_swap_model_follows_the_system_to_another_device():
    """Table 7's second model is moved with the system (torch's meta device plays the GPU)."""
    from test_fully_nat import modules_reachable_from

    from natpipe.systems.hrt.generator import HRTGenerator
    from natpipe.decoding.systems import LoadedSystem

    (model, vocab), (swap, _) = tiny_hrt(), tiny_hrt(layers=2)
    generator = HRTGenerator(model, vocab, k=2, b_at=2, b_nat=1, skip_cmlm_model=swap)
    LoadedSystem(task=None, models=[model], generator=generator, subset="test").to("meta")
    modules = modules_reachable_from(generator)
    assert any(m is swap for m in modules)
    for module in modules:
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            assert tensor.device.type == "meta", name
