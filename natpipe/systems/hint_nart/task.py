"""`--task translation_hint_nart`: plain translation data (raw or distilled data-bin) for the
hint-NART student; sets the student's length offset C from the training data when a model is
built beside a train split, and builds the generator (natpipe.systems.hint_nart.generator) for
fairseq-generate and the speed harness.
"""

# No `from __future__ import annotations`: fairseq reads these dataclass field types at runtime.
import logging
import os
from dataclasses import dataclass, field

from fairseq import utils
from fairseq.data import data_utils
from fairseq.tasks import register_task
from fairseq.tasks.translation import TranslationConfig, TranslationTask

from natpipe.systems.hint_nart.system import HintNART

logger = logging.getLogger(__name__)


@dataclass
class HintNARTTaskConfig(TranslationConfig):
    length_halfwidth: int = field(default=HintNART.default("halfwidth"), metadata={
        "help": "B: decode the lengths T_x+C-B .. T_x+C+B and keep the one the teacher scores best"})
    rescore_teacher_path: str = field(default="", metadata={"help": "AT checkpoint that rescores the length candidates"})


def mean_length_difference(data_dir: str, src: str, tgt: str, dictionary) -> float | None:
    """C = mean(|y| - |x|) over the binarized train split of `data_dir` (None: no train split)."""
    for pair in (f"{src}-{tgt}", f"{tgt}-{src}"):
        prefix = os.path.join(data_dir, f"train.{pair}.")
        if os.path.exists(prefix + src + ".idx") and os.path.exists(prefix + tgt + ".idx"):
            src_data, tgt_data = (data_utils.load_indexed_dataset(prefix + lang, dictionary) for lang in (src, tgt))
            # sizes view the datasets' memory maps: compute while both are alive
            return float((tgt_data.sizes.astype("float64") - src_data.sizes).mean())
    return None


@register_task("translation_hint_nart", dataclass=HintNARTTaskConfig)
class HintNARTTranslationTask(TranslationTask):
    def build_model(self, cfg, from_checkpoint=False):
        """A student built beside a train split gets C from it (a checkpoint loaded afterwards
        brings its own; the teacher, which has no offset, is built here too)."""
        model = super().build_model(cfg, from_checkpoint)
        if hasattr(model, "length_offset"):
            offset = mean_length_difference(utils.split_paths(self.cfg.data)[0], self.cfg.source_lang,
                                            self.cfg.target_lang, self.src_dict)
            if offset is not None:
                model.length_offset.fill_(offset)
                logger.info("length offset C = %.4f (mean target - source length of the train split)", offset)
        return model

    def build_generator(self, models, args, seq_gen_cls=None, extra_gen_cls_kwargs=None, prefix_allowed_tokens_fn=None):
        from natpipe.checkpoints import load_auxiliary_model
        from natpipe.systems.hint_nart.generator import HintNARTGenerator

        halfwidth = self.cfg.length_halfwidth
        if halfwidth > 0 and not self.cfg.rescore_teacher_path:
            raise ValueError("--length-halfwidth > 0 rescores the candidates with the AR teacher: "
                             "give --rescore-teacher-path")
        teacher = load_auxiliary_model(self.cfg.rescore_teacher_path, self, models[0]) if halfwidth > 0 else None
        return HintNARTGenerator(models[0], self.target_dictionary, halfwidth, teacher)
