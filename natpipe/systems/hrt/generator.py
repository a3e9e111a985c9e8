"""HRT inference (§5.3): Skip-AT beam search, then one Skip-CMLM pass, scored by Eq. (3).

Stage I: beam search (b_at) from [BOS_k] with the decoder in Skip-AT mode yields
z_1 .. z_m (z_m = </s>). Stage II: each of the top b_nat hypotheses becomes
[B] [MASK]*(k-1) z_1 [MASK]*(k-1) z_2 ... [MASK]*(k-1) z_m (N_nat = k * m) and one bidirectional
pass fills every mask. The translation is truncated at its first </s>; its score is
S = sum_i log P(z_i | x, z_<i) + sum over masked positions of log P(y_hat | x, y_nat), and the
best-scoring candidate is returned. With a second model (Table 7 swap), that model re-encodes
the source, force-decodes z with its own Skip-AT decoder for the first term, and fills the masks.

Returns fairseq's hypothesis format, so fairseq-generate, the speed harness and every table
treat HRT like any other system.
"""
from __future__ import annotations

import math

import torch

from natpipe.blocks.masking import expand_chunks


def nat_input(z: list[int], k: int, bos: int, mask: int) -> list[int]:
    """[B] followed by k-1 masks before every Skip-AT token: the CHUNK pattern of training's
    Skip-CMLM input, so the decoder sees at inference what it learnt on."""
    return expand_chunks([bos, *z], k, mask)


def truncate_at_eos(tokens: list[int], eos: int) -> int:
    """Length of the translation up to and including its first </s>."""
    return tokens.index(eos) + 1 if eos in tokens else len(tokens)


class HRTGenerator:
    def __init__(self, model, tgt_dict, k: int = 2, b_at: int = 5, b_nat: int = 1, max_len_a: float = 0.0,
                 max_len_b: int = 200, skip_cmlm_model=None):
        from fairseq.sequence_generator import SequenceGenerator

        if b_nat > b_at:
            raise ValueError(f"HRT needs b_at >= b_nat (got b_at={b_at}, b_nat={b_nat})")
        self.model, self.fill_model = model, skip_cmlm_model or model
        self.vocab, self.k, self.b_nat = tgt_dict, k, b_nat
        self.bos_k, self.bos, self.mask = tgt_dict.bos(), tgt_dict.eos(), tgt_dict.unk()
        self.eos, self.pad = tgt_dict.eos(), tgt_dict.pad()
        # the Skip-AT sequence is k times shorter than the translation: scale its length cap
        self.search = SequenceGenerator([model], tgt_dict, beam_size=b_at, max_len_a=max_len_a / k,
                                        max_len_b=max(1, math.ceil(max_len_b / k)))
        self._encoder_out = None
        ensemble, encode = self.search.model, self.search.model.forward_encoder

        def keep_encoder_out(net_input):  # reused by stage II instead of encoding twice
            self._encoder_out = encode(net_input)
            return self._encoder_out

        ensemble.forward_encoder = keep_encoder_out

    @property
    def auxiliary_models(self) -> list:
        """The Table 7 swap model, which must follow the system's device."""
        return [] if self.fill_model is self.model else [self.fill_model]

    @torch.no_grad()
    def generate(self, models, sample, **kwargs):
        with self.model.skip_mode(self.k):
            skip_hypos = self.search.generate([self.model], sample, bos_token=self.bos_k)
        net_input = sample["net_input"]
        rows, zs, at_scores = [], [], []
        for i, hypos in enumerate(skip_hypos):
            for hypo in hypos[:self.b_nat]:
                rows.append(i)
                zs.append(hypo["tokens"].tolist())
                at_scores.append(hypo["positional_scores"])
        device = net_input["src_tokens"].device
        order = torch.tensor(rows, device=device)
        if self.fill_model is self.model:
            encoder_out = self.model.encoder.reorder_encoder_out(self._encoder_out[0], order)
        else:
            encoder_out = self.fill_model.encoder(net_input["src_tokens"].index_select(0, order),
                                                  src_lengths=net_input["src_lengths"].index_select(0, order))
            at_scores = self.forced_skip_at_scores(encoder_out, zs)
        filled, cmlm_scores = self.fill(encoder_out, zs)
        results = [[] for _ in skip_hypos]
        for row, tokens, positional, at_pos in zip(rows, filled, cmlm_scores, at_scores):
            length = truncate_at_eos(tokens, self.eos)
            score = float(at_pos.sum()) + float(positional["masked_sum"])  # Eq. (3)
            per_token = positional["per_token"].clone()
            per_token[self.k - 1::self.k] = at_pos.to(per_token)  # kept tokens carry their Skip-AT score
            results[row].append({
                "tokens": torch.tensor(tokens[:length], device=device),
                "score": score,
                "positional_scores": per_token[:length],
                "attention": None, "alignment": None,
            })
        return [sorted(r, key=lambda h: -h["score"]) for r in results]

    def forced_skip_at_scores(self, encoder_out, zs: list[list[int]]) -> list[torch.Tensor]:
        """Per-token Skip-AT log-probabilities of given z sequences under the fill model."""
        width = max(len(z) for z in zs)
        prev = torch.full((len(zs), width), self.pad, dtype=torch.long)
        target = torch.full((len(zs), width), self.pad, dtype=torch.long)
        for row, z in enumerate(zs):
            prev[row, :len(z)] = torch.tensor([self.bos_k] + z[:-1])
            target[row, :len(z)] = torch.tensor(z)
        device = encoder_out["encoder_out"][0].device
        logits = self.fill_model.decode(prev.to(device), encoder_out, causal=True, stride=self.k)
        lprobs = self.fill_model.get_normalized_probs((logits, None), log_probs=True)
        gathered = lprobs.gather(-1, target.to(device).clamp(min=0).unsqueeze(-1)).squeeze(-1)
        return [gathered[row, :len(z)] for row, z in enumerate(zs)]

    def fill(self, encoder_out, zs: list[list[int]]):
        """One Skip-CMLM pass over every candidate: filled token lists and their scores."""
        inputs = [nat_input(z, self.k, self.bos, self.mask) for z in zs]
        width = max(len(x) for x in inputs)
        prev = torch.full((len(inputs), width), self.pad, dtype=torch.long)
        for row, x in enumerate(inputs):
            prev[row, :len(x)] = torch.tensor(x)
        device = encoder_out["encoder_out"][0].device
        prev = prev.to(device)
        logits = self.fill_model.decode(prev, encoder_out, causal=False)
        lprobs = self.fill_model.get_normalized_probs((logits, None), log_probs=True)
        lprobs[:, :, [self.pad, self.bos_k, self.mask]] = -math.inf  # </s> may be predicted (padding chunks)
        best, choice = lprobs.max(-1)
        masked = prev.eq(self.mask)
        filled = torch.where(masked, choice, prev)
        filled_lists, scores = [], []
        for row, x in enumerate(inputs):
            tokens = filled[row, 1:len(x)].tolist()  # without [B]
            per_token = torch.where(masked[row, 1:len(x)], best[row, 1:len(x)], torch.zeros_like(best[row, 1:len(x)]))
            filled_lists.append(tokens)
            scores.append({"masked_sum": per_token.sum(), "per_token": per_token})
        return filled_lists, scores
