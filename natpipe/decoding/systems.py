"""A trained system loaded in-process, decoding fixed batches of sentences.

The speed harness and the synthetic experiments need what fairseq-generate cannot give: the
same model kept in memory across many timed passes, batches of exactly B sentences in corpus
order, and the decoder itself. The system is built from the very flags fairseq-generate gets
(scripts/fairseq_args.generate_args), through fairseq's own task, checkpoint loader and
generator, so the decoding code path is the one that produced the BLEU rows.
"""
from __future__ import annotations

import ast
from dataclasses import dataclass, field

import torch

import natpipe.plugin  # noqa: F401  (compatibility layer and length cap before fairseq is used)


@dataclass
class DecodingSystem:
    """A system decoding one binarized split of its fairseq task in process: fairseq's own
    (LoadedSystem) or CTranslate2's (natpipe.decoding.ctranslate2), timed alike by the harness."""

    task: object
    subset: str

    @property
    def dataset(self):
        return self.task.dataset(self.subset)

    @property
    def tgt_dict(self):
        return self.task.target_dictionary

    def supports(self, device: str) -> bool:
        """Whether the system runs on this torch device (a CTranslate2 compute type may not)."""
        return True

    def string(self, tokens: list[int], bpe_symbol: str | None = None) -> str:
        return self.tgt_dict.string(torch.tensor(tokens, dtype=torch.long), bpe_symbol)


@dataclass
class LoadedSystem(DecodingSystem):
    models: list = field(default_factory=list)
    generator: object = None
    device: str = "cpu"

    def to(self, device: str) -> "LoadedSystem":
        """Move every model the system decodes with: its own, and those its generator holds
        (NPD's teacher, HRT's swap model: `auxiliary_models`)."""
        for model in self.models + list(getattr(self.generator, "auxiliary_models", [])):
            model.to(device)
        self.device = device
        return self

    def batch(self, ids: list[int]) -> dict:
        """A fairseq batch of exactly these sentence ids (collated and padded as fairseq does),
        on the system's device."""
        from fairseq import utils

        sample = self.dataset.collater([self.dataset[i] for i in ids])
        device = torch.device(self.device)
        return utils.apply_to_sample(lambda tensor: tensor.to(device), sample) if device.type != "cpu" else sample

    @torch.no_grad()
    def translate(self, ids: list[int]) -> dict[int, list[int]]:
        """Best hypothesis (token ids, no EOS) of each sentence id, decoded as one batch."""
        sample = self.batch(ids)
        hypos = self.task.inference_step(self.generator, self.models, sample)
        eos, pad = self.tgt_dict.eos(), self.tgt_dict.pad()
        out = {}
        for row, sentence_id in enumerate(sample["id"].tolist()):
            tokens = hypos[row][0]["tokens"].tolist()
            out[sentence_id] = [t for t in tokens if t not in (eos, pad)]
        return out


def load_system(generate_flags: list[str]) -> LoadedSystem:
    """Load model, task, test split and generator from fairseq-generate flags (CPU first)."""
    from fairseq import checkpoint_utils, options, tasks, utils
    from fairseq.dataclass.utils import convert_namespace_to_omegaconf

    parser = options.get_generation_parser()
    cfg = convert_namespace_to_omegaconf(options.parse_args_and_arch(parser, generate_flags))
    utils.import_user_module(cfg.common)
    task = tasks.setup_task(cfg.task)
    models, saved_cfg = checkpoint_utils.load_model_ensemble(
        utils.split_paths(cfg.common_eval.path), arg_overrides=ast.literal_eval(cfg.common_eval.model_overrides),
        task=task)
    task.load_dataset(cfg.dataset.gen_subset, task_cfg=saved_cfg.task)
    for model in models:
        model.eval()
        model.prepare_for_inference_(cfg)
    generator = task.build_generator(models, cfg.generation)
    return LoadedSystem(task=task, models=models, generator=generator, subset=cfg.dataset.gen_subset)
