"""`--task translation_xlmd`: translation data (raw or distilled data-bin, one joined dictionary:
XLM-R's for a pretrained model) with XLM-R's `<mask>` added last, as fairseq's masked-LM task
adds it, so a pretrained checkpoint's embeddings fit; loads the pretrained weights into a freshly
built model (not into one a checkpoint restores); builds the iterative generator.
"""

# No `from __future__ import annotations`: fairseq reads these dataclass field types at runtime.
from dataclasses import dataclass, field

from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from natpipe.systems.xlmd.model import MASK
from natpipe.systems.xlmd.system import XLMD


@dataclass
class XLMDTaskConfig(TranslationConfig):
    pretrained_checkpoint: str = field(default="", metadata={"help": "fairseq XLM-R model.pt the model starts from"})
    iterations: int = field(default=XLMD.default("iterations"), metadata={"help": "T: decoding steps"})
    decode_block: str = field(default=XLMD.default("block"), metadata={
        "help": "re-masking block size: 'dynamic' (= T) or a number"})


@register_task("translation_xlmd", dataclass=XLMDTaskConfig)
class XLMDTranslationTask(TranslationTask):
    @classmethod
    def setup_task(cls, cfg, **kwargs):
        task = super().setup_task(cfg, **kwargs)
        for dictionary in (task.src_dict, task.tgt_dict):
            dictionary.add_symbol(MASK)
        return task

    def build_model(self, cfg, from_checkpoint=False):
        model = super().build_model(cfg, from_checkpoint)
        if self.cfg.pretrained_checkpoint and not from_checkpoint:
            from natpipe.systems.xlmd.pretrained import load_pretrained

            load_pretrained(model, self.cfg.pretrained_checkpoint)
        return model

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, prefix_allowed_tokens_fn=None):
        from natpipe.systems.xlmd.decorator import block_size
        from natpipe.systems.xlmd.generator import XLMDGenerator

        return XLMDGenerator(models[0], self.target_dictionary, self.cfg.iterations,
                             block_size(self.cfg.decode_block, self.cfg.iterations))
