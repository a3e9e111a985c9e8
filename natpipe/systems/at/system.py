"""Registry entry of the autoregressive Transformer (fairseq's own model, task and beam search)."""
from __future__ import annotations

from natpipe.registry import SpeedCost, System


class AutoregressiveTransformer(System):
    kind = "at"
    summary = "autoregressive Transformer (teachers; arch transformer, transformer_wmt_en_de_big, ...)"
    teaches = True
    # A fairseq `transformer` checkpoint is what CTranslate2 converts (natpipe/decoding/ctranslate2.py):
    # the workflow adds a row per compute type of the `ctranslate2` settings, generate.engine ctranslate2.
    converts_to_ctranslate2 = True
    decoding = {
        "engine": {"description": "Decoder of the row: fairseq's beam search, or CTranslate2 running the model "
                                  "converted by ct2-fairseq-converter (the rows the ctranslate2 settings add).",
                   "enum": ["fairseq", "ctranslate2"], "default": "fairseq"},
        "compute_type": {"description": "CTranslate2's compute type (engine ctranslate2 only).",
                         "enum": ["float32", "int8", "int8_float32", "int16", "float16", "bfloat16",
                                  "int8_float16", "int8_bfloat16"], "default": "float32"},
        "intra_threads": {"description": "CTranslate2's CPU threads (engine ctranslate2; null = the job's, "
                                         "speed.threads when timed).",
                          "type": ["integer", "null"], "minimum": 1, "default": None},
    }
    decoding_file_keys = {"ct2_model": "the model converted by ct2-fairseq-converter (engine ctranslate2)"}

    def task_args(self, model, distill_bin):
        if model["data"] == "mixdistill":
            return ["--task", "translation_mixdistill", "--distill-data", distill_bin, "--p-raw", str(model["p_raw"])]
        return ["--task", "translation"]

    def criterion_args(self, model):
        return ["--criterion", "label_smoothed_cross_entropy", "--label-smoothing", str(model["train"]["label_smoothing"])]

    def decode_args(self, search, model):
        return ["--task", "translation", *beam_search_args(search)]

    def speed_cost(self, model):
        """HRT Table 10's AT (beam 5); a wider beam costs in proportion, a narrower one is not
        counted cheaper (its per-step overhead stays)."""
        return SpeedCost((("AT", "", max(1.0, model["generate"]["beam"] / 5)),))


def beam_search_args(search: dict) -> list[str]:
    """fairseq's beam search: test decoding of AT rows and the teacher's distillation."""
    return ["--beam", str(search["beam"]), "--lenpen", str(search["lenpen"]), "--max-tokens", str(search["max_tokens"]),
            "--max-len-a", str(search["max_len_a"]), "--max-len-b", str(search["max_len_b"])]


SYSTEMS = [AutoregressiveTransformer()]
