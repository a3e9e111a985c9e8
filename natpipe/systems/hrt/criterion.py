"""HRT training (Algorithm 1 / Figure 3): four tasks built from every batch, one summed loss.

For a target y_1 .. y_N </s> (right-padded, fairseq's layout), extended with </s> to a multiple
of k so that its last chunk ends the sentence:
* TASK-AT: fairseq's own sample (decoder input </s> y_1 ..., causal).
* TASK-SKIP-AT: input [BOS_k] y_k y_2k ... at positions 0, k, 2k, ...; output y_k y_2k ... </s>.
* TASK-CMLM: input [B] y with a random number (1 .. N) of random tokens masked, bidirectional;
  loss on the masked positions only (the mask-predict objective).
* TASK-SKIP-CMLM: input [B] y with every position that is not a multiple of k masked; loss on
  those positions only. Padding never carries loss.
Curriculum (Eq. 2): p_k = (t / T)^lambda; floor(n p_k) sentences of the batch, drawn at random,
make the primary tasks (SKIP-AT, SKIP-CMLM), the rest the auxiliary ones (AT, CMLM); the losses of all
four are summed, so gradients accumulate as over a batch twice the size.
"""
# No `from __future__ import annotations`: fairseq reads the dataclass field types at runtime.

import math
from dataclasses import dataclass, field

import torch
from fairseq import metrics
from fairseq.criterions import FairseqCriterion, register_criterion
from fairseq.criterions.label_smoothed_cross_entropy import label_smoothed_nll_loss
from fairseq.dataclass import FairseqDataclass
from omegaconf import II

from natpipe.blocks.masking import chunk_mask, masked_input_output, random_count_mask
from natpipe.systems.hrt.system import HybridRegressive


def curriculum_split(n: int, step: int, total_steps: int, lam: float = 1.0, enabled: bool = True) -> int:
    """How many of the batch's n sentences build the primary tasks at this update."""
    if not enabled:
        return n
    p_k = min(1.0, max(0.0, step / max(total_steps, 1))) ** lam
    return math.floor(n * p_k + 1e-9)


