"""XLM-D (Wang et al. 2022): the latent transformation against a direct double loop, add & scale
against Eq. (4) from the embedding tables, constrained CTC against brute-force enumeration of
alignments, block masking, iterative block decoding, and XLM-R's 512-position cap."""
import argparse
import itertools
import math

import pytest
import torch
import torch.nn.functional as F

import natpipe.plugin  # noqa: F401
from natpipe.blocks.ctc import collapse
from natpipe.systems.xlmd.criterion import XLMDLoss
from natpipe.systems.xlmd.decorator import (XLMR_POSITIONS, block_size, constrained_ctc_loss, decorated_lengths,
                                            latent_weights, lowest_in_blocks, remask_counts, training_mask)
from natpipe.systems.xlmd.generator import XLMDGenerator


def vocabulary():
    from fairseq.data import Dictionary

    vocab = Dictionary()
    for word in "a b c d e f g h <mask>".split():
        vocab.add_symbol(word)
    return vocab


VOCAB = vocabulary()
PAD, EOS, BOS = VOCAB.pad(), VOCAB.eos(), VOCAB.bos()
a, b, c, d = (VOCAB.index(w) for w in "a b c d".split())


class Task:
    source_dictionary = target_dictionary = VOCAB


def tiny(seed=0, layers=2, decorator_layer=1, add_and_scale=True, ratio=2.0, sigma=1.0):
    from fairseq.models import ARCH_MODEL_REGISTRY

    args = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=16, encoder_ffn_embed_dim=32,
                              encoder_attention_heads=2, dropout=0.0, attention_dropout=0.0,
                              decorator_layer=decorator_layer, upsample_ratio=ratio, decorator_scale=0.5,
                              sigma_init=sigma, no_add_and_scale=not add_and_scale)
    torch.manual_seed(seed)
    return ARCH_MODEL_REGISTRY["xlmd_base"].build_model(args, Task()).eval()


SRC = torch.tensor([[PAD, a, b, EOS], [c, d, a, EOS]])  # left-padded, as fairseq's sources
SAMPLE = {"id": torch.tensor([0, 1]), "net_input": {"src_tokens": SRC, "src_lengths": torch.tensor([3, 4])},
          "target": torch.tensor([[b, a, EOS, PAD], [a, a, c, EOS]]), "ntokens": 5}


# the decorator ---------------------------------------------------------------------------------


def test_latent_weights_match_the_papers_formula_one_entry_at_a_time():
    """w_ji = exp(-(i - j I/J)^2 / 2 sigma^2) / sum_i', 1-based, in float64; either padding side."""
    sigma = 0.7
    src_mask = torch.tensor([[False, True, True, True], [True, True, True, True], [True, True, False, False]])
    lengths = torch.tensor([6, 7, 3])
    weights = latent_weights(src_mask, lengths, torch.tensor(sigma))
    for row in range(3):
        real = [col for col in range(4) if src_mask[row, col]]
        big_i, big_j = len(real), int(lengths[row])
        for j in range(1, weights.size(1) + 1):
            if j > big_j:
                assert weights[row, j - 1].abs().sum() == 0
                continue
            raw = [math.exp(-((i - big_i / big_j * j) ** 2) / (2 * sigma ** 2)) for i in range(1, big_i + 1)]
            for i, col in enumerate(real):
                assert weights[row, j - 1, col].item() == pytest.approx(raw[i] / sum(raw), abs=1e-6)
            assert all(weights[row, j - 1, col] == 0 for col in range(4) if col not in real)


def test_sigma_is_the_only_new_parameter_and_it_learns():
    model = tiny()
    xlmr = {k for k, _ in model.named_parameters() if k.startswith("encoder.")}
    assert {k for k, _ in model.named_parameters()} - xlmr == {"sigma"}
    loss, _, _ = XLMDLoss(Task(), mask_block=2, seed=1)(model, SAMPLE)
    loss.backward()
    assert model.sigma.grad is not None and model.sigma.grad.abs() > 0


