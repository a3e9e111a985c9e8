"""`--task translation_fully_nat`: plain translation data (raw or distilled data-bin) for the
Fully-NAT model, and its one-pass generator (natpipe.systems.fully_nat.generator) for fairseq-generate
and the speed harness: greedy, CTC beam search with an optional n-gram LM, NPD.
"""

# No `from __future__ import annotations`: fairseq reads these dataclass field types at runtime.
from dataclasses import dataclass, field

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from natpipe.systems.fully_nat.system import FullyNAT


@dataclass
class FullyNATTaskConfig(TranslationConfig):
    ctc_beam: int = field(default=FullyNAT.default("ctc_beam"), metadata={"help": "CTC beam size (1: argmax + collapse)"})
    ctc_lm_path: str = field(default="", metadata={"help": "KenLM binary over target subword units"})
    ctc_lm_alpha: float = field(default=0.0, metadata={"help": "alpha of Eq. (6): LM weight"})
    ctc_lm_beta: float = field(default=0.0, metadata={"help": "beta of Eq. (6): weight of log |y|"})
    npd_samples: int = field(default=FullyNAT.default("npd"), metadata={"help": "m latents of noisy parallel decoding (1: prior mean)"})
    npd_temperature: float = field(default=FullyNAT.default("npd_temperature"), metadata={"help": "temperature of NPD's prior samples"})
    npd_teacher_path: str = field(default="", metadata={"help": "AT checkpoint that reranks NPD candidates"})


@register_task("translation_fully_nat", dataclass=FullyNATTaskConfig)
class FullyNATTranslationTask(TranslationTask):
    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, prefix_allowed_tokens_fn=None):
        from natpipe.systems.fully_nat.generator import FullyNATGenerator

        from natpipe.checkpoints import load_auxiliary_model

        teacher = load_auxiliary_model(self.cfg.npd_teacher_path, self, models[0]) if self.cfg.npd_teacher_path else None
        return FullyNATGenerator(models[0], self.target_dictionary, beam=self.cfg.ctc_beam,
                                 lm_path=self.cfg.ctc_lm_path, alpha=self.cfg.ctc_lm_alpha, beta=self.cfg.ctc_lm_beta,
                                 npd_samples=self.cfg.npd_samples, npd_temperature=self.cfg.npd_temperature,
                                 teacher=teacher)
