"""Registry entries of vanilla NAT and CMLM (fairseq's translation_lev task and models).

The decoder input is the target with noise (every token masked for vanilla NAT, a random subset
for CMLM; fairseq's mask symbol is <unk>), the length is predicted from the encoder, and decoding
is iterative refinement: exactly `iterations` passes over `beam` candidate lengths.

Vanilla NAT reads, by default, a uniform copy of the source embeddings (Gu et al. 2018) instead
of identical <unk> embeddings that only positions tell apart. fairseq's copy indexes the source
from column 0 (fairseq issue #1316), so the source must be right-padded: --left-pad-source
(a toggle) in training and decoding. `init: bert` and `learned_positions` are the mask-predict
recipe's; with them the positions start 16x weaker than the scaled token embeddings (std 0.02
vs 0.02 * sqrt(d)), and on small budgets both students predict one token everywhere.
"""
from __future__ import annotations

from natpipe.registry import SpeedCost, System

ITERATIONS = {"iterations": {"description": "Decoding passes I (1 = one-shot; 10 as mask-predict), always all of them.",
                             "type": "integer", "minimum": 1, "default": 10}}


RECIPE = {
    "init": {"description": "Parameter init: bert (fairseq's --apply-bert-init, N(0, 0.02), the mask-predict recipe) "
                            "or transformer (fairseq's Transformer init).", "enum": ["bert", "transformer"],
             "default": "bert"},
    "learned_positions": {"description": "Learned positional embeddings (the mask-predict recipe); false: sinusoidal.",
                          "type": "boolean", "default": True},
}


class IterativeRefinementNAT(System):
    data_strategies = ("raw", "distill")
    settings = RECIPE
    decoding = ITERATIONS
    noise = ""
    objective_extra: tuple = ()

    def copies_source(self, model) -> bool:
        return False

    def padding_args(self, model) -> list[str]:
        """Right-padded sources for the source copy (fairseq's --left-pad-source toggles it off)."""
        return ["--left-pad-source"] if self.copies_source(model) else []

    def task_args(self, model, distill_bin):
        return ["--task", "translation_lev", "--noise", self.noise, *self.padding_args(model)]

    def model_args(self, model):
        args = ["--apply-bert-init"] if model["init"] == "bert" else []
        args += ["--encoder-learned-pos", "--decoder-learned-pos"] if model["learned_positions"] else []
        return args + (["--src-embedding-copy"] if self.copies_source(model) else [])

    def criterion_args(self, model):
        """fairseq's nat_loss: token loss plus the length loss."""
        return ["--criterion", "nat_loss", "--label-smoothing", str(model["train"]["label_smoothing"]),
                *self.objective_extra]

    def decode_args(self, search, model):
        """Exactly `iterations` passes (fairseq counts refinements after the first and, without
        --iter-decode-force-max-iter, stops early: CMLM10 would be a variable-cost system), the
        length beam decoded in parallel."""
        return ["--task", "translation_lev", *self.padding_args(model), "--iter-decode-max-iter", str(search["iterations"] - 1),
                "--iter-decode-force-max-iter", "--iter-decode-with-beam", str(search["beam"]),
                "--iter-decode-eos-penalty", "0", "--beam", "1", "--max-tokens", str(search["max_tokens"])]

    def speed_cost(self, model):
        """HRT Table 10's CMLM1 / CMLM4 / CMLM10 (length beam 5), linear between them in the
        iterations I, CMLM10 x I/10 beyond; a length beam over 5 costs in proportion."""
        generate = model["generate"]
        iterations, weight = generate["iterations"], max(1.0, generate["beam"] / 5)
        if iterations > 10:
            return SpeedCost((("CMLM10", "", weight * iterations / 10),))
        low, high = (1, 4) if iterations <= 4 else (4, 10)
        share = (iterations - low) / (high - low)
        return SpeedCost(((f"CMLM{low}", "", weight * (1 - share)), (f"CMLM{high}", "", weight * share)))


class VanillaNAT(IterativeRefinementNAT):
    kind = "nat"
    summary = "vanilla NAT (Gu et al. 2018; arch nonautoregressive_transformer)"
    noise = "full_mask"
    objective_extra = ("--pred-length-offset", "--length-loss-factor", "0.1")
    settings = {**RECIPE, "decoder_input": {
        "description": "copy: a uniform copy of the source embeddings (Gu et al. 2018); mask: <unk> everywhere "
                       "(fairseq's recipe).", "enum": ["copy", "mask"], "default": "copy"}}

    def copies_source(self, model) -> bool:
        return model["decoder_input"] == "copy"


class CMLM(IterativeRefinementNAT):
    kind = "cmlm"
    summary = "CMLM / mask-predict (arch cmlm_transformer)"
    noise = "random_mask"
    fills_masks = True


SYSTEMS = [VanillaNAT(), CMLM()]