def test_add_and_scale_is_eq4_from_the_embedding_tables():
    model = tiny()
    latent = torch.randn(2, 5, 16)
    mask = torch.tensor([[True] * 5, [True] * 3 + [False] * 2])
    alignment = torch.tensor([[a, b, b, BOS, c], [d, d, a, 0, 0]])
    out = model.decorator_input(latent, mask, alignment)
    words = model.encoder.sentence_encoder.embed_tokens.weight
    positions = model.encoder.sentence_encoder.embed_positions.weight
    for row in range(2):
        for j in range(5):
            if not mask[row, j]:
                assert out[row, j].abs().sum() == 0
                continue
            # XLM-R's positions start after the padding index: the j-th real token reads row pad + 1 + j
            expected = (latent[row, j] + words[alignment[row, j]]) * 0.5 + positions[PAD + 1 + j]
            torch.testing.assert_close(out[row, j], expected)
    lt_only = tiny(add_and_scale=False)
    torch.testing.assert_close(lt_only.decorator_input(latent, mask, alignment), latent)


def test_the_encoder_reads_bos_x_eos_right_padded_within_512_positions():
    model = tiny()
    assert model.xlmr_input(SRC).tolist() == [[BOS, a, b, EOS, PAD], [BOS, c, d, a, EOS]]
    long = torch.tensor([[a] * 600 + [EOS], [PAD] * 591 + [b] * 9 + [EOS]])
    tokens = model.xlmr_input(long)
    assert tokens.size(1) == XLMR_POSITIONS and model.truncated == 1
    assert tokens[0].tolist() == [BOS] + [a] * 510 + [EOS]
    assert tokens[1, :11].tolist() == [BOS] + [b] * 9 + [EOS] and set(tokens[1, 11:].tolist()) == {PAD}
    assert decorated_lengths(torch.tensor([3, 255, 256, 257, 512]), 2.0).tolist() == [6, 510, 512, 512, 512]
    states, mask = model.source_states(long)  # the whole model runs on the longest source
    latent, out_mask = model.latent(states, mask)
    assert out_mask.sum(1).tolist() == [512, 22]
    assert model.upper(model.decorator_input(latent, out_mask, model.all_masked(out_mask)), out_mask).size(1) == 512


# constrained CTC -------------------------------------------------------------------------------


def brute_force(lprobs, target, keep, alignment, blank):
    """-log of the sum over every length-J sequence that collapses to `target` and agrees with
    `alignment` at the kept positions, of the product of its masked positions' probabilities (the
    kept positions are given, not predicted)."""
    length, vocab = lprobs.shape
    total = 0.0
    for path in itertools.product(range(vocab), repeat=length):
        if collapse(list(path), blank) != target:
            continue
        if any(keep[j] and path[j] != alignment[j] for j in range(length)):
            continue
        total += math.exp(sum(lprobs[j, path[j]].item() for j in range(length) if not keep[j]))
    return -math.log(total)


def test_constrained_ctc_against_enumeration_and_plain_ctc_when_all_masked():
    torch.manual_seed(0)
    blank, vocab, length = 0, 4, 5
    lprobs = F.log_softmax(torch.randn(2, length, vocab, dtype=torch.float64), -1)
    mask = torch.tensor([[True] * 5, [True] * 4 + [False]])
    targets = torch.tensor([[1, 2, 2], [3, 1, 0]])
    tgt_mask = torch.tensor([[True, True, True], [True, True, False]])
    alignment = torch.tensor([[1, 0, 2, 0, 2], [3, 3, 1, 0, 0]])  # each in Gamma(y)
    for keep in ([[True, False, False, True, False], [False, True, False, False, False]],
                 [[False, False, True, False, True], [True, False, True, True, False]]):
        keep = torch.tensor(keep)
        ours = constrained_ctc_loss(lprobs, mask, alignment, keep, targets, tgt_mask, blank)
        for row in range(2):
            n = int(mask[row].sum())
            expected = brute_force(lprobs[row, :n], targets[row][tgt_mask[row]].tolist(), keep[row, :n].tolist(),
                                   alignment[row, :n].tolist(), blank)
            assert ours[row].item() == pytest.approx(expected, rel=1e-4)
    nothing_kept = torch.zeros(2, length, dtype=torch.bool)
    plain = F.ctc_loss(lprobs.float().transpose(0, 1), targets, mask.sum(1), tgt_mask.sum(1), blank=blank, reduction="none")
    torch.testing.assert_close(constrained_ctc_loss(lprobs, mask, alignment, nothing_kept, targets, tgt_mask, blank), plain)


