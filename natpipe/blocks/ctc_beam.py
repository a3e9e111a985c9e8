"""CTC prefix beam search with an optional token-level n-gram LM, searching paper Eq. (6):

    y* = argmax_y  log p(y|x) + alpha * log p_LM(y) + beta * log |y|            (Eq. 6)

where p(y|x) is the CTC probability of the collapsed output y, summed over all alignments
(here: over the alignments that survive in the beam), p_LM the n-gram LM probability of y
including the end of sentence, and |y| the number of output tokens. An empty output counts as
|y| = 1 (log|y| = 0) so that its score stays finite.

The search score is the whole of Eq. (6), so beta steers the pruning (the paper credits it with
controlling the brevity penalty) instead of only re-ranking the survivors. log max(|y|, 1) is the
sum of log(n / (n-1)) over n = 2 .. |y|: emitting the n-th token adds beta * log(n / (n-1)) (0
for the first), as it adds alpha * ln p_LM(token | prefix); alpha * ln p_LM(</s> | y) is added
at the end.

Algorithm (numpy + the `kenlm` module, one sentence at a time). A hypothesis is a prefix plus
whether its last frame was blank (`beam` counts these states, so beam 1 is greedy decoding).
Per frame each state can emit the blank, repeat its last token without emitting it, or emit one
of the frame's `beam_size_token` most probable tokens; blank and repeat are always tried, so an
LM can drop a token on a frame where blank is not among them. Paths that reach the same state
are merged by log-add, so a prefix's acoustic score is the log of its summed alignment
probabilities. The `beam` best states within `beam_threshold` of the best are
kept; kept prefixes live in a prefix tree with their KenLM state and scores. The LM is queried
lazily: with alpha >= 0 its term is <= 0, so an emission's score without it bounds its score
with it, and emissions are LM-scored best bound first only until no remaining bound can enter
the beam (exact; alpha < 0 scores them all).

Why not a C++ decoder (flashlight-text's LexiconFreeDecoder): its only per-token hook is the
LM, and a Python LM carrying the length term costs a C++ -> Python call per extension; measured
at T=60, V=4000, beam 20: ~0.1x the C++ search's speed, while this search runs at ~0.6-0.8x of
it with a 4-gram LM and ~1.3-1.7x without.

Units. All returned scores are natural logarithms; KenLM's log10 scores (through the `kenlm`
module) are multiplied by ln(10), and `alpha` weights that natural-log LM probability;
alpha = w / ln(10) ~ 0.434 w reproduces a wav2letter/flashlight-style `lm_weight` w applied to
log10 scores.

Vocabulary. `tokens` is the target dictionary's symbol list (index -> string, e.g. fairseq
`Dictionary.symbols`); the LM is queried with those strings (train it on the BPE-segmented
distilled targets with scripts/train_lm.py so LM units are dictionary units). Strings the LM
has never seen score as <unk>. The blank is never emitted nor scored; special symbols the
model should not produce (pad, bos, eos, unk) are best masked to -inf in `log_probs`.

A CTCBeamSearch keeps no state between searches (each builds its own prefix tree); the KenLM
model is only read.
"""
from __future__ import annotations

import heapq
import math
import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

LN10 = math.log(10.0)
# -inf log-probabilities are clamped to this floor (no inf - inf in the sums).
_LOG_PROB_FLOOR = -1e9
_NEG_INF = -math.inf


@dataclass
class Hypothesis:
    tokens: list[int]   # collapsed output: no blanks, repeats merged unless a blank separated them
    am_score: float     # log p(y|x): CTC log-probability summed over the alignments in the beam
    lm_score: float     # ln p_LM(y </s> | <s>) (natural log); 0.0 without an LM
    score: float        # am_score + alpha * lm_score + beta * log(max(|y|, 1))


def ctc_collapse(path, blank: int) -> list[int]:
    """Alignment -> output: drop repeats of the previous frame's token, then blanks."""
    out, prev = [], blank
    for token in path:
        token = int(token)
        if token != blank and token != prev:
            out.append(token)
        prev = token
    return out


