"""CTC prefix beam search with an optional token-level n-gram LM (paper Eq. 6).

For one sentence's CTC output distribution the search approximately finds

    y* = argmax_y  log p(y|x) + alpha * log p_LM(y) + beta * log |y|            (Eq. 6)

where p(y|x) is the CTC probability of the collapsed output y, summed over all alignments
(here: over the alignments that survive in the beam), p_LM the n-gram LM probability of y
including the end of sentence, and |y| the number of output tokens.

How it is computed. flashlight-text's LexiconFreeDecoder (C++) runs a CTC prefix beam search:
hypotheses are prefixes (plus whether the last frame was blank), paths that reach the same
state are merged by log-add (log_add=True), so a prefix's acoustic score is the log of its
summed alignment probabilities; each emitted token is scored by the LM as it is emitted, and the
LM end of sentence is scored when the search finishes (`decodeEnd` calls `LM.finish`). The
search itself ranks by  am + alpha * lm  only: the length term is not additive over tokens, so
the final n-best list (`beam` hypotheses, one per distinct output) is re-ranked by the full
Eq. (6) with beta * log|y|. beta therefore only reorders the hypotheses that survived the
search; a larger beam gives it more to choose from. An empty output counts as |y| = 1
(log|y| = 0) so that its score stays finite.

Units. All returned scores are natural logarithms. flashlight's KenLM wrapper returns KenLM's
native log10 scores (checked: its per-token scores plus `finish` sum to exactly
`kenlm.Model.score(sentence, bos=True, eos=True)`), so the search runs with
lm_weight = alpha * ln(10) and `Hypothesis.lm_score` is the log10 score times ln(10). Hence
`alpha` weights the natural-log LM probability; alpha = w / ln(10) ~ 0.434 w reproduces a
wav2letter/flashlight-style `lm_weight` w applied to log10 scores.

Vocabulary. `tokens` is the target dictionary's symbol list (index -> string, e.g. fairseq
`Dictionary.symbols`); the LM is queried with those strings (train it on the BPE-segmented
distilled targets with scripts/train_lm.py so LM units are dictionary units). Strings the LM
has never seen score as <unk>. The blank is never emitted nor scored; special symbols the
model should not produce (pad, bos, eos, unk) are best masked to -inf in `log_probs`.

A CTCBeamSearch holds one decoder and is not thread-safe; use one per thread.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from dataclasses import dataclass

import torch

LN10 = math.log(10.0)
# -inf log-probabilities are clamped to this floor before the C++ search (no inf - inf there).
_LOG_PROB_FLOOR = -1e9


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


class CTCBeamSearch:
    """CTC prefix beam search (flashlight-text LexiconFreeDecoder) + optional KenLM, Eq. (6).

    tokens: index -> string of the target dictionary (the LM vocabulary).
    blank: index of the CTC blank.
    beam: hypotheses kept per frame, and the size of the returned n-best (paper: 20).
    lm_path: KenLM file (binary from scripts/train_lm.py, or ARPA); None: no LM (alpha ignored).
    alpha, beta: Eq. (6) weights of ln p_LM(y) and log|y|.
    beam_size_token: tokens tried per frame, the most probable ones of that frame; None: the
        min(V, max(beam, 40)) best (every extension of every hypothesis is LM-scored, so all V
        tokens of a 10k-BPE vocabulary would be slow; 40 is ctcdecode's cutoff_top_n).
    beam_threshold: drop hypotheses scoring more than this below the frame's best.
    """

    def __init__(self, tokens: list[str], blank: int, beam: int = 20, lm_path: str | None = None,
                 alpha: float = 0.0, beta: float = 0.0, beam_size_token: int | None = None,
                 beam_threshold: float = 25.0):
        from flashlight.lib.text.decoder import (CriterionType, LexiconFreeDecoder,
                                                 LexiconFreeDecoderOptions, ZeroLM)

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

        if self.lm_path is None:
            self._lm = ZeroLM()
        else:
            from flashlight.lib.text.decoder.kenlm import KenLM
            from flashlight.lib.text.dictionary import Dictionary

            duplicates = sorted(s for s, n in Counter(self.tokens).items() if n > 1)
            if duplicates:
                raise ValueError(f"CTCBeamSearch: duplicate token strings {duplicates[:5]}: the LM "
                                 "needs one string per index")
            if not os.path.isfile(self.lm_path):
                raise FileNotFoundError(f"CTCBeamSearch: LM file not found: {self.lm_path}")
            self._lm = KenLM(self.lm_path, Dictionary(self.tokens))
        # flashlight's KenLM scores are log10: scale so that the search uses alpha * ln p_LM.
        self._lm_weight = self.alpha * LN10
        options = LexiconFreeDecoderOptions(
            beam_size=self.beam, beam_size_token=self.beam_size_token,
            beam_threshold=self.beam_threshold, lm_weight=self._lm_weight, sil_score=0.0,
            log_add=True, criterion_type=CriterionType.CTC)
        # The "silence" index is the blank: the search starts from a virtual blank frame (so the
        # first real token is always emitted) and marks the end with it; sil_score 0 adds nothing.
        self._decoder = LexiconFreeDecoder(options, self._lm, blank, blank, [])

    def search(self, log_probs: torch.Tensor) -> list[Hypothesis]:
        """n-best (at most `beam`, distinct outputs) for one sentence, best first by Eq. (6).

        log_probs: [T, V] CTC log-probabilities of the sentence's real positions, any device and
        floating dtype (copied to float32 on the CPU).
        """
        if log_probs.dim() != 2 or log_probs.size(1) != len(self.tokens):
            raise ValueError(f"CTCBeamSearch.search: expected log_probs of shape [T, {len(self.tokens)}], "
                             f"got {list(log_probs.shape)}")
        emissions = log_probs.detach().to(device="cpu", dtype=torch.float32)
        if torch.isnan(emissions).any():
            raise ValueError("CTCBeamSearch.search: log_probs contain NaN")
        # A new contiguous tensor that stays referenced for the whole C++ call.
        emissions = emissions.clamp(min=_LOG_PROB_FLOOR).contiguous()
        frames, vocab = emissions.shape
        results = self._decoder.decode(emissions.data_ptr(), frames, vocab)

        best: dict[tuple[int, ...], Hypothesis] = {}
        for result in results:
            tokens = ctc_collapse(result.tokens, self.blank)
            lm_log10 = result.lmScore if self.lm_path is not None else 0.0
            # result.score = log-added (am + lm_weight * lm) over merged paths, all with the same
            # output and thus the same LM score; emittingModelScore is a single path's, not used.
            am = result.score - self._lm_weight * lm_log10
            lm = lm_log10 * LN10
            score = am + self.alpha * lm + self.beta * math.log(max(len(tokens), 1))
            key = tuple(tokens)
            if key not in best or score > best[key].score:
                best[key] = Hypothesis(tokens=tokens, am_score=am, lm_score=lm, score=score)
        return sorted(best.values(), key=lambda hyp: hyp.score, reverse=True)