def test_kept_positions_get_no_gradient():
    logits = torch.randn(1, 5, 4, requires_grad=True)
    keep = torch.tensor([[True, False, True, False, False]])
    loss = constrained_ctc_loss(F.log_softmax(logits, -1), torch.ones(1, 5, dtype=torch.bool),
                                torch.tensor([[1, 0, 2, 0, 2]]), keep, torch.tensor([[1, 2, 2]]),
                                torch.ones(1, 3, dtype=torch.bool), 0)
    loss.sum().backward()
    assert logits.grad[0, [0, 2]].abs().sum() == 0 and logits.grad[0, [1, 3, 4]].abs().sum() > 0


# block masking and iterative decoding ------------------------------------------------------------


def test_training_mask_hides_one_to_all_positions_of_every_block_uniformly_at_one_share_per_sentence():
    """k ~ U{1..n} in every block; the blocks of a sentence share the share u (full blocks the same
    k, a shorter one no more), so a sentence is wholly masked one time in `block`."""
    mask = torch.tensor([[True] * 11 + [False] * 2, [True] * 13])
    counts = {n: torch.zeros(n + 1) for n in (4, 3, 1)}
    wholly = 0
    generator = torch.Generator().manual_seed(0)
    for _ in range(3000):
        masked = training_mask(mask, 4, generator)
        assert not (masked & ~mask).any()
        for row, blocks in ((0, [(0, 4), (4, 8), (8, 11)]), (1, [(0, 4), (4, 8), (8, 12), (12, 13)])):
            ks = []
            for start, end in blocks:
                k = int(masked[row, start:end].sum())
                assert 1 <= k <= end - start
                counts[end - start][k] += 1
                ks.append(k)
            full = [k for k, (start, end) in zip(ks, blocks) if end - start == 4]
            assert len(set(full)) == 1 and all(k <= full[0] for k in ks), (row, ks)
        wholly += bool(masked[1].all())
    for n, seen in counts.items():  # k ~ U{1..n}
        share = seen[1:] / seen.sum()
        assert torch.allclose(share, torch.full((n,), 1 / n), atol=0.03), (n, share)
    assert wholly / 3000 == pytest.approx(1 / 4, abs=0.03)
    again = training_mask(mask, 4, torch.Generator().manual_seed(5))
    assert torch.equal(again, training_mask(mask, 4, torch.Generator().manual_seed(5)))


def test_lowest_in_blocks_and_remask_counts():
    scores = torch.tensor([[0.5, 0.1, 0.9, 0.3, 0.2, 0.8, 0.7]])
    mask = torch.tensor([[True] * 6 + [False]])
    counts = remask_counts(mask, 4, 1, 2)  # blocks of 4 and 2 real positions: floor(n/2) each
    assert counts.tolist() == [[2, 2, 2, 2, 1, 1, 0]]
    assert lowest_in_blocks(scores, mask, 4, counts).tolist() == [[False, True, False, True, True, False, False]]
    assert block_size("dynamic", 4) == 4 and block_size(8, 4) == 8


class Recorder(XLMDGenerator):
    """Keeps the input alignment of every step."""

    def predict(self, latent, mask, alignment):
        self.seen.append(alignment.clone())
        return super().predict(latent, mask, alignment)


@pytest.mark.parametrize("iterations,block", [(4, 4), (3, 8), (1, 1)])
def test_iterative_decoding_keeps_unmasked_tokens_and_stops_after_t_steps(iterations, block):
    model = tiny(seed=3)
    generator = Recorder(model, VOCAB, iterations, block)
    generator.seen = []
    hypos = generator.generate([model], SAMPLE)
    assert generator.steps_run == iterations == len(generator.seen)
    states, src_mask = model.source_states(SRC)
    _, mask = model.latent(states, src_mask)
    assert generator.seen[0].eq(model.mask_index).sum() == mask.sum()  # all [MASK] at first
    for step, (before, after) in enumerate(zip(generator.seen, generator.seen[1:]), start=1):
        kept = before.ne(model.mask_index) & mask & after.ne(model.mask_index)
        assert torch.equal(before[kept], after[kept])  # a token is only replaced after being re-masked
        expected = remask_counts(mask, block, step, iterations)  # per block: floor(n (T - t) / T) masked
        for row in range(2):
            for start in range(0, int(mask[row].sum()), block):
                masked = int(after[row, start:start + block].eq(model.mask_index).sum())
                assert masked == int(expected[row, start])
    alignment, _ = generator.refine(*model.latent(states, src_mask))
    for row, hypo in enumerate(hypos):
        tokens = hypo[0]["tokens"].tolist()
        assert tokens[-1] == EOS and tokens[:-1] == collapse(alignment[row, :int(mask[row].sum())], model.blank)
        assert model.mask_index not in tokens


