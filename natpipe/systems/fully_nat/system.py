"""Registry entry of Fully NAT: its config keys, checks, fairseq flags and decoding files."""
from __future__ import annotations

import json

from natpipe.registry import SpeedCost, System, config_error, decodings

ALIGNMENT = {"ce": "none", "axe": "axe", "ctc": "ctc"}  # config `loss` -> the model's latent alignment


class FullyNAT(System):
    kind = "fnat"
    summary = "fully NAT of Gu & Kong 2021 (arch fully_nat_transformer; decodes in one pass)"
    fairseq_modules = ("model", "criterion", "task")
    data_strategies = ("raw", "distill")
    settings = {
        "loss": {"description": "Likelihood term: ce (golden length + length predictor), axe (aligned "
                                "cross-entropy) or ctc (decoder upsampled x upsample_ratio).",
                 "enum": ["ce", "axe", "ctc"], "default": "ctc"},
        "upsample_ratio": {"description": "With loss ctc: decoder length / source length, lambda (Table 6 tries 1.5 .. 3).",
                           "type": "number", "exclusiveMinimum": 0, "default": 3.0},
        "vae": {
            "description": "VAE latents (Shu et al. 2020) added to the encoder output; null = none.",
            "type": ["object", "null"], "additionalProperties": False, "default": None,
            "properties": {
                "latent_dim": {"description": "D per source position.", "type": "integer", "minimum": 1, "default": 8},
                "posterior_layers": {"description": "Layers of q(z|x,y)'s encoder and of its decoder.",
                                     "type": "integer", "minimum": 1, "default": 3},
                "free_bits": {"description": "Initial free-bits budget, nats per source position.",
                              "type": "number", "minimum": 0, "default": 1.0},
                "anneal_updates": {"description": "Updates over which the budget falls to 0 (0: train.max_update).",
                                   "type": "integer", "minimum": 0, "default": 0}}},
        "glancing": {"description": "Glancing targets: none, glat (count ~ Poisson(f_ratio x distance)) or rnd "
                                    "(uniform count; Table 4's RND).", "enum": ["none", "glat", "rnd"], "default": "none"},
        "f_ratio": {"description": "glat: f_ratio of Eq. (5).", "type": "number", "minimum": 0, "default": 0.5},
    }
    decoding = {
        "ctc_beam": {"description": "With loss ctc: CTC beam size (1 = argmax + collapse; the paper's beam search uses 20).",
                     "type": "integer", "minimum": 1, "default": 1},
        "lm": {"description": "Add the corpus's n-gram LM (ctc_lm) to the CTC beam search with Eq. (6)'s alpha, beta.",
               "type": "boolean", "default": False},
        "lm_alpha": {"description": "LM weight alpha (null = tuned on the valid set over ctc_lm.alpha_grid).",
                     "type": ["number", "null"], "default": None},
        "lm_beta": {"description": "Weight beta of log|y| (null = tuned over ctc_lm.beta_grid).",
                    "type": ["number", "null"], "default": None},
        "npd": {"description": "With vae: noisy parallel decoding with this many latents (1 = the prior mean), "
                               "reranked by the teacher.", "type": "integer", "minimum": 1, "default": 1},
        "npd_temperature": {"description": "Temperature of NPD's prior samples.", "type": "number", "minimum": 0,
                            "default": 0.1},
    }

    decoding_file_keys = {"npd_teacher_checkpoint": "the model's distillation teacher, which reranks NPD's candidates",
                          "lm_path": "the n-gram LM of that teacher's distilled targets (binary KenLM)",
                          "lm_weights_file": "the (alpha, beta) tuned for this row"}

    def has_latents(self, model):
        return bool(model["vae"])

    def check(self, name, model, models):
        super().check(name, model, models)
        for where, generate in decodings(model):
            if generate.get("ctc_beam", 1) > 1 and model["loss"] != "ctc":
                raise config_error(f"models.{name}.{where}.ctc_beam", "beam search needs loss: ctc")
            if generate.get("lm") and generate.get("ctc_beam", 1) < 2:
                raise config_error(f"models.{name}.{where}.lm", "the LM is used by CTC beam search: set ctc_beam > 1")
            if generate.get("npd", 1) > 1 and not model["vae"]:
                raise config_error(f"models.{name}.{where}.npd", "noisy parallel decoding samples VAE latents: set vae")

    def task_args(self, model, distill_bin):
        return ["--task", "translation_fully_nat"]

    def model_args(self, model):
        """Loss family, CTC upsampling ratio, VAE latents."""
        vae = model["vae"]
        args = ["--latent-alignment", ALIGNMENT[model["loss"]], "--upsample-ratio", str(model["upsample_ratio"])]
        return args + (["--latent-dim", str(vae["latent_dim"]), "--posterior-layers", str(vae["posterior_layers"])]
                       if vae else [])

    criterion = "fully_nat_loss"  # the fairseq criterion that trains this kind

    def criterion_args(self, model):
        args = ["--criterion", self.criterion, "--label-smoothing", str(model["train"]["label_smoothing"]),
                "--glancing", model["glancing"], "--glance-f-ratio", str(model["f_ratio"])]
        vae = model["vae"]
        return args + (["--free-bits", str(vae["free_bits"]), "--free-bits-anneal-updates", str(vae["anneal_updates"])]
                       if vae else [])

    def decoding_files(self, generate, files, row):
        """NPD reranks with the model's distillation teacher; the LM beam reads the n-gram LM of
        that teacher's distilled targets and, unless
        both weights are given, the (alpha, beta) tuned for this row."""
        found = {}
        if generate.get("npd", 1) > 1:
            found["npd_teacher_checkpoint"] = files.teacher_checkpoint()
        if generate.get("lm"):
            found["lm_path"] = files.distilled_lm()
            if generate.get("lm_alpha") is None or generate.get("lm_beta") is None:
                found["lm_weights_file"] = files.path("lm_weights", system=row)
        return found

    def standalone_decoding(self, generate):
        """Without NPD's teacher and the LM: one latent (the prior mean), beam without LM."""
        return {**generate, "npd": 1, "lm": False}

    def decode_args(self, search, model):
        """Greedy or CTC beam (1 = greedy), the n-gram LM with Eq. (6)'s alpha/beta (tuned values
        from `lm_weights_file` unless given), NPD with the teacher's checkpoint."""
        args = ["--task", "translation_fully_nat", "--ctc-beam", str(search["ctc_beam"]), "--beam", "1",
                "--max-tokens", str(search["max_tokens"])]
        if search["lm"]:
            weights = {"alpha": search["lm_alpha"], "beta": search["lm_beta"]}
            if None in weights.values():
                if not search.get("lm_weights_file"):
                    raise config_error("generate.lm", "needs lm_alpha and lm_beta or a tuned lm_weights_file")
                with open(search["lm_weights_file"], encoding="utf-8") as handle:
                    tuned = json.load(handle)
                weights = {k: tuned[k] if v is None else v for k, v in weights.items()}
            args += ["--ctc-lm-path", search["lm_path"], "--ctc-lm-alpha", str(weights["alpha"]),
                     "--ctc-lm-beta", str(weights["beta"])]
        if search["npd"] > 1:
            args += ["--npd-samples", str(search["npd"]), "--npd-temperature", str(search["npd_temperature"]),
                     "--npd-teacher-path", search["npd_teacher_checkpoint"]]
        return args

    def speed_cost(self, model):
        """One decoder pass costed as HRT Table 10's CMLM1 (5 length candidates of N positions
        each; a CTC decoder has one of upsample_ratio x N, so ratios over 5 cost in proportion).
        NPD with n latents: 1 + n of those ([FNAT] Table 3: NPD5 took 3.7x / 2.1x the greedy
        latency on CPU / GPU at B=1; on the sample's CPU 3.2x at B=1 and 5.9x at B=32, README
        "Measured"). CTC beam search adds CTC_BEAM_S per sentence and candidate, on the CPU."""
        generate = model["generate"]
        ratio = model["upsample_ratio"] if model["loss"] == "ctc" else 1.0
        candidates = generate["npd"]
        weight = max(1.0, ratio / 5) * (1 + candidates if candidates > 1 else 1)
        search = 0.0
        if generate["ctc_beam"] > 1:
            search = (CTC_BEAM_S * generate["ctc_beam"] / 20 * ratio / 3 * candidates
                      * (CTC_BEAM_LM_FACTOR if generate["lm"] else 1.0))
        return SpeedCost((("CMLM1", "", weight),), search)


# natpipe.blocks.ctc_beam (Python + numpy, one sentence at a time) at beam 20 over 96 frames (a
# 32-token source at upsample_ratio 3) and a 40k vocabulary: 71 ms per sentence measured on the
# 2-core test machine (random peaked emissions, no LM), rounded up. Its docstring puts the search
# at 1.3-1.7x a C++ decoder's speed without an LM and 0.6-0.8x with a 4-gram LM: the LM up to ~3x.
CTC_BEAM_S = 0.1
CTC_BEAM_LM_FACTOR = 3.0

SYSTEMS = [FullyNAT()]
