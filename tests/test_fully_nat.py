"""Fully NAT (Gu & Kong 2021): the criterion's loss against losses computed here from the model's
own outputs (CTC via torch, CE by hand, KL via torch.distributions), glancing, and the generator's
greedy / NPD choices against independent computations."""
import argparse
import math

import pytest
import torch
import torch.nn.functional as F

import natpipe.plugin  # noqa: F401
import natpipe.systems.fully_nat.criterion as fully_nat_criterion
from natpipe.blocks.ctc import collapse
from natpipe.blocks.glancing import glance_counts, glance_mask, levenshtein
from natpipe.systems.fully_nat.criterion import FullyNATLoss, targets_without_eos
from natpipe.blocks.teacher_scoring import teacher_scores
from natpipe.systems.fully_nat.generator import FullyNATGenerator


def vocabulary():
    from fairseq.data import Dictionary

    vocab = Dictionary()
    for word in "a b c d e f g h".split():
        vocab.add_symbol(word)
    return vocab


VOCAB = vocabulary()


class Task:
    source_dictionary = target_dictionary = VOCAB


def tiny(arch="fully_nat_transformer", seed=0, **extra):
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    args = argparse.Namespace(encoder_layers=1, decoder_layers=1, encoder_embed_dim=16, decoder_embed_dim=16,
                              encoder_ffn_embed_dim=32, decoder_ffn_embed_dim=32, encoder_attention_heads=2,
                              decoder_attention_heads=2, share_all_embeddings=True, max_source_positions=64,
                              max_target_positions=64, dropout=0.0, latent_alignment="ctc", upsample_ratio=3.0,
                              softcopy_tau=1.0, latent_dim=0, posterior_layers=1, max_predicted_length=32)
    for key, value in extra.items():
        setattr(args, key, value)
    ARCH_CONFIG_REGISTRY[arch](args)
    torch.manual_seed(seed)
    return ARCH_MODEL_REGISTRY[arch].build_model(args, Task()).eval()


def criterion(**overrides):
    settings = dict(label_smoothing=0.0, glancing="none", glance_f_ratio=0.5, free_bits=0.0,
                    free_bits_anneal_updates=0, length_loss_factor=0.1, seed=1, max_update=100)
    settings.update(overrides)
    return FullyNATLoss(Task(), **settings)


a, b, c, d = (VOCAB.index(w) for w in "a b c d".split())
EOS, PAD = VOCAB.eos(), VOCAB.pad()
SRC = torch.tensor([[a, b, c, EOS], [PAD, d, a, EOS]])
SAMPLE = {"id": torch.tensor([0, 1]), "net_input": {"src_tokens": SRC, "src_lengths": torch.tensor([4, 3])},
          "target": torch.tensor([[b, b, c, EOS], [a, EOS, PAD, PAD]]), "ntokens": 4}


def test_targets_drop_eos_and_padding():
    tokens, mask, lengths = targets_without_eos(SAMPLE["target"], PAD, EOS)
    assert lengths.tolist() == [3, 1] and mask.tolist() == [[True, True, True], [True, False, False]]
    assert tokens.tolist() == [[b, b, c], [a, PAD, PAD]]