def test_one_step_decoding_is_the_argmax_of_the_all_masked_pass():
    model = tiny(seed=4, add_and_scale=False)
    hypos = XLMDGenerator(model, VOCAB, 1, 1).generate([model], SAMPLE)
    states, src_mask = model.source_states(SRC)
    latent, mask = model.latent(states, src_mask)
    lprobs = F.log_softmax(model.upper(latent, mask), -1)
    lprobs[:, :, [PAD, EOS, model.mask_index]] = -math.inf
    for row, hypo in enumerate(hypos):
        best = lprobs[row, :int(mask[row].sum())].argmax(-1)
        assert hypo[0]["tokens"].tolist() == collapse(best, model.blank) + [EOS]
    with pytest.raises(ValueError, match="one step"):
        XLMDGenerator(model, VOCAB, 2, 2)


def test_decoding_does_not_depend_on_the_batch():
    model = tiny(seed=5)
    together = XLMDGenerator(model, VOCAB, 3, 3).generate([model], SAMPLE)
    for row in range(2):
        tokens = SRC[row:row + 1]
        tokens = tokens[:, tokens.ne(PAD)[0]]
        alone = XLMDGenerator(model, VOCAB, 3, 3).generate([model], {"net_input": {"src_tokens": tokens}})
        assert alone[0][0]["tokens"].tolist() == together[row][0]["tokens"].tolist()


# the criterion ---------------------------------------------------------------------------------


def test_lt_only_loss_is_plain_ctc_of_the_one_pass():
    model = tiny(add_and_scale=False)
    loss, size, log = XLMDLoss(Task(), mask_block=8, seed=1)(model, SAMPLE)
    states, src_mask = model.source_states(SRC)
    latent, mask = model.latent(states, src_mask)
    lprobs = F.log_softmax(model.upper(latent, mask), -1)
    targets = torch.tensor([[b, a, 0], [a, a, c]])
    expected = F.ctc_loss(lprobs.transpose(0, 1), targets, mask.sum(1), torch.tensor([2, 3]), blank=BOS,
                          reduction="sum", zero_infinity=True)
    assert loss.item() == pytest.approx(expected.item(), rel=1e-5) and size == 5


def test_iterative_loss_is_constrained_ctc_of_the_viterbi_alignment():
    """Recomputed here: the Viterbi alignment of the all-[MASK] pass must lie in Gamma(y), and the
    loss equals -log of the alignments agreeing with it at the unmasked positions."""
    model = tiny(seed=6)
    criterion = XLMDLoss(Task(), mask_block=3, seed=2)
    loss, _, log = criterion(model, SAMPLE)
    states, src_mask = model.source_states(SRC)
    latent, mask = model.latent(states, src_mask)
    alignment = criterion.best_alignment(model, latent, mask, torch.tensor([[b, a, PAD], [a, a, c]]),
                                         torch.tensor([[True, True, False], [True, True, True]]))
    for row, target in enumerate(([b, a], [a, a, c])):
        assert collapse(alignment[row, :int(mask[row].sum())], BOS) == target
    masked = training_mask(mask, 3, criterion.generator(model))
    assert log["masked"] == int(masked.sum())
    inputs = alignment.masked_fill(masked, model.mask_index)
    lprobs = F.log_softmax(model.upper(model.decorator_input(latent, mask, inputs), mask), -1).double()
    expected = 0.0
    for row, target in enumerate(([b, a], [a, a, c])):
        n = int(mask[row].sum())
        # the sum over paths, by dynamic programming over (position, collapsed prefix, last token)
        states_ = {((), None): 0.0}
        for j in range(n):
            allowed = range(lprobs.size(-1)) if masked[row, j] else [int(alignment[row, j])]
            nxt = {}
            for (prefix, last), logp in states_.items():
                for tok in allowed:
                    new = prefix if tok == BOS or tok == last else prefix + (tok,)
                    if list(new) != target[:len(new)]:
                        continue
                    key = (new, tok)
                    nxt[key] = torch.logaddexp(torch.tensor(nxt.get(key, -math.inf)),
                                               torch.tensor(logp) + (lprobs[row, j, tok] if masked[row, j] else 0.0)).item()
            states_ = nxt
        expected -= torch.logsumexp(torch.tensor([v for (p, _), v in states_.items() if list(p) == target]), 0).item()
    assert loss.item() == pytest.approx(expected, rel=1e-4)


