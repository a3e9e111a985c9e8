"""`--task translation_hrt`: MixDistill translation data (or raw data alone) for HRT training,
and HRT's two-stage generator (natpipe.systems.hrt.generator) for fairseq-generate and the speed harness.
"""

# No `from __future__ import annotations`: fairseq reads these dataclass field types at runtime.
from dataclasses import dataclass, field

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationTask

from natpipe.blocks.mixdistill_task import MixDistillConfig, MixDistillTranslationTask
from natpipe.systems.hrt.system import HybridRegressive


@dataclass
class HRTTaskConfig(MixDistillConfig):
    chunk_size: int = field(default=HybridRegressive.default("chunk_size"), metadata={"help": "k: Skip-AT generates every k-th token"})
    hrt_b_nat: int = field(default=HybridRegressive.default("b_nat"), metadata={"help": "Skip-AT hypotheses (of --beam) passed to Skip-CMLM"})
    hrt_skip_cmlm_path: str = field(default="", metadata={
        "help": "checkpoint whose Skip-CMLM fills the masks (HRT Table 7 swap); default the --path model"})


@register_task("translation_hrt", dataclass=HRTTaskConfig)
class HRTTranslationTask(MixDistillTranslationTask):
    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        if self.cfg.distill_data:
            return super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
        return TranslationTask.load_dataset(self, split, epoch=epoch, combine=combine, **kwargs)

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, prefix_allowed_tokens_fn=None):
        from natpipe.systems.hrt.generator import HRTGenerator

        from natpipe.checkpoints import load_auxiliary_model

        path = self.cfg.hrt_skip_cmlm_path
        skip_cmlm = load_auxiliary_model(path, self, models[0]) if path else None
        return HRTGenerator(models[0], self.target_dictionary, k=self.cfg.chunk_size, b_at=getattr(args, "beam", 5),
                            b_nat=self.cfg.hrt_b_nat, max_len_a=getattr(args, "max_len_a", 0),
                            max_len_b=getattr(args, "max_len_b", 200), skip_cmlm_model=skip_cmlm)
