"""Registry entry of HRT: its config keys, checks and fairseq flags."""
from __future__ import annotations

from natpipe.registry import SpeedCost, System, config_error, decodings, system_of
from natpipe.systems.at.system import beam_search_args


class HybridRegressive(System):
    kind = "hrt"
    summary = "hybrid-regressive translation (arch hrt_transformer)"
    fairseq_modules = ("model", "criterion", "task")
    settings = {
        "ablation": {"description": "HRT Table 9 row this model is: full (the reference), -FT, -MD, -CL, -TS or -ALL.",
                     "enum": ["full", "-FT", "-MD", "-CL", "-TS", "-ALL", None]},
        "init_from": {"description": "Fine-tune from this AT model's averaged checkpoint (FT, same architecture); "
                                     "null trains from scratch (the -FT ablation).",
                      "type": ["string", "null"], "default": None},
        "chunk_size": {"description": "k: Skip-AT generates every k-th token, Skip-CMLM fills the k-1 between.",
                       "type": "integer", "minimum": 2, "default": 2},
        "curriculum": {
            "description": "Curriculum p_k = (t/T)^lambda over the batch (Eq. 2).",
            "type": "object", "additionalProperties": False, "default": {},
            "properties": {
                "lambda": {"description": "Exponent (1: linear).", "type": "number", "exclusiveMinimum": 0,
                           "default": 1.0},
                "steps": {"description": "T (null: train.max_update; the -TS ablation trains fewer steps).",
                          "type": ["integer", "null"], "minimum": 1, "default": None},
                "enabled": {"description": "false: primary tasks only, p_k = 1 (the -CL ablation).",
                            "type": "boolean", "default": True}}},
    }
    decoding = {
        "b_nat": {"description": "How many Skip-AT hypotheses (of beam = b_at) Skip-CMLM completes (b_at >= b_nat).",
                  "type": "integer", "minimum": 1, "default": 1},
        "skip_cmlm_from": {"description": "Table 7 swap: fill the masks with this HRT model's Skip-CMLM "
                                          "(null: the row's own model).", "type": ["string", "null"], "default": None},
    }

    decoding_file_keys = {"skip_cmlm_checkpoint": "the averaged checkpoint of skip_cmlm_from"}

    def check(self, name, model, models):
        super().check(name, model, models)
        init = model["init_from"]
        if init and (init not in models or not system_of(models[init]).teaches):
            raise config_error(f"models.{name}.init_from", f"'{init}' is not a model of kind at")
        for where, generate in decodings(model):
            other = generate.get("skip_cmlm_from")
            if other and (other not in models or models[other]["kind"] != self.kind):
                raise config_error(f"models.{name}.{where}.skip_cmlm_from", f"'{other}' must be a model of kind hrt")

    def task_args(self, model, distill_bin):
        """MixDistill is built into the task; raw / distill pass the chosen data-bin alone."""
        mix = ["--distill-data", distill_bin, "--p-raw", str(model["p_raw"])] if model["data"] == "mixdistill" else []
        return ["--task", "translation_hrt", "--chunk-size", str(model["chunk_size"]), *mix]

    def criterion_args(self, model):
        curriculum = model["curriculum"]
        args = ["--criterion", "hrt_loss", "--label-smoothing", str(model["train"]["label_smoothing"]),
                "--curriculum-lambda", str(curriculum["lambda"])]
        # T explicit even when it is train.max_update: a training run in legs (train.bleu_at)
        # gives fairseq a smaller --max-update per leg
        args += ["--curriculum-steps", str(curriculum["steps"] or model["train"]["max_update"])]
        return args + ([] if curriculum["enabled"] else ["--no-curriculum"])

    def training_inputs(self, model, files):
        return {"init": files.checkpoint(model["init_from"])} if model["init_from"] else {}

    def training_input_args(self, inputs):
        """FT: start from the AT checkpoint unless the run resumes its own."""
        return ["--finetune-from-model", inputs["init"]] if "init" in inputs else []

    def decoding_files(self, generate, files, row):
        other = generate.get("skip_cmlm_from")
        return {"skip_cmlm_checkpoint": files.checkpoint(other)} if other else {}

    def standalone_decoding(self, generate):
        """The row's own Skip-CMLM (no Table 7 swap model)."""
        return {**generate, "skip_cmlm_from": None}

    def decode_args(self, search, model):
        """Skip-AT beam search (beam = b_at), then b_nat candidates through Skip-CMLM."""
        args = ["--task", "translation_hrt", "--chunk-size", str(model["chunk_size"]), "--hrt-b-nat", str(search["b_nat"])]
        args += ["--hrt-skip-cmlm-path", search["skip_cmlm_checkpoint"]] if search.get("skip_cmlm_checkpoint") else []
        return args + beam_search_args(search)

    def speed_cost(self, model):
        """HRT Table 10's HRT line of the row's setting: b_nat > 1 -> (b_at=5, b_nat=5); else
        k=4 (any k >= 4: a larger k is faster), k=3, or the default (b_at=5, b_nat=1, k=2). A
        beam over 5 costs in proportion; a smaller one is not counted cheaper."""
        generate, k = model["generate"], model["chunk_size"]
        setting = "b_at=5;b_nat=5" if generate["b_nat"] > 1 else ("k=4" if k >= 4 else "k=3" if k == 3 else "")
        return SpeedCost((("HRT", setting, max(1.0, generate["beam"] / 5, generate["b_nat"] / 5)),))


SYSTEMS = [HybridRegressive()]
