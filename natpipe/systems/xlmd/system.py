"""Registry entry of XLM-D (Wang et al.): XLM-R decorated as a NAT; its keys, checks and flags.

The model starts from a pretrained XLM-R (config `pretrained`, a declared training input: the
unpacked checkpoint of the data stage) and its data is segmented and binarized with that archive's
SentencePiece model and dictionary. `pretrained: null` is Table 6's "Reset": the same architecture
initialised at random as XLM-R was; such a row still uses the XLM-R vocabulary when `vocabulary`
names it, else the corpus's own (the default CPU run's tiny model).
"""
from __future__ import annotations

from natpipe.registry import SpeedCost, System, config_error, decodings

RESET_INITS = ("xlmr", "transformer")
ARCH_LAYERS = {"xlmd_base": 12, "xlmd_large": 24}  # XLM-R base / large depth, unless encoder_layers says otherwise

XLMD_SETTINGS = {
    "pretrained": {"description": "The key of `pretrained` (an XLM-R checkpoint) whose weights the model starts "
                                  "from; null: random initialisation (Table 6's Reset).",
                   "type": ["string", "null"], "default": None},
    "decorator_layer": {"description": "M: the decorator sits after layer M (0: after the embeddings); layers "
                                       "M+1.. run on the upsampled sequence only.",
                        "type": "integer", "minimum": 0, "default": 0},
    "upsample_ratio": {"description": "s: the latent transformation turns I source states into s*I (Table 5: "
                                      "1.5 .. 3), capped at XLM-R's 512 positions.",
                       "type": "number", "exclusiveMinimum": 0, "default": 2.0},
    "decorator_scale": {"description": "gamma of Eq. (4): z' = (z + e[a]) * gamma + p.",
                        "type": "number", "exclusiveMinimum": 0, "default": 0.5},
    "add_and_scale": {"description": "The position-wise add & scale module (iterative XLM-D, trained with "
                                     "block-masked alignments and constrained CTC); false: 'LT only', "
                                     "single-step, plain CTC.", "type": "boolean", "default": True},
    "sigma_init": {"description": "Initial sigma of the distance-based latent transformation (its only "
                                  "trainable parameter; the paper gives no value).",
                   "type": "number", "exclusiveMinimum": 0, "default": 1.0},
    "reset_init": {"description": "Random initialisation of a model without `pretrained`: xlmr = XLM-R's own "
                                  "(BERT's N(0, 0.02), Table 6's Reset); transformer = fairseq's Transformer init "
                                  "(Xavier-uniform, N(0, d^-1/2) embeddings), with which a small model learns on the "
                                  "sample.", "enum": list(RESET_INITS), "default": "xlmr"},
    "mask_block": {"description": "B of Algorithm 1: the best alignment is cut into blocks of B positions and "
                                  "k ~ U{1..B} random positions of each block are masked (one share per sentence).",
                   "type": "integer", "minimum": 1, "default": 8},
}
DECODING = {
    "iterations": {"description": "T: decoding steps (1: one pass from an all-[MASK] alignment).",
                   "type": "integer", "minimum": 1, "default": 1},
    "block": {"description": "Re-masking blocks: 'dynamic' (block size = T, Table 9's Dynamic) or a static size "
                             "(Table 9's Static: 8).",
              "oneOf": [{"const": "dynamic"}, {"type": "integer", "minimum": 1}], "default": "dynamic"},
}


def depth(model: dict) -> int:
    return model.get("encoder_layers") or ARCH_LAYERS.get(model["arch"], 12)


class XLMD(System):
    kind = "xlmd"
    summary = ("XLM-D of Wang et al. (arch xlmd_base / xlmd_large): an XLM-R encoder with a decorator "
               "(latent transformation, add & scale) after layer M, trained with CTC; iterative block decoding")
    fairseq_modules = ("model", "criterion", "task")
    data_strategies = ("raw", "distill")
    settings = XLMD_SETTINGS
    decoding = DECODING

    def pretrained(self, model):
        return model["pretrained"]

    def vocabulary(self, model):
        """The pretrained model's vocabulary (its embeddings index that dictionary), or the one named."""
        return model.get("vocabulary") or model["pretrained"]

    def check(self, name, model, models):
        super().check(name, model, models)
        if model["arch"] not in ARCH_LAYERS:
            raise config_error(f"models.{name}.arch", f"kind xlmd trains arch {' or '.join(ARCH_LAYERS)} "
                               f"(got {model['arch']})")
        if model["decorator_layer"] > depth(model):
            raise config_error(f"models.{name}.decorator_layer",
                               f"M = {model['decorator_layer']} but the model has {depth(model)} layers")
        if model["pretrained"] and model.get("vocabulary") not in (None, model["pretrained"]):
            raise config_error(f"models.{name}.vocabulary", f"the pretrained {model['pretrained']} reads its own "
                               f"vocabulary, not {model['vocabulary']}")
        if model["pretrained"] and model["reset_init"] != "xlmr":
            raise config_error(f"models.{name}.reset_init", f"{model['reset_init']} initialises a model without "
                               f"`pretrained`; this one loads {model['pretrained']}")
        if model["pretrained"] and model["pre_norm"]:
            raise config_error(f"models.{name}.pre_norm", "XLM-R is post-norm: pre_norm is for models without "
                               "a pretrained checkpoint (Reset)")
        for where, generate in decodings(model):
            if generate.get("iterations", 1) > 1 and not model["add_and_scale"]:
                raise config_error(f"models.{name}.{where}.iterations",
                                   "'LT only' (add_and_scale: false) decodes in one step")

    def task_args(self, model, distill_bin):
        return ["--task", "translation_xlmd"]

    def model_args(self, model):
        args = ["--decorator-layer", str(model["decorator_layer"]), "--upsample-ratio", str(model["upsample_ratio"]),
                "--decorator-scale", str(model["decorator_scale"]), "--sigma-init", str(model["sigma_init"]),
                "--reset-init", model["reset_init"]]
        return args + ([] if model["add_and_scale"] else ["--no-add-and-scale"])

    def criterion_args(self, model):
        return ["--criterion", "xlmd_ctc", "--mask-block", str(model["mask_block"])]

    def training_inputs(self, model, files):
        return {"pretrained": files.path("pretrained_checkpoint", pretrained=model["pretrained"])} \
            if model["pretrained"] else {}

    def training_input_args(self, inputs):
        return ["--pretrained-checkpoint", inputs["pretrained"]] if "pretrained" in inputs else []

    def decode_args(self, search, model):
        return ["--task", "translation_xlmd", "--iterations", str(search["iterations"]),
                "--decode-block", str(search["block"]), "--beam", "1", "--max-tokens", str(search["max_tokens"])]

    def speed_cost(self, model):
        """HRT Table 10's CMLM1 is one pass of a 6+6 NAT over the target: M layers over the
        source once, then T passes of the other layers over s*I positions, in those units."""
        layers, m = depth(model), model["decorator_layer"]
        passes = (m + model["generate"]["iterations"] * (layers - m) * model["upsample_ratio"] / 2) / 12
        return SpeedCost((("CMLM1", "", max(1.0, passes)),))


SYSTEMS = [XLMD()]