def test_ctc_vae_loss_is_ctc_nll_plus_kl_to_the_prior():
    """Eval mode: z is the posterior mean, no free-bits budget; loss = sum CTC NLL + sum KL."""
    model = tiny(latent_dim=4)
    loss, size, log = criterion()(model, SAMPLE)
    tokens, tgt_mask, lengths = targets_without_eos(SAMPLE["target"], PAD, EOS)
    enc = model.encode(SRC, SAMPLE["net_input"]["src_lengths"])
    mu_p, logvar_p = model.prior(enc)
    mu_q, logvar_q = model.posterior_stats(SRC, tokens)
    src_mask = SRC.ne(PAD)
    q = torch.distributions.Normal(mu_q, (0.5 * logvar_q).exp())
    p = torch.distributions.Normal(mu_p, (0.5 * logvar_p).exp())
    kl = (torch.distributions.kl_divergence(q, p).sum(-1) * src_mask).sum()
    enc_z = model.with_latent(enc, mu_q)
    dec_lengths = model.decoder_lengths(enc_z)
    assert dec_lengths.tolist() == [12, 9]  # lambda = 3 x source length (</s> included)
    inputs, dec_mask = model.decoder_inputs(enc_z, dec_lengths)
    lprobs = F.log_softmax(model.decode(inputs, dec_mask, enc_z).float(), -1)
    nll = F.ctc_loss(lprobs.transpose(0, 1), tokens.clamp(min=0), dec_lengths, lengths, blank=VOCAB.bos(),
                     reduction="sum", zero_infinity=True)
    assert float(loss) == pytest.approx(float(nll + kl), rel=1e-5)
    assert size == 4 and log["kl"] == pytest.approx(float(kl), rel=1e-5)


def test_free_bits_hold_the_kl_term_at_the_budget_in_training():
    model = tiny(latent_dim=4)
    model.train()
    _, _, log = criterion(free_bits=50.0, free_bits_anneal_updates=10)(model, SAMPLE)
    real_positions = int(SRC.ne(PAD).sum())
    assert log["kl"] < 50.0 * real_positions and log["kl_term"] == pytest.approx(50.0 * real_positions)


def test_ce_loss_uses_the_golden_length_and_trains_the_length_predictor():
    model = tiny(latent_alignment="none")
    loss, _, log = criterion()(model, SAMPLE)
    tokens, tgt_mask, lengths = targets_without_eos(SAMPLE["target"], PAD, EOS)
    enc = model.encode(SRC, SAMPLE["net_input"]["src_lengths"])
    inputs, dec_mask = model.decoder_inputs(enc, lengths)
    assert dec_mask.tolist() == tgt_mask.tolist()
    lprobs = F.log_softmax(model.decode(inputs, dec_mask, enc).float(), -1)
    nll = -sum(float(lprobs[i, j, tokens[i, j]]) for i in range(2) for j in range(int(lengths[i])))
    length = F.cross_entropy(model.length_logits(enc), lengths, reduction="sum")
    assert float(loss) == pytest.approx(nll + 0.1 * float(length), rel=1e-5)
    assert log["length_loss"] == pytest.approx(float(length), rel=1e-5)


def test_label_smoothing_mixes_in_the_uniform_term_over_decoder_positions():
    model = tiny()
    plain, _, _ = criterion()(model, SAMPLE)
    smoothed, _, _ = criterion(label_smoothing=0.1)(model, SAMPLE)
    enc = model.encode(SRC, SAMPLE["net_input"]["src_lengths"])
    inputs, dec_mask = model.decoder_inputs(enc, model.decoder_lengths(enc))
    lprobs = F.log_softmax(model.decode(inputs, dec_mask, enc).float(), -1)
    uniform = -float((lprobs.mean(-1) * dec_mask).sum())
    assert float(smoothed) == pytest.approx(0.9 * float(plain) + 0.1 * uniform, rel=1e-5)


