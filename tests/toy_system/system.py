"""Registry entry of the toy NAT: vanilla NAT whose length-loss weight is a config key and whose
training job also reads the corpus's teacher (the hook a hint-based NAT trains with)."""
from __future__ import annotations

from natpipe.systems.nat.system import VanillaNAT


class ToyNAT(VanillaNAT):
    kind = "toy_nat"
    summary = "toy vanilla NAT with a configurable length loss (tests only)"
    settings = {**VanillaNAT.settings,
                "length_loss": {"description": "Weight of the length predictor's loss.",
                                "type": "number", "minimum": 0, "default": 0.3}}

    def criterion_args(self, model):
        args = super().criterion_args(model)
        args[args.index("--length-loss-factor") + 1] = str(model["length_loss"])
        return args

    def training_inputs(self, model, files):
        return {"teacher": files.teacher_checkpoint()}

    def training_input_args(self, inputs):
        return ["--toy-teacher-path", inputs["teacher"]]


SYSTEMS = [ToyNAT()]
