"""Registry entry of hint-based NART ([HINT], Li et al. 2019): its keys, checks and fairseq flags.

The student reads the corpus's AT teacher (its distill_teacher, else the corpus's) in every training
step: the teacher's checkpoint is a declared training input, so retraining the teacher retrains the
student. With hint_lambda = hint_mu = 0 (Table 2's L_nll row) it reads no teacher.
"""
from __future__ import annotations

from natpipe.registry import SpeedCost, System, config_error

# The paper sets (gamma_st, gamma_tr, lambda, mu) so that the three loss terms have similar scale
# after initialisation and gives no numbers. Measured at initialisation on the sample (20 batches of
# the distilled data, the 3-layer teacher; README "Hint-based NART"): L_nll 8.39 nats per token,
# L_align 1.94, L_hid 0.56 at gamma 0.5 / 0.5 (the student's median pair cosine is 0.55, 75% of the
# teacher's are below 0.5; the paper's teacher: 95%). lambda = 15 and mu = 4 bring both hints to
# L_nll's scale (8.4 and 7.8).
HINT_SETTINGS = {
    "hint_lambda": {"description": "lambda of Eq. (3): weight of L_hid, the hints on hidden states (0: none).",
                    "type": "number", "minimum": 0, "default": 15.0},
    "hint_mu": {"description": "mu of Eq. (3): weight of L_align, the hints on word alignments (0: none).",
                "type": "number", "minimum": 0, "default": 4.0},
    "gamma_st": {"description": "gamma_st: L_hid penalises a pair of student states whose cosine is at least this.",
                 "type": "number", "minimum": -1, "maximum": 1, "default": 0.5},
    "gamma_tr": {"description": "gamma_tr: L_hid penalises such a pair only where the teacher's cosine of it is at "
                                "most this.",
                 "type": "number", "minimum": -1, "maximum": 1, "default": 0.5},
}
DECODING = {
    "halfwidth": {"description": "B: decode the 2B+1 lengths T_x+C-B .. T_x+C+B in parallel and keep the candidate "
                                 "the AR teacher scores best (0: the single length T_x+C).",
                  "type": "integer", "minimum": 0, "default": 0},
}


def uses_teacher(model: dict) -> bool:
    """Whether training reads the teacher: some hint carries weight."""
    return model["hint_lambda"] > 0 or model["hint_mu"] > 0


class HintNART(System):
    kind = "hint_nart"
    summary = ("hint-based NART of Li et al. 2019 (arch hint_nart_transformer): uniform-copy NAT trained with "
               "hints from the AR teacher's hidden states and attentions; length T_x + C")
    fairseq_modules = ("model", "criterion", "task")
    data_strategies = ("raw", "distill")
    settings = HINT_SETTINGS
    decoding = DECODING
    decoding_file_keys = {"rescore_teacher_checkpoint": "the AR teacher that rescores the 2B+1 length candidates"}

    def check(self, name, model, models):
        super().check(name, model, models)
        if model["arch"] != "hint_nart_transformer":
            raise config_error(f"models.{name}.arch", f"kind hint_nart trains arch hint_nart_transformer (got {model['arch']})")

    def task_args(self, model, distill_bin):
        return ["--task", "translation_hint_nart"]

    def criterion_args(self, model):
        return ["--criterion", "hint_nart_loss", "--label-smoothing", str(model["train"]["label_smoothing"]),
                "--hint-lambda", str(model["hint_lambda"]), "--hint-mu", str(model["hint_mu"]),
                "--gamma-st", str(model["gamma_st"]), "--gamma-tr", str(model["gamma_tr"])]

    def training_inputs(self, model, files):
        return {"teacher": files.teacher_checkpoint()} if uses_teacher(model) else {}

    def training_input_args(self, inputs):
        return ["--hint-teacher-path", inputs["teacher"]] if "teacher" in inputs else []

    def decoding_files(self, generate, files, row):
        return {"rescore_teacher_checkpoint": files.teacher_checkpoint()} if generate.get("halfwidth", 0) > 0 else {}

    def standalone_decoding(self, generate):
        """The single length T_x + C (no teacher)."""
        return {**generate, "halfwidth": 0}

    def decode_args(self, search, model):
        args = ["--task", "translation_hint_nart", "--length-halfwidth", str(search["halfwidth"]), "--beam", "1",
                "--max-tokens", str(search["max_tokens"])]
        if search["halfwidth"] > 0:
            args += ["--rescore-teacher-path", search["rescore_teacher_checkpoint"]]
        return args

    def speed_cost(self, model):
        """One decoder pass over 5 length candidates is HRT Table 10's CMLM1: a single length is
        counted as that (not cheaper), 2B+1 candidates in proportion, and their teacher rescoring
        (one forced pass of the AT teacher over all of them) as much again."""
        candidates = 2 * model["generate"]["halfwidth"] + 1
        weight = max(1.0, candidates / 5) * (2 if candidates > 1 else 1)
        return SpeedCost((("CMLM1", "", weight),))


SYSTEMS = [HintNART()]