@pytest.mark.parametrize("alignment", ["ctc", "none"])
def test_glat_with_a_huge_ratio_glances_at_every_position_rnd_at_some(alignment):
    model = tiny(latent_alignment=alignment)
    model.train()
    tokens, tgt_mask, lengths = targets_without_eos(SAMPLE["target"], PAD, EOS)
    enc = model.encode(SRC, SAMPLE["net_input"]["src_lengths"])
    dec_lengths = model.decoder_lengths(enc, lengths)
    inputs, dec_mask = model.decoder_inputs(enc, dec_lengths)
    logits = model.decode(inputs, dec_mask, enc)  # dropout 0: the criterion's first pass
    argmax = logits.argmax(-1)
    positions = int(dec_lengths.sum())
    assert positions == (21 if alignment == "ctc" else 4)
    if alignment == "ctc":  # the target-carrying frames of the best alignment, and their Hamming distance
        from natpipe.blocks.ctc import viterbi_align

        aligned, _ = viterbi_align(torch.log_softmax(logits.float(), -1), dec_mask, tokens, tgt_mask, model.blank)
        targets = [[t for t in range(int(dec_lengths[i])) if int(aligned[i, t]) != model.blank] for i in range(2)]
        wrong = [any(int(argmax[i, t]) != int(aligned[i, t]) for t in targets[i]) for i in range(2)]
        revealable = [len(frames) for frames in targets]
    else:
        wrong = [model.output_tokens(argmax[i, :int(dec_lengths[i])].tolist()) != tokens[i, :int(lengths[i])].tolist()
                 for i in range(2)]
        revealable = [int(n) for n in dec_lengths]
    _, _, log = criterion(glancing="glat", glance_f_ratio=1000.0)(model, SAMPLE)
    # D > 0: Poisson(1000 D) is clamped to what can be revealed; D = 0 glances at nothing
    assert log["glanced"] == sum(n for n, w in zip(revealable, wrong) if w) and any(wrong)
    counts = {criterion(glancing="rnd", seed=seed)(model, SAMPLE)[2]["glanced"] for seed in range(12)}
    assert len(counts) > 1 and all(0 <= n <= positions for n in counts)
    model.eval()  # no glancing at evaluation
    assert "glanced" not in criterion(glancing="glat")(model, SAMPLE)[2]


def random_sample(sentences, seed):
    """Left-padded sources and right-padded targets of varied lengths (1-7 words) over a-h."""
    gen = torch.Generator().manual_seed(seed)
    words = torch.arange(VOCAB.nspecial, len(VOCAB))
    src_lengths = torch.randint(1, 8, (sentences,), generator=gen)
    tgt_lengths = torch.randint(1, 8, (sentences,), generator=gen)
    src = torch.full((sentences, int(src_lengths.max()) + 1), PAD)
    tgt = torch.full((sentences, int(tgt_lengths.max()) + 1), PAD)
    for i, (n, m) in enumerate(zip(src_lengths.tolist(), tgt_lengths.tolist())):
        src[i, src.size(1) - n - 1:] = torch.cat([words[torch.randint(len(words), (n,), generator=gen)],
                                                  torch.tensor([EOS])])
        tgt[i, :m + 1] = torch.cat([words[torch.randint(len(words), (m,), generator=gen)], torch.tensor([EOS])])
    return {"net_input": {"src_tokens": src, "src_lengths": src_lengths + 1}, "target": tgt,
            "ntokens": int(tgt_lengths.sum())}