class _Prefixes:
    """Prefix tree of one sentence's search. Node 0 is the empty prefix; each node has its parent,
    last token (-1 for the root), length, `extra` = alpha * ln p_LM(prefix | <s>) +
    beta * log max(length, 1) (the non-acoustic part of its search score) and, with an LM, its
    KenLM state and log10 p_LM(prefix | <s>)."""

    def __init__(self, search: CTCBeamSearch):
        self.words, self.model = search.tokens, search._kenlm
        self.lm_weight = search.alpha * LN10  # per log10 LM unit
        self.beta = search.beta
        self.parent, self.last, self.length, self.extra = [-1], [-1], [0], [0.0]
        self.lm10, self.state = [0.0], [None]
        if self.model is not None:
            import kenlm

            self._new_state = kenlm.State
            self.scratch = kenlm.State()  # output state of LM queries whose state is not kept
            self.state[0] = kenlm.State()
            self.model.BeginSentenceWrite(self.state[0])
        self.children: dict[tuple[int, int], int] = {}

    def child(self, node: int, token: int) -> int:
        key = (node, token)
        found = self.children.get(key)
        if found is not None:
            return found
        length = self.length[node] + 1
        extra = self.extra[node] + (self.beta * math.log(length / (length - 1)) if length > 1 else 0.0)
        if self.model is not None:
            state = self._new_state()
            lm10 = self.model.BaseScore(self.state[node], self.words[token], state)
            extra += self.lm_weight * lm10
            self.state.append(state)
            self.lm10.append(self.lm10[node] + lm10)
        else:
            self.state.append(None)
            self.lm10.append(0.0)
        new = len(self.parent)
        self.parent.append(node)
        self.last.append(token)
        self.length.append(length)
        self.extra.append(extra)
        self.children[key] = new
        return new

    def end_lm10(self, node: int) -> float:
        """log10 p_LM(</s> | prefix); 0 without an LM."""
        if self.model is None:
            return 0.0
        return self.model.BaseScore(self.state[node], "</s>", self._new_state())

    def tokens(self, node: int) -> list[int]:
        out = []
        while node > 0:
            out.append(self.last[node])
            node = self.parent[node]
        return out[::-1]


