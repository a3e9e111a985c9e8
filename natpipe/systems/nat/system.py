"""Registry entries of vanilla NAT and CMLM (fairseq's translation_lev task and models).

The decoder input is the target with noise (every token masked for vanilla NAT, a random subset
for CMLM; fairseq's mask symbol is <unk>), the length is predicted from the encoder, and decoding
is iterative refinement: exactly `iterations` passes over `beam` candidate lengths.
"""
from __future__ import annotations

from natpipe.registry import System

ITERATIONS = {"iterations": {"description": "Decoding passes I (1 = one-shot; 10 as mask-predict), always all of them.",
                             "type": "integer", "minimum": 1, "default": 10}}


class IterativeRefinementNAT(System):
    data_strategies = ("raw", "distill")
    decoding = ITERATIONS
    noise = ""
    objective_extra: tuple = ()

    def task_args(self, model, distill_bin):
        return ["--task", "translation_lev", "--noise", self.noise]

    def criterion_args(self, model):
        """fairseq's nat_loss (token + length loss) with the BERT-style init and learned positions
        of the mask-predict recipe."""
        return ["--criterion", "nat_loss", "--label-smoothing", str(model["train"]["label_smoothing"]),
                "--apply-bert-init", "--encoder-learned-pos", "--decoder-learned-pos", *self.objective_extra]

    def decode_args(self, search, model):
        """Exactly `iterations` passes (fairseq counts refinements after the first and, without
        --iter-decode-force-max-iter, stops early: CMLM10 would be a variable-cost system), the
        length beam decoded in parallel."""
        return ["--task", "translation_lev", "--iter-decode-max-iter", str(search["iterations"] - 1),
                "--iter-decode-force-max-iter", "--iter-decode-with-beam", str(search["beam"]),
                "--iter-decode-eos-penalty", "0", "--beam", "1", "--max-tokens", str(search["max_tokens"])]


class VanillaNAT(IterativeRefinementNAT):
    kind = "nat"
    summary = "vanilla NAT (Gu et al. 2018; arch nonautoregressive_transformer)"
    noise = "full_mask"
    objective_extra = ("--pred-length-offset", "--length-loss-factor", "0.1")


class CMLM(IterativeRefinementNAT):
    kind = "cmlm"
    summary = "CMLM / mask-predict (arch cmlm_transformer)"
    noise = "random_mask"
    fills_masks = True


SYSTEMS = [VanillaNAT(), CMLM()]