def test_glance_distances_are_the_per_sentence_edit_distances(monkeypatch):
    """AXE: the batched read-off + edit distance give each sentence's Levenshtein distance between
    its output (Python read-off) and its target, so the same seed draws the same glancing masks."""
    alignment = "axe"
    model = tiny(latent_alignment=alignment, seed=4)
    sample = random_sample(16, seed=5)
    tokens, tgt_mask, tgt_lengths = targets_without_eos(sample["target"], PAD, EOS)
    enc = model.encode(sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"])
    dec_lengths = model.decoder_lengths(enc, tgt_lengths)
    inputs, dec_mask = model.decoder_inputs(enc, dec_lengths)
    argmax = model.decode(inputs, dec_mask, enc).argmax(-1)
    expected = [levenshtein(model.output_tokens(argmax[i, :int(dec_lengths[i])].tolist()),
                            tokens[i, :int(tgt_lengths[i])].tolist()) for i in range(16)]
    assert len(set(expected)) > 2  # a varied batch, not all-equal distances

    seen = {}

    def spy(distances, lengths, *args):
        seen["distances"] = distances
        return glance_counts(distances, lengths, *args)

    monkeypatch.setattr(fully_nat_criterion, "glance_counts", spy)
    _, mask = criterion(glancing="glat").glance(model, enc, inputs, dec_mask, tokens, tgt_mask,
                                                torch.Generator().manual_seed(9))
    assert seen["distances"].tolist() == expected
    gen = torch.Generator().manual_seed(9)
    counts = glance_counts(torch.tensor(expected), dec_lengths, 0.5, "glat", gen)
    assert torch.equal(mask, glance_mask(dec_mask, counts, gen))


@pytest.mark.parametrize("mode", ["glat", "rnd"])
def test_ctc_glancing_counts_and_reveals_target_tokens_not_blank_frames(mode, monkeypatch):
    """§3.4 with CTC: the distance is the Hamming distance between the best alignment's target
    tokens and the prediction at those frames, RND draws its count from U{0..|y|}, and only frames
    the alignment gives a target token are revealed (the decoder is λ|x| long, mostly blank)."""
    from natpipe.blocks.ctc import viterbi_align

    model = tiny(latent_alignment="ctc", seed=4)
    sample = random_sample(16, seed=5)
    tokens, tgt_mask, tgt_lengths = targets_without_eos(sample["target"], PAD, EOS)
    enc = model.encode(sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"])
    dec_lengths = model.decoder_lengths(enc, tgt_lengths)
    inputs, dec_mask = model.decoder_inputs(enc, dec_lengths)
    lprobs = torch.log_softmax(model.decode(inputs, dec_mask, enc).float(), -1)
    aligned, _ = viterbi_align(lprobs, dec_mask, tokens, tgt_mask, model.blank)
    argmax = lprobs.argmax(-1)
    expected = [sum(1 for t in range(int(dec_lengths[i])) if int(aligned[i, t]) != model.blank
                    and int(argmax[i, t]) != int(aligned[i, t])) for i in range(16)]
    seen = {}

    def spy(distances, lengths, *args):
        seen["distances"], seen["lengths"] = distances, lengths
        return glance_counts(distances, lengths, *args)

    monkeypatch.setattr(fully_nat_criterion, "glance_counts", spy)
    reference, mask = criterion(glancing=mode, glance_f_ratio=5.0).glance(model, enc, inputs, dec_mask, tokens, tgt_mask,
                                                                          torch.Generator().manual_seed(9))
    assert torch.equal(reference, aligned)
    assert seen["lengths"].tolist() == tgt_lengths.tolist()  # counts are of target tokens, at most |y|
    if mode == "glat":
        assert seen["distances"].tolist() == expected and max(expected) > 0
    assert mask.any() and not (mask & aligned.eq(model.blank)).any() and not (mask & ~dec_mask).any()
    for i in range(16):  # whole tokens: every frame of a revealed token, and at most |y| tokens
        runs, revealed = [], []
        for t in range(int(dec_lengths[i])):
            label = int(aligned[i, t])
            if label == model.blank:
                continue
            if not runs or runs[-1][1] != t - 1 or int(aligned[i, t - 1]) != label:
                runs.append([t, t])
            else:
                runs[-1][1] = t
        assert len(runs) == int(tgt_lengths[i])
        for first, last in runs:
            states = {bool(mask[i, t]) for t in range(first, last + 1)}
            assert len(states) == 1
            revealed += list(states)
        assert sum(revealed) <= int(tgt_lengths[i])


def test_axe_model_trains_and_decodes_without_blanks():
    model = tiny(latent_alignment="axe")
    loss, _, _ = criterion()(model, SAMPLE)
    loss.backward()
    assert torch.isfinite(loss)
    assert model.output_tokens([VOCAB.bos(), a, a, VOCAB.bos(), b]) == [a, a, b]
    assert tiny().output_tokens([VOCAB.bos(), a, a, VOCAB.bos(), a, b]) == [a, a, b]


def test_greedy_generation_is_argmax_then_collapse():
    model = tiny()
    hypos = FullyNATGenerator(model, VOCAB).generate([model], SAMPLE)
    enc = model.encode(SRC, SAMPLE["net_input"]["src_lengths"])
    lengths = model.decoder_lengths(enc)
    inputs, dec_mask = model.decoder_inputs(enc, lengths)
    logits = model.decode(inputs, dec_mask, enc)
    logits[:, :, [EOS, PAD]] = -math.inf  # never outputs
    argmax = logits.argmax(-1)
    for row in range(2):
        expected = collapse(argmax[row, :int(lengths[row])].tolist(), VOCAB.bos())
        assert hypos[row][0]["tokens"].tolist() == expected + [EOS]


def test_npd_picks_the_candidate_the_teacher_scores_best():
    model = tiny(latent_dim=4, seed=1)
    teacher = tiny(arch="transformer", seed=2)
    generator = FullyNATGenerator(model, VOCAB, npd_samples=4, npd_temperature=5.0, teacher=teacher)
    chosen = [h[0]["tokens"].tolist()[:-1] for h in generator.generate([model], SAMPLE)]
    lprobs, mask = generator.log_probs(SAMPLE)
    candidates = [tokens for tokens, _ in generator.read_off(lprobs, mask)]  # row c * 2 + i
    for i in range(2):
        mine = candidates[i::2]
        scores = []
        for cand in mine:  # teacher log p(y </s> | x), computed one sentence at a time
            prev = torch.tensor([[EOS] + cand])
            logits, _ = teacher(SRC[i:i + 1], SAMPLE["net_input"]["src_lengths"][i:i + 1], prev)
            lp = F.log_softmax(logits.float(), -1)[0]
            scores.append(float(sum(lp[t, tok] for t, tok in enumerate(cand + [EOS]))))
        assert chosen[i] == mine[max(range(len(mine)), key=lambda j: scores[j])]
        assert mine[0] == FullyNATGenerator(model, VOCAB).generate([model], SAMPLE)[i][0]["tokens"].tolist()[:-1]
    alone = {"id": torch.tensor([1]), "net_input": {"src_tokens": SRC[1:, 1:], "src_lengths": torch.tensor([3])},
             "target": SAMPLE["target"][1:, :2], "ntokens": 1}
    assert generator.generate([model], alone)[0][0]["tokens"].tolist()[:-1] == chosen[1]  # batch-independent noise
    batch = teacher_scores(teacher, SRC, SAMPLE["net_input"]["src_lengths"], [candidates[0], candidates[1]], PAD, EOS)
    assert torch.isfinite(batch).all() and not math.isnan(float(batch.sum()))


def test_decoding_options_the_model_cannot_run_are_refused():
    with pytest.raises(ValueError, match="CTC"):
        FullyNATGenerator(tiny(latent_alignment="none"), VOCAB, beam=5)
    with pytest.raises(ValueError, match="VAE"):
        FullyNATGenerator(tiny(), VOCAB, npd_samples=3, teacher=tiny(arch="transformer"))


def modules_reachable_from(obj, seen=None) -> list[torch.nn.Module]:
    """Every nn.Module a generator holds in its attributes (lists and dicts followed), found
    independently of what the generator declares as its auxiliary models."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return []
    seen.add(id(obj))
    if isinstance(obj, torch.nn.Module):
        return [obj]
    children = obj.values() if isinstance(obj, dict) else obj if isinstance(obj, (list, tuple)) else \
        vars(obj).values() if hasattr(obj, "__dict__") and not isinstance(obj, type) else []
    return [m for child in children for m in modules_reachable_from(child, seen)]


def test_every_model_an_npd_system_uses_follows_it_to_another_device():
    """GPU regression (NPD rows crashed the speed job: the teacher stayed on the CPU while the
    system moved). torch's meta device plays the GPU: after LoadedSystem.to, every parameter and
    buffer of every module the generator holds is there."""
    from natpipe.decoding.systems import LoadedSystem

    model, teacher = tiny(latent_dim=4), tiny(arch="transformer", seed=2)
    generator = FullyNATGenerator(model, VOCAB, npd_samples=3, teacher=teacher)
    LoadedSystem(task=None, models=[model], generator=generator, subset="test").to("meta")
    modules = modules_reachable_from(generator)
    assert any(m is teacher for m in modules) and any(m is model for m in modules)
    for module in modules:
        for name, tensor in [*module.named_parameters(), *module.named_buffers()]:
            assert tensor.device.type == "meta", name
