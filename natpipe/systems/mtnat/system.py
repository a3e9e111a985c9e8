"""Registry entry of multi-task NAT with weak AR decoders (Wang et al. 2022, [MTNAT]).

A Fully-NAT model (any of its losses, glancing and decodings) with, in training only, weak
autoregressive decoders that read one NAR decoder layer each (§3). Its keys are Fully NAT's
plus the `ar_*` keys below; decoding is Fully NAT's, on the same NAR network.
"""
from __future__ import annotations

from natpipe.registry import config_error
from natpipe.systems.fully_nat.system import FullyNAT

AR_ATTACH = {
    "decoder": "one weak AR decoder on each NAR decoder layer (the paper, §3)",
    "decoder+encoder": "and a 7th on the encoder output (the reference code's default: 83.8M = 50.6M + 7 x 4.7M)",
    "encoder": "only one, on the encoder output (Hao et al. 2021's MTL, Table 1's CTC+MTL with ar_layers 6)",
}

AR_SETTINGS = {
    "ar_layers": {"description": "Transformer decoder layers of each weak AR decoder (the paper: 1; Figure 2 "
                                 "tries 1, 3, 6).", "type": "integer", "minimum": 1, "default": 1},
    "ar_attach": {"description": "Which states the AR decoders cross-attend: "
                                 + "; ".join(f"{k}: {v}" for k, v in AR_ATTACH.items()) + ".",
                  "enum": list(AR_ATTACH), "default": "decoder"},
    "ar_lambda": {"description": "lambda of Eq. (1): L = lambda L_NAR + (1 - lambda) sum_i L_AR^(i) (the paper: 0.5).",
                  "type": "number", "minimum": 0, "maximum": 1, "default": 0.5},
    "ar_reduce": {"description": "How the AR decoders' losses combine: sum (Eq. 1) or mean (the reference code).",
                  "enum": ["sum", "mean"], "default": "sum"},
    "ar_share": {"description": "One set of AR decoder parameters for every attachment point (Table 3's "
                                "parameter sharing).", "type": "boolean", "default": False},
    "ar_layer_dropout": {"description": "Train a random half of the AR decoders each update (Table 3's layer "
                                        "dropout; floor(n/2), at least 1, seeded per update).",
                         "type": "boolean", "default": False},
    "ar_label_smoothing": {"description": "Label smoothing of the AR decoders' cross-entropy (App. A: 0.1); the NAR "
                                          "loss keeps train.label_smoothing.", "type": "number", "minimum": 0,
                           "maximum": 1, "default": 0.1},
}


def ar_sources(decoder_layers: int, attach: str) -> list[str]:
    """The states the AR decoders read, in order: "decoder.1" .. "decoder.N", "encoder"."""
    layers = [f"decoder.{i}" for i in range(1, decoder_layers + 1)]
    return {"decoder": layers, "decoder+encoder": layers + ["encoder"], "encoder": ["encoder"]}[attach]


def ar_decoders_trained(count: int, layer_dropout: bool) -> int:
    """AR decoders that carry loss in a training update: all, or floor(count/2) (at least 1)."""
    return max(1, count // 2) if layer_dropout else count


class MultiTaskNAT(FullyNAT):
    kind = "mtnat"
    summary = ("multi-task NAT of Wang et al. 2022 (arch mtnat_transformer): Fully NAT plus weak AR decoders on "
               "its layers in training; decodes exactly as Fully NAT")
    fairseq_modules = ("model", "criterion")
    settings = {**FullyNAT.settings, **AR_SETTINGS}
    criterion = "mtnat_loss"

    def check(self, name, model, models):
        super().check(name, model, models)
        if model["arch"] != "mtnat_transformer":
            raise config_error(f"models.{name}.arch", "kind mtnat trains arch mtnat_transformer "
                               f"(got {model['arch']})")

    def model_args(self, model):
        return super().model_args(model) + ["--ar-layers", str(model["ar_layers"]), "--ar-attach",
                                             model["ar_attach"]] + (["--ar-share"] if model["ar_share"] else [])

    def criterion_args(self, model):
        return super().criterion_args(model) + [
            "--ar-lambda", str(model["ar_lambda"]), "--ar-reduce", model["ar_reduce"],
            "--ar-label-smoothing", str(model["ar_label_smoothing"])] + (
            ["--ar-layer-dropout"] if model["ar_layer_dropout"] else [])


SYSTEMS = [MultiTaskNAT()]