# pretrained XLM-R ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_xlmr(tmp_path_factory):
    """The test archive's unpacked files (tests/tiny_xlmr.py): a 2-layer XLM-R-shaped checkpoint."""
    from conftest import REPO
    from tiny_xlmr import NAME, build_tiny_xlmr

    work = tmp_path_factory.mktemp("xlmr")
    lines = (REPO / "data" / "sample" / "train.en").read_text(encoding="utf-8").splitlines()[:400]
    build_tiny_xlmr(work, lines, layers=2, dim=32, ffn=64, heads=2, vocab_size=200, seed=7)
    return work / NAME


class XLMRTask:
    def __init__(self, directory):
        from fairseq.data import Dictionary

        self.source_dictionary = self.target_dictionary = Dictionary.load(str(directory / "dict.txt"))
        self.source_dictionary.add_symbol("<mask>")  # as translation_xlmd does


def xlmr_shaped(task, layers=2, decorator_layer=1, seed=0):
    from fairseq.models import ARCH_MODEL_REGISTRY

    args = argparse.Namespace(encoder_layers=layers, encoder_embed_dim=32, encoder_ffn_embed_dim=64,
                              encoder_attention_heads=2, dropout=0.0, attention_dropout=0.0,
                              decorator_layer=decorator_layer, upsample_ratio=2.0, decorator_scale=0.5,
                              sigma_init=1.0, no_add_and_scale=False)
    torch.manual_seed(seed)
    return ARCH_MODEL_REGISTRY["xlmd_base"].build_model(args, task).eval()


def test_the_decorated_model_loads_exactly_the_checkpoints_weights_and_reset_does_not(tiny_xlmr):
    from natpipe.systems.xlmd.pretrained import load_pretrained

    weights = torch.load(tiny_xlmr / "model.pt", map_location="cpu", weights_only=False)["model"]
    task = XLMRTask(tiny_xlmr)
    loaded, reset = xlmr_shaped(task), xlmr_shaped(task)
    load_pretrained(loaded, str(tiny_xlmr / "model.pt"))
    own = loaded.state_dict()
    assert set(own) - set(weights) == {"sigma"}
    for name, value in own.items():
        if name != "sigma":
            assert torch.equal(value, weights[name]), name
    assert loaded.sigma.item() == 1.0
    matrices = [n for n, v in own.items() if v.dim() == 2]  # biases and LayerNorms start at 0 / 1 in both
    assert len(matrices) >= 10 and all(not torch.equal(reset.state_dict()[n], weights[n]) for n in matrices)


def test_reset_init_transformer_is_fairseqs_transformer_initialisation():
    """Xavier-uniform linear layers (bound sqrt(6 / (fan_in + fan_out))) with zero biases and
    N(0, d^-1/2) embeddings, where XLM-R's own is N(0, 0.02) throughout."""
    from fairseq.models import ARCH_MODEL_REGISTRY

    def build(reset_init):
        args = argparse.Namespace(encoder_layers=2, encoder_embed_dim=64, encoder_ffn_embed_dim=128,
                                  encoder_attention_heads=2, dropout=0.0, attention_dropout=0.0, decorator_layer=1,
                                  upsample_ratio=2.0, decorator_scale=0.5, sigma_init=1.0, no_add_and_scale=False,
                                  reset_init=reset_init)
        torch.manual_seed(0)
        return ARCH_MODEL_REGISTRY["xlmd_base"].build_model(args, Task())

    xavier, bert = build("transformer"), build("xlmr")
    fc1 = xavier.encoder.sentence_encoder.layers[0].fc1
    bound = math.sqrt(6 / (64 + 128))
    assert fc1.weight.abs().max() <= bound and fc1.weight.abs().max() > 0.9 * bound
    assert fc1.weight.std().item() == pytest.approx(bound / math.sqrt(3), rel=0.05)
    assert all(m.bias.abs().sum() == 0 for m in xavier.modules() if isinstance(m, torch.nn.Linear) and m.bias is not None)
    body = xavier.encoder.sentence_encoder
    for embedding in (body.embed_tokens, body.embed_positions):
        rows = [r for r in range(embedding.weight.size(0)) if r != embedding.padding_idx]
        assert embedding.weight[rows].std().item() == pytest.approx(64 ** -0.5, rel=0.05)
        assert embedding.weight[embedding.padding_idx].abs().sum() == 0
    assert bert.encoder.sentence_encoder.layers[0].fc1.weight.std().item() == pytest.approx(0.02, rel=0.05)
    assert bert.encoder.sentence_encoder.embed_positions.weight.std().item() == pytest.approx(0.02, rel=0.05)


