"""Hint-based NART (Li et al. 2019): L_hid against a double loop over (layer, s, t), L_align against
torch.distributions' KL, the frozen teacher, the uniform copy, the teacher's hints against fairseq's
own decoder, and decoding with 2B+1 length candidates against one-sentence-at-a-time rescoring."""
import math

import pytest
import torch
import torch.nn.functional as F

import natpipe.plugin  # noqa: F401
from natpipe.blocks.upsampling import uniform_copy, uniform_copy_indices
from natpipe.systems.fully_nat.criterion import targets_without_eos
from natpipe.systems.hint_nart.criterion import (HintNARTLoss, alignment_hint, hidden_state_hint,
                                                  teacher_mismatch)
from natpipe.systems.hint_nart.generator import HintNARTGenerator
from natpipe.systems.hint_nart.model import teacher_hints
from test_fully_nat import PAD, SAMPLE, SRC, VOCAB, Task, tiny

EOS = VOCAB.eos()
PREV = torch.tensor([[EOS, 5, 5, 6], [EOS, 4, PAD, PAD]])  # `</s> y`, right-padded as fairseq's
HINT_SAMPLE = {**SAMPLE, "net_input": {**SAMPLE["net_input"], "prev_output_tokens": PREV}}
assert PREV[0, 1:].tolist() == SAMPLE["target"][0, :3].tolist()


def student(layers=2, seed=0, offset=0.0):
    model = tiny(arch="hint_nart_transformer", seed=seed, decoder_layers=layers)
    model.length_offset.fill_(offset)
    return model


def teacher(layers=2, seed=1):
    return tiny(arch="transformer", seed=seed, decoder_layers=layers)


def loss_fn(model_teacher=None, **settings):
    settings = {"label_smoothing": 0.0, "hint_lambda": 1.0, "hint_mu": 1.0, "gamma_st": 0.5, "gamma_tr": 0.5,
                "hint_teacher_path": "teacher.pt", **settings}
    criterion = HintNARTLoss(Task(), **settings)
    if model_teacher is not None:
        criterion._teacher.append(model_teacher)  # what criterion.teacher() would load from the path
    return criterion


# L_hid and L_align -------------------------------------------------------------------------------


def loop_hidden_hint(student_states, teacher_states, lengths, gamma_st, gamma_tr):
    """The paper's formula, one (sentence, layer, s, t) at a time in float64."""
    def cos(u, v):
        u, v = u.double(), v.double()
        return float(u @ v / (u.norm() * v.norm()))

    out = []
    for b, length in enumerate(lengths):
        total = 0.0
        for ours, theirs in zip(student_states, teacher_states):
            for s in range(length):
                for t in range(s + 1, length):
                    d_st, d_tr = cos(ours[s, b], ours[t, b]), cos(theirs[s, b], theirs[t, b])
                    if d_st >= gamma_st and d_tr <= gamma_tr:
                        total += -math.log(max(1 - d_st, 1e-4))
        out.append(2 * total / ((length - 1) * length * len(student_states)) if length > 1 else 0.0)
    return out


def test_hidden_state_hint_is_the_papers_double_loop_with_both_thresholds():
    torch.manual_seed(0)
    base = torch.randn(4, 3, 8)
    ours = [base + 0.3 * torch.randn(6, 3, 8)[:4], base.flip(0) + 0.1 * torch.randn(4, 3, 8)]
    ours[0][1, 0] = ours[0][2, 0]  # equal states: d_st = 1, the clamped penalty
    theirs = [torch.randn(5, 3, 8), torch.randn(5, 3, 8)]  # one position longer (the teacher's </s> step)
    lengths = [4, 3, 1]
    mask = torch.arange(4)[None, :] < torch.tensor(lengths)[:, None]
    firsts = set()
    for gamma_st, gamma_tr in ((0.5, 0.5), (-1.0, 1.0), (0.2, -0.1), (0.5, 0.0)):
        got = hidden_state_hint(ours, theirs, mask, gamma_st, gamma_tr)
        want = loop_hidden_hint(ours, theirs, lengths, gamma_st, gamma_tr)
        assert got.tolist() == pytest.approx(want, rel=1e-5, abs=1e-6) and want[2] == 0.0  # one token: no pair
        firsts.add(round(want[0], 6))
    assert len(firsts) == 4  # each threshold pair penalises other pairs
    # a pair only counts where the teacher's states differ: a teacher alike everywhere gives 0
    alike = [torch.ones(5, 3, 8), torch.ones(5, 3, 8)]
    assert hidden_state_hint(ours, alike, mask, -1.0, 0.5).abs().max() == 0


