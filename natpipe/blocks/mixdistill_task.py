"""`--task translation_mixdistill`: the translation task whose training split is MixDistill.

Usable by every natpipe system: `--distill-data` points at the distilled data-bin (same
dictionary as the raw one), `--p-raw` is the probability of the raw target.
"""

# No `from __future__ import annotations`: fairseq reads these dataclass field types at runtime.
from dataclasses import dataclass, field

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask, load_langpair_dataset
from omegaconf import II

from natpipe.blocks.mixdistill import MixDistillDataset
from natpipe.config import base_schema


@dataclass
class MixDistillConfig(TranslationConfig):
    distill_data: str = field(default="", metadata={"help": "data-bin of the distilled training set"})
    p_raw: float = field(default=base_schema()["$defs"]["model"]["properties"]["p_raw"]["default"], metadata={"help": "probability that an example uses its raw target"})
    seed: int = II("common.seed")


@register_task("translation_mixdistill", dataclass=MixDistillConfig)
class MixDistillTranslationTask(TranslationTask):
    def load_dataset(self, split, epoch=1, combine=False, **kwargs):
        super().load_dataset(split, epoch=epoch, combine=combine, **kwargs)
        if split != self.cfg.train_subset:
            return
        if not self.cfg.distill_data:
            raise ValueError("--task translation_mixdistill needs --distill-data")
        raw = self.datasets[split]
        distilled = load_langpair_dataset(
            self.cfg.distill_data, split, self.cfg.source_lang, self.src_dict, self.cfg.target_lang, self.tgt_dict,
            combine=combine, dataset_impl=self.cfg.dataset_impl, upsample_primary=self.cfg.upsample_primary,
            left_pad_source=self.cfg.left_pad_source, left_pad_target=self.cfg.left_pad_target,
            max_source_positions=self.cfg.max_source_positions, max_target_positions=self.cfg.max_target_positions,
            truncate_source=self.cfg.truncate_source, shuffle=True,
            pad_to_multiple=self.cfg.required_seq_len_multiple)
        self.datasets[split] = MixDistillDataset(raw, distilled, self.cfg.p_raw, self.cfg.seed)