def test_a_checkpoint_of_another_shape_is_refused_with_both_shapes(tiny_xlmr):
    from natpipe.systems.xlmd.pretrained import PretrainedMismatch, load_pretrained

    with pytest.raises(PretrainedMismatch, match=r"'layers': 2.*'layers': 3"):
        load_pretrained(xlmr_shaped(XLMRTask(tiny_xlmr), layers=3), str(tiny_xlmr / "model.pt"))


def test_the_source_layers_compute_what_fairseqs_xlmr_computes(tiny_xlmr):
    """With M = L the decorator reads XLM-R's last layer: our source states must be fairseq
    RobertaModel's features of `<s> x </s>` from the same checkpoint, and the LM head its output."""
    from fairseq.models.roberta import RobertaModel

    from natpipe.systems.xlmd.pretrained import load_pretrained

    task = XLMRTask(tiny_xlmr)
    state = torch.load(tiny_xlmr / "model.pt", map_location="cpu", weights_only=False)
    hub = RobertaModel.build_model(state["args"], task)
    hub.load_state_dict(state["model"])
    hub.eval()
    ours = xlmr_shaped(task, decorator_layer=2)
    load_pretrained(ours, str(tiny_xlmr / "model.pt"))
    vocab = task.source_dictionary
    src = torch.tensor([[vocab.pad(), 10, 11, 12, vocab.eos()], [20, 21, 22, 23, vocab.eos()]])
    states, mask = ours.source_states(src)
    for row in range(2):
        tokens = ours.xlmr_input(src)[row:row + 1]
        tokens = tokens[:, tokens.ne(vocab.pad())[0]]
        features, _ = hub(tokens, features_only=True)
        torch.testing.assert_close(states[row:row + 1, :tokens.size(1)], features, atol=1e-5, rtol=1e-5)
        logits, _ = hub(tokens)
        torch.testing.assert_close(ours.encoder.lm_head(states[row:row + 1, :tokens.size(1)]), logits,
                                   atol=1e-5, rtol=1e-5)


def test_the_released_checkpoints_older_layout_loads_to_the_same_weights(tiny_xlmr, tmp_path):
    """xlmr.base's model.pt names its encoder `decoder`, its embedding LayerNorm `emb_layer_norm`
    and fuses q, k, v into `in_proj_*`: written back in that layout, the fixture loads unchanged."""
    from natpipe.systems.xlmd.pretrained import load_pretrained

    state = torch.load(tiny_xlmr / "model.pt", map_location="cpu", weights_only=False)
    old = {}
    for name, value in state["model"].items():
        name = "decoder." + name[len("encoder."):] if name.startswith("encoder.") else name
        name = name.replace(".layernorm_embedding.", ".emb_layer_norm.")
        if ".self_attn.q_proj." in name:
            kind = name.rsplit(".", 1)[1]
            parts = [state["model"][name.replace("decoder.", "encoder.", 1).replace("q_proj", p)] for p in ("q_proj", "k_proj", "v_proj")]
            old[name.replace("q_proj." + kind, "in_proj_" + kind)] = torch.cat(parts)
        elif ".self_attn.k_proj." not in name and ".self_attn.v_proj." not in name:
            old[name] = value
    assert any("in_proj_weight" in k for k in old) and not any(k.startswith("encoder.") for k in old)
    torch.save({**state, "model": old}, tmp_path / "model.pt")
    model = xlmr_shaped(XLMRTask(tiny_xlmr))
    load_pretrained(model, str(tmp_path / "model.pt"))
    for name, value in model.state_dict().items():
        if name != "sigma":
            assert torch.equal(value, state["model"][name]), name