def test_alignment_hint_is_the_mean_kl_of_teacher_to_student_attention():
    torch.manual_seed(0)
    heads, batch, width, source = 2, 2, 3, 5
    lengths = [3, 2]
    src_pad = torch.tensor([[False] * 5, [True, True, False, False, False]])

    def attention(rows):
        logits = torch.randn(heads, batch, rows, source).masked_fill(src_pad[None, :, None, :], -math.inf)
        return logits.softmax(-1)

    ours, theirs = [attention(width) for _ in range(2)], [attention(width + 1) for _ in range(2)]
    mask = torch.arange(width)[None, :] < torch.tensor(lengths)[:, None]
    got = alignment_hint(ours, theirs, mask)
    for b, length in enumerate(lengths):
        total = 0.0
        for a_st, a_tr in zip(ours, theirs):
            for h in range(heads):
                for t in range(length):
                    real = ~src_pad[b]
                    p = torch.distributions.Categorical(probs=a_tr[h, b, t, real].double())
                    q = torch.distributions.Categorical(probs=a_st[h, b, t, real].double())
                    total += float(torch.distributions.kl_divergence(p, q))
        assert float(got[b]) == pytest.approx(total / (length * len(ours) * heads), rel=1e-5)


def test_loss_is_nll_plus_weighted_token_sums_of_the_hints():
    model, frozen = student(), teacher()
    loss, size, log = loss_fn(frozen, hint_lambda=0.7, hint_mu=0.3)(model, HINT_SAMPLE)
    tokens, mask, lengths = targets_without_eos(SAMPLE["target"], PAD, EOS)
    encoder_out = model.encode(SRC, SAMPLE["net_input"]["src_lengths"])
    logits, _, states, attentions = model.decode(SRC, encoder_out, lengths, hints=True)
    nll = F.cross_entropy(logits[mask], tokens[mask], reduction="sum")
    t_states, t_attentions = teacher_hints(frozen, SRC, SAMPLE["net_input"]["src_lengths"], PREV)
    hid = sum(float(v) * int(n) for v, n in zip(hidden_state_hint(states, t_states, mask, 0.5, 0.5), lengths))
    align = sum(float(v) * int(n) for v, n in zip(alignment_hint(attentions, t_attentions, mask), lengths))
    assert size == 4 and log["hint_hid"] == pytest.approx(hid) and log["hint_align"] == pytest.approx(align)
    assert float(loss) == pytest.approx(float(nll) + 0.7 * hid + 0.3 * align, rel=1e-5)
    plain, _, plain_log = loss_fn(None, hint_lambda=0.0, hint_mu=0.0, hint_teacher_path="")(model, HINT_SAMPLE)
    assert float(plain) == pytest.approx(float(nll), rel=1e-5) and "hint_hid" not in plain_log


def test_the_teacher_gets_no_gradient_and_is_unchanged_by_a_step():
    model, frozen = student().train(), teacher()
    criterion = loss_fn(frozen)
    before = {name: p.detach().clone() for name, p in frozen.named_parameters()}
    optimizer = torch.optim.SGD(list(model.parameters()) + list(criterion.parameters()), lr=1.0)
    loss, _, _ = criterion(model, HINT_SAMPLE)
    loss.backward()
    optimizer.step()
    assert list(criterion.parameters()) == [] and "_teacher" not in dict(criterion.named_modules())
    assert all(p.grad is None for p in frozen.parameters())
    assert all(torch.equal(p, before[name]) for name, p in frozen.named_parameters())
    assert model.encoder.embed_tokens.weight.grad.abs().sum() > 0


def test_teacher_of_another_depth_or_vocabulary_is_refused():
    assert teacher_mismatch(student(layers=2), teacher(layers=2)) is None
    message = teacher_mismatch(student(layers=2), teacher(layers=3))
    assert "3 decoder layers" in message and "the student 2" in message
    with pytest.raises(ValueError, match="--hint-teacher-path"):
        loss_fn(None, hint_teacher_path="")


def test_teacher_hints_are_fairseqs_own_decoder_pass():
    """The last layer's output, normed and projected, is fairseq's forward output; its heads
    averaged are the attention fairseq returns."""
    frozen = teacher(layers=2)
    states, attentions = teacher_hints(frozen, SRC, SAMPLE["net_input"]["src_lengths"], PREV)
    logits, extra = frozen(SRC, SAMPLE["net_input"]["src_lengths"], PREV)
    decoder = frozen.decoder
    x = states[-1] if decoder.layer_norm is None else decoder.layer_norm(states[-1])
    assert torch.allclose(decoder.output_layer(x.transpose(0, 1)), logits, atol=1e-5)
    assert len(attentions) == 2 and attentions[-1].shape == (2, 2, 4, 4)
    assert torch.allclose(attentions[-1].mean(0), extra["attn"][0], atol=1e-6)