def primary_rows(n: int, n_primary: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(rows of the primary tasks, rows of the auxiliary ones): a random n_primary of the batch.
    Algorithm 1 draws them at random; fairseq's batches are sorted by source length, so taking
    the first rows would always hand the primary tasks the batch's longest sentences."""
    order = torch.randperm(n, generator=generator)
    return order[:n_primary].sort().values, order[n_primary:].sort().values


def extended_targets(target: torch.Tensor, k: int, pad: int, eos: int) -> torch.Tensor:
    """Targets with </s> appended up to a multiple of k per sentence (pad elsewhere)."""
    lengths = target.ne(pad).sum(1)
    padded = (lengths + k - 1) // k * k
    width = int(padded.max()) if len(padded) else 0
    out = target.new_full((target.size(0), width), pad)
    out[:, :target.size(1)] = target[:, :width]
    columns = torch.arange(width, device=target.device)[None, :]
    out[(columns >= lengths[:, None]) & (columns < padded[:, None])] = eos
    return out


def skip_at_sample(target: torch.Tensor, k: int, bos_k: int, pad: int, eos: int):
    """(decoder input, output) of TASK-SKIP-AT; input position i stands at original position i*k."""
    extended = extended_targets(target, k, pad, eos)
    output = extended[:, k - 1::k]
    prev = torch.cat([output.new_full((output.size(0), 1), bos_k), output[:, :-1]], dim=1)
    prev = prev.masked_fill(output.eq(pad), pad)
    return prev, output


def skip_cmlm_sample(target: torch.Tensor, k: int, bos: int, mask: int, pad: int, eos: int):
    """(decoder input, output) of TASK-SKIP-CMLM: every k-th token kept, the others masked;
    output is pad wherever no loss is taken (kept tokens, [B], padding)."""
    extended = extended_targets(target, k, pad, eos)
    masked = chunk_mask(extended.ne(pad), k, start=1)  # CHUNK counted from [B]: [B] y_k y_2k .. kept
    return masked_input_output(extended, masked, bos, mask, pad)


def cmlm_sample(target: torch.Tensor, bos: int, mask: int, pad: int, eos: int, generator: torch.Generator):
    """(decoder input, output) of TASK-CMLM: per sentence, a uniform number 1..N of its N tokens
    (not </s>) masked at uniformly random positions."""
    masked = random_count_mask(target.ne(pad) & target.ne(eos), generator)
    return masked_input_output(target, masked, bos, mask, pad)


@dataclass
class HRTLossConfig(FairseqDataclass):
    label_smoothing: float = field(default=0.1, metadata={"help": "label smoothing of every task"})
    curriculum_lambda: float = field(default=HybridRegressive.default("curriculum.lambda"), metadata={"help": "p_k = (t/T)^lambda"})
    curriculum_steps: int = field(default=0, metadata={"help": "T (0: --max-update)"})
    max_update: int = II("optimization.max_update")
    no_curriculum: bool = field(default=False, metadata={"help": "p_k = 1 throughout (the -CL ablation)"})
    seed: int = field(default=1, metadata={"help": "seed of TASK-CMLM's random masks"})


@register_criterion("hrt_loss", dataclass=HRTLossConfig)
class HRTLoss(FairseqCriterion):
    def __init__(self, task, label_smoothing, curriculum_lambda, curriculum_steps, max_update, no_curriculum, seed):
        super().__init__(task)
        self.eps, self.k, self.lam = label_smoothing, task.cfg.chunk_size, curriculum_lambda  # k: --chunk-size
        self.no_curriculum, self.seed = no_curriculum, seed
        self.total_steps = curriculum_steps or max_update
        vocab = task.target_dictionary
        self.bos_k, self.bos, self.mask, self.pad, self.eos = vocab.bos(), vocab.eos(), vocab.unk(), vocab.pad(), vocab.eos()

    def task_samples(self, sample: dict, step: int) -> tuple[dict, dict]:
        """The four (decoder input, output, causal, stride) samples of this batch, and the rows
        of the batch each group of tasks ("primary", "auxiliary") is built from."""
        target, prev = sample["target"], sample["net_input"]["prev_output_tokens"]
        n_primary = curriculum_split(target.size(0), step, self.total_steps, self.lam, not self.no_curriculum)
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + step)
        chosen, rest = (rows.to(target.device) for rows in primary_rows(target.size(0), n_primary, generator))
        tasks = {}
        if len(chosen):
            primary = target[chosen]
            tasks["skip_at"] = (*skip_at_sample(primary, self.k, self.bos_k, self.pad, self.eos), True, self.k)
            tasks["skip_cmlm"] = (*skip_cmlm_sample(primary, self.k, self.bos, self.mask, self.pad, self.eos), False, 1)
        if len(rest):
            auxiliary = target[rest]
            tasks["at"] = (prev[rest], auxiliary, True, 1)
            tasks["cmlm"] = (*cmlm_sample(auxiliary, self.bos, self.mask, self.pad, self.eos, generator), False, 1)
        return tasks, {"primary": chosen, "auxiliary": rest}

    def forward(self, model, sample, reduce=True):
        step = getattr(model, "num_updates", 0)
        tasks, rows = self.task_samples(sample, step)
        src_tokens, src_lengths = sample["net_input"]["src_tokens"], sample["net_input"]["src_lengths"]
        total_loss, total_nll, sample_size = 0.0, 0.0, 0
        logging_output = {"nsentences": sample["target"].size(0), "ntokens": sample["ntokens"], "n_primary": len(rows["primary"])}
        encoded = {}  # each sentence is encoded once for its two tasks
        for name, (prev, output, causal, stride) in tasks.items():
            group = "primary" if name.startswith("skip") else "auxiliary"
            if group not in encoded:
                chosen = rows[group]
                encoded[group] = model.encoder(src_tokens[chosen], src_lengths=src_lengths[chosen])
            encoder_out = encoded[group]
            logits = model.decode(prev, encoder_out, causal=causal, stride=stride)
            lprobs = model.get_normalized_probs((logits, None), log_probs=True)
            loss, nll = label_smoothed_nll_loss(lprobs.view(-1, lprobs.size(-1)), output.reshape(-1), self.eps,
                                                ignore_index=self.pad)
            tokens = int(output.ne(self.pad).sum())
            total_loss, total_nll, sample_size = total_loss + loss, total_nll + nll, sample_size + tokens
            logging_output[f"{name}_loss"] = loss.data
            logging_output[f"{name}_tokens"] = tokens
        logging_output.update(loss=total_loss.data, nll_loss=total_nll.data, sample_size=sample_size)
        return total_loss, sample_size, logging_output

    @classmethod
    def reduce_metrics(cls, logging_outputs) -> None:
        size = sum(log.get("sample_size", 0) for log in logging_outputs)
        loss = sum(log.get("loss", 0) for log in logging_outputs)
        nll = sum(log.get("nll_loss", 0) for log in logging_outputs)
        metrics.log_scalar("loss", loss / max(size, 1) / math.log(2), size, round=3)
        metrics.log_scalar("nll_loss", nll / max(size, 1) / math.log(2), size, round=3)
        for name in ("at", "cmlm", "skip_at", "skip_cmlm"):
            tokens = sum(log.get(f"{name}_tokens", 0) for log in logging_outputs)
            if tokens:
                value = sum(log.get(f"{name}_loss", 0) for log in logging_outputs)
                metrics.log_scalar(f"{name}_loss", value / tokens / math.log(2), tokens, round=3)
        metrics.log_scalar("n_primary", sum(log.get("n_primary", 0) for log in logging_outputs), round=0)

    @staticmethod
    def logging_outputs_can_be_summed() -> bool:
        return True