class CTCBeamSearch:
    """CTC prefix beam search + optional KenLM, searching the full Eq. (6) score.

    tokens: index -> string of the target dictionary (the LM vocabulary).
    blank: index of the CTC blank.
    beam: hypotheses (prefix, last frame blank or not) kept per frame; the returned n-best has
        at most `beam` distinct outputs (paper: 20).
    lm_path: KenLM file (binary from scripts/train_lm.py, or ARPA); None: no LM (alpha ignored).
    alpha, beta: Eq. (6) weights of ln p_LM(y) and log|y|, both part of the search score.
    beam_size_token: new tokens tried per frame, the most probable ones of that frame (blank and
        repeats are always tried); None: the min(V, max(beam, 40)) best (40 is ctcdecode's
        cutoff_top_n).
    beam_threshold: drop hypotheses scoring more than this below the frame's best.
    """

    def __init__(self, tokens: list[str], blank: int, beam: int = 20, lm_path: str | None = None,
                 alpha: float = 0.0, beta: float = 0.0, beam_size_token: int | None = None,
                 beam_threshold: float = 25.0):
        self.tokens = list(tokens)
        vocab = len(self.tokens)
        if vocab == 0:
            raise ValueError("CTCBeamSearch: empty token list")
        if not 0 <= blank < vocab:
            raise ValueError(f"CTCBeamSearch: blank index {blank} outside the {vocab} tokens")
        if beam < 1:
            raise ValueError(f"CTCBeamSearch: beam must be >= 1, got {beam}")
        if beam_size_token is None:
            beam_size_token = min(vocab, max(beam, 40))
        if beam_size_token < 1:
            raise ValueError(f"CTCBeamSearch: beam_size_token must be >= 1, got {beam_size_token}")
        if not beam_threshold > 0:
            raise ValueError(f"CTCBeamSearch: beam_threshold must be > 0, got {beam_threshold}")
        self.blank, self.beam = blank, beam
        self.beam_size_token = min(beam_size_token, vocab)
        self.beam_threshold = float(beam_threshold)
        self.lm_path = None if lm_path is None else str(lm_path)
        self.alpha = float(alpha) if self.lm_path is not None else 0.0
        self.beta = float(beta)

        self._kenlm = None
        if self.lm_path is not None:
            duplicates = sorted(s for s, n in Counter(self.tokens).items() if n > 1)
            if duplicates:
                raise ValueError(f"CTCBeamSearch: duplicate token strings {duplicates[:5]}: the LM "
                                 "needs one string per index")
            if not os.path.isfile(self.lm_path):
                raise FileNotFoundError(f"CTCBeamSearch: LM file not found: {self.lm_path}")
            import kenlm

            self._kenlm = kenlm.Model(self.lm_path)

    def search(self, log_probs: torch.Tensor) -> list[Hypothesis]:
        """n-best (at most `beam`, distinct outputs) for one sentence, best first by Eq. (6).

        log_probs: [T, V] CTC log-probabilities of the sentence's real positions, any device and
        floating dtype (searched in float64 on the CPU).
        """
        if log_probs.dim() != 2 or log_probs.size(1) != len(self.tokens):
            raise ValueError(f"CTCBeamSearch.search: expected log_probs of shape [T, {len(self.tokens)}], "
                             f"got {list(log_probs.shape)}")
        emissions = log_probs.detach().to(device="cpu", dtype=torch.float64)
        if torch.isnan(emissions).any():
            raise ValueError("CTCBeamSearch.search: log_probs contain NaN")
        emissions = emissions.clamp(min=_LOG_PROB_FLOOR)
        frames, vocab = emissions.shape
        width = self.beam_size_token
        if width < vocab:
            candidates = emissions.topk(width, dim=1, sorted=False).indices.numpy()
        else:
            candidates = np.broadcast_to(np.arange(vocab), (frames, vocab))
        emissions = emissions.numpy()
        tree = _Prefixes(self)
        # LM scores cost a query each: bound them by 0 and score lazily (needs alpha >= 0).
        lazy = self._kenlm is not None and self.alpha != 0.0

        # The beam, one row per prefix: node, log p of its blank-ended and token-ended paths.
        nodes = [0]
        blank_ended = np.zeros(1)
        token_ended = np.full(1, _NEG_INF)
        for t in range(frames):
            nodes, blank_ended, token_ended = self._step(
                tree, nodes, blank_ended, token_ended, emissions[t], candidates[t], lazy)

        # End: merge each prefix's two states, add ln p_LM(</s> | y), keep the beam best.
        am = np.logaddexp(blank_ended, token_ended).tolist()
        ranked = []
        for node, prefix_am in zip(nodes, am):
            end10 = tree.end_lm10(node)
            ranked.append((prefix_am + tree.extra[node] + self.alpha * LN10 * end10, node, prefix_am, end10))
        best = max(item[0] for item in ranked)
        ranked = [item for item in ranked if item[0] >= best - self.beam_threshold]
        hyps = []
        for _, node, prefix_am, end10 in heapq.nlargest(self.beam, ranked):
            tokens = tree.tokens(node)
            lm = (tree.lm10[node] + end10) * LN10 if self._kenlm is not None else 0.0
            score = prefix_am + self.alpha * lm + self.beta * math.log(max(len(tokens), 1))
            hyps.append(Hypothesis(tokens=tokens, am_score=prefix_am, lm_score=lm, score=score))
        return sorted(hyps, key=lambda hyp: hyp.score, reverse=True)

    def _step(self, tree: _Prefixes, nodes: list[int], blank_ended: np.ndarray,
              token_ended: np.ndarray, emission: np.ndarray, candidates: np.ndarray, lazy: bool):
        """One frame: the new beam (nodes, blank_ended, token_ended) from the old one."""
        rows, width = len(nodes), len(candidates)
        last = np.array([tree.last[node] for node in nodes])
        extra = np.array([tree.extra[node] for node in nodes])
        total = np.logaddexp(blank_ended, token_ended)
        # Staying on the prefix: the blank (from either state), or repeating the last token
        # without emitting it (only from the token-ended state; the root has none).
        stay_blank = total + emission[self.blank]
        stay_token = token_ended + emission[last]  # root: -inf + anything
        # Emitting a candidate token: after a blank, or after a different token.
        token_scores = emission[candidates]
        emit = np.where(candidates[None, :] == last[:, None], blank_ended[:, None], total[:, None])
        emit = emit + token_scores[None, :]
        emit[:, candidates == self.blank] = _NEG_INF
        # An emission that re-creates a prefix in the beam merges into its token-ended state.
        row_of = {node: row for row, node in enumerate(nodes)}
        position = None
        for row, node in enumerate(nodes):
            parent_row = row_of.get(tree.parent[node]) if node else None
            if parent_row is None:
                continue
            if position is None:
                position = {token: k for k, token in enumerate(candidates.tolist())}
            k = position.get(tree.last[node])
            if k is not None:
                stay_token[row] = np.logaddexp(stay_token[row], emit[parent_row, k])
                emit[parent_row, k] = _NEG_INF

        # Search scores: acoustic + the prefix's `extra`; for emissions a bound until LM-scored.
        stay_blank_full = stay_blank + extra
        stay_token_full = stay_token + extra
        bonus = np.array([self.beta * math.log((n + 1) / n) if n else 0.0
                          for n in (tree.length[node] for node in nodes)])
        emit_bound = emit + (extra + bonus)[:, None]
        bounds = np.concatenate([stay_blank_full, stay_token_full, emit_bound.ravel()])
        beam, threshold = self.beam, self.beam_threshold

        if lazy:
            scores, considered = self._lm_scores(tree, nodes, candidates, bounds, 2 * rows)
        else:
            scores, considered = bounds, np.flatnonzero(bounds > _NEG_INF)
        if len(considered) > beam:
            considered = considered[np.argpartition(-scores[considered], beam - 1)[:beam]]
        chosen = considered[scores[considered] >= scores[considered].max() - threshold].tolist()

        # The new beam, grouped by prefix.
        merged: dict[int, list[float]] = {}
        for index in chosen:
            if index < rows:
                merged.setdefault(nodes[index], [_NEG_INF, _NEG_INF])[0] = float(stay_blank[index])
            elif index < 2 * rows:
                merged.setdefault(nodes[index - rows], [_NEG_INF, _NEG_INF])[1] = float(stay_token[index - rows])
            else:
                row, k = divmod(index - 2 * rows, width)
                node = tree.child(nodes[row], int(candidates[k]))
                merged.setdefault(node, [_NEG_INF, _NEG_INF])[1] = float(emit[row, k])
        new_nodes = list(merged)
        scores = np.array(list(merged.values()), dtype=np.float64).reshape(-1, 2)
        return new_nodes, scores[:, 0].copy(), scores[:, 1].copy()

    def _lm_scores(self, tree: _Prefixes, nodes: list[int], candidates: np.ndarray,
                   bounds: np.ndarray, stays: int) -> tuple[np.ndarray, np.ndarray]:
        """Search scores with the LM term of the candidates that can still enter the beam, and
        the indices of those scored. Candidates [0, stays) (no emission) are exact; emissions
        are LM-scored in chunks of growing size, best bound first, until the next bound is no
        better than the beam-th score so far (with alpha > 0 the LM term is <= 0, so no
        candidate left can enter) or out of the threshold; alpha < 0: all are scored."""
        width, beam = len(candidates), self.beam
        weight, words, states = tree.lm_weight, self.tokens, tree.state
        query, scratch = self._kenlm.BaseScore, tree.scratch
        node_of_row = np.array(nodes)
        scores = bounds.copy()
        order = np.argsort(-bounds, kind="stable")
        ordered = bounds[order]
        finite = int(np.count_nonzero(ordered > _NEG_INF))
        done, step = 0, 2 * beam
        while done < finite:
            stop = finite if self.alpha < 0 else min(finite, done + step)
            chunk = order[done:stop]
            chunk = chunk[chunk >= stays]
            if len(chunk):
                rows, ks = np.divmod(chunk - stays, width)
                lm10 = [query(states[node], words[token], scratch)
                        for node, token in zip(node_of_row[rows].tolist(), candidates[ks].tolist())]
                scores[chunk] += weight * np.array(lm10)
            done, step = stop, 2 * step
            if done == finite:
                break
            so_far = scores[order[:done]]
            beam_th = np.partition(so_far, done - beam)[done - beam] if done >= beam else _NEG_INF
            if ordered[done] <= beam_th or ordered[done] < so_far.max() - self.beam_threshold:
                break
        return scores, order[:done]