# uniform copy and lengths ------------------------------------------------------------------------


@pytest.mark.parametrize("src_len,tgt_len", [(4, 4), (3, 7), (7, 3), (1, 5), (5, 1), (2, 9), (10, 11)])
def test_uniform_copy_reads_round_t_tx_over_ty(src_len, tgt_len):
    index = uniform_copy_indices(torch.tensor([src_len]), torch.tensor([tgt_len]))[0].tolist()
    assert index == [min(math.floor(t * src_len / tgt_len + 0.5), src_len - 1) for t in range(tgt_len)]


def test_uniform_copy_is_the_same_for_left_and_right_padding():
    torch.manual_seed(0)
    source = torch.randn(1, 3, 4)
    left = torch.cat([torch.zeros(1, 2, 4), source], 1)
    right = torch.cat([source, torch.zeros(1, 2, 4)], 1)
    mask_left, mask_right = torch.tensor([[0, 0, 1, 1, 1]]).bool(), torch.tensor([[1, 1, 1, 0, 0]]).bool()
    copied_left, tgt_mask = uniform_copy(left, mask_left, torch.tensor([5]))
    copied_right, _ = uniform_copy(right, mask_right, torch.tensor([5]))
    assert torch.equal(copied_left, copied_right) and tgt_mask.all()
    assert torch.equal(copied_left[0], source[0, [0, 1, 1, 2, 2]])  # round(t * 3 / 5), halves up


def test_target_length_is_source_length_plus_c():
    model = student(offset=1.6)
    assert model.target_lengths(SRC).tolist() == [3 + 2, 2 + 2]  # T_x excludes </s> and padding
    model.length_offset.fill_(-5.0)
    assert model.target_lengths(SRC).tolist() == [1, 1]


# decoding ----------------------------------------------------------------------------------------


def alone(tensor, row):
    """One sentence of a left-padded batch, its padding removed."""
    tokens = tensor[row]
    return tokens[tokens.ne(PAD)].unsqueeze(0)


def test_length_candidates_keep_the_best_teacher_score_one_sentence_at_a_time():
    model, frozen = student(seed=3, offset=0.4), teacher(seed=4)
    generator = HintNARTGenerator(model, VOCAB, halfwidth=2, teacher=frozen)
    batch = [hyp[0]["tokens"].tolist() for hyp in generator.generate([model], SAMPLE)]
    for row in range(2):
        src = alone(SRC, row)
        base = int(src.ne(EOS).sum()) + 0  # T_x + round(0.4) = T_x
        best = None
        for length in range(max(1, base - 2), base + 3):
            encoder_out = model.encode(src, torch.tensor([src.size(1)]))
            logits, _, _, _ = model.decode(src, encoder_out, torch.tensor([length]))
            logits[:, :, [PAD, EOS, VOCAB.bos()]] = -math.inf
            tokens = logits.argmax(-1)[0].tolist()
            prev = torch.tensor([[EOS] + tokens])
            lprobs = F.log_softmax(frozen(src, torch.tensor([src.size(1)]), prev)[0], -1)[0]
            score = sum(float(lprobs[i, token]) for i, token in enumerate(tokens + [EOS]))
            if best is None or score > best[0]:
                best = (score, tokens)
        assert batch[row] == best[1] + [EOS]
    lengths = generator.candidate_lengths(SRC)
    assert lengths.view(5, 2).tolist() == [[1, 1], [2, 1], [3, 2], [4, 3], [5, 4]]


def test_outputs_do_not_depend_on_the_batch():
    model, frozen = student(seed=5, offset=1.0), teacher(seed=6)
    for generator in (HintNARTGenerator(model, VOCAB), HintNARTGenerator(model, VOCAB, halfwidth=1, teacher=frozen)):
        together = [hyp[0]["tokens"].tolist() for hyp in generator.generate([model], SAMPLE)]
        for row in range(2):
            src = alone(SRC, row)
            one = {"id": torch.tensor([row]), "net_input": {"src_tokens": src, "src_lengths": torch.tensor([src.size(1)])}}
            assert generator.generate([model], one)[0][0]["tokens"].tolist() == together[row]


def test_candidates_without_a_teacher_are_refused():
    with pytest.raises(ValueError, match="teacher"):
        HintNARTGenerator(student(), VOCAB, halfwidth=2)
