"""Cost of glancing per training update: plain CTC against CTC + GLAT on the same batches.

GLAT adds a decoder pass without gradients, a CTC Viterbi alignment and an edit distance per
sentence; together they should cost well under 1.5x a plain CTC update. This times full updates
(forward, backward, optimizer step of `fully_nat_loss`) of the teacher-sized Fully-NAT model
(3+3 layers, 256/1024/4, decoder 3x the source) on random data shaped like fairseq's
--max-tokens batches. Each variant trains its own copy of the same initial model; the variants
take turns on every batch (the order rotates), so a shared machine's load hits them alike.

    .venv/bin/python scripts/bench_glat.py --device cpu --threads 2
    .venv/bin/python scripts/bench_glat.py --device cuda
"""
from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time


import torch


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: torch's default)")
    parser.add_argument("--updates", type=int, default=20, help="timed updates per variant")
    parser.add_argument("--warmup", type=int, default=3, help="untimed updates per variant first")
    parser.add_argument("--max-tokens", type=int, default=4096, help="sentences x padded length per batch")
    parser.add_argument("--vocab", type=int, default=4000, help="dictionary size (the sample's BPE ~4k)")
    parser.add_argument("--min-length", type=int, default=5, help="shortest source length of a batch's bucket")
    parser.add_argument("--max-length", type=int, default=40, help="longest source length of a batch's bucket")
    parser.add_argument("--upsample-ratio", type=float, default=3.0)
    parser.add_argument("--glance-f-ratio", type=float, default=0.5)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


def dictionary(size: int):
    from fairseq.data import Dictionary

    vocab = Dictionary()
    for i in range(size - len(vocab)):
        vocab.add_symbol(f"w{i}")
    return vocab


class Task:
    """What the model builder and the criterion read from a fairseq task."""

    def __init__(self, vocab):
        self.source_dictionary = self.target_dictionary = vocab


def build_model(task, args):
    """The sample teacher's size (config.yaml: fnat_ctc_sample), pre-norm, shared embeddings."""
    from fairseq.models import ARCH_CONFIG_REGISTRY, ARCH_MODEL_REGISTRY

    import natpipe.plugin  # noqa: F401  (registers the model and the criterion)

    model_args = argparse.Namespace(
        encoder_layers=3, decoder_layers=3, encoder_embed_dim=256, decoder_embed_dim=256,
        encoder_ffn_embed_dim=1024, decoder_ffn_embed_dim=1024, encoder_attention_heads=4,
        decoder_attention_heads=4, encoder_normalize_before=True, decoder_normalize_before=True,
        share_all_embeddings=True, max_source_positions=1024, max_target_positions=1024,
        dropout=args.dropout, latent_alignment="ctc", upsample_ratio=args.upsample_ratio, softcopy_tau=1.0,
        latent_dim=0, posterior_layers=1, max_predicted_length=256)
    ARCH_CONFIG_REGISTRY["fully_nat_transformer"](model_args)
    return ARCH_MODEL_REGISTRY["fully_nat_transformer"].build_model(model_args, task)


def random_batches(vocab, count: int, args, generator: torch.Generator) -> list[dict]:
    """fairseq-like batches: one length bucket per batch, as many sentences as --max-tokens allows
    (left-padded sources ending in </s>, right-padded targets ending in </s>)."""
    words = torch.arange(vocab.nspecial, len(vocab))
    batches = []
    for _ in range(count):
        top = int(torch.randint(args.min_length, args.max_length + 1, (), generator=generator))
        longest = int(round(top * 1.25)) + 1
        size = max(1, args.max_tokens // longest)
        src_len = torch.randint(max(1, top - 3), top + 1, (size,), generator=generator)
        ratio = torch.empty(size).uniform_(0.8, 1.25, generator=generator)
        tgt_len = (src_len * ratio).round().long().clamp(min=1)
        src = torch.full((size, int(src_len.max()) + 1), vocab.pad())
        tgt = torch.full((size, int(tgt_len.max()) + 1), vocab.pad())
        for row, (n, m) in enumerate(zip(src_len.tolist(), tgt_len.tolist())):
            src[row, src.size(1) - n - 1:-1] = words[torch.randint(len(words), (n,), generator=generator)]
            src[row, -1] = vocab.eos()
            tgt[row, :m] = words[torch.randint(len(words), (m,), generator=generator)]
            tgt[row, m] = vocab.eos()
        batches.append({"net_input": {"src_tokens": src, "src_lengths": src_len + 1}, "target": tgt,
                        "ntokens": int(tgt_len.sum() + size)})
    return batches


def to_device(sample: dict, device: torch.device) -> dict:
    return {key: to_device(value, device) if isinstance(value, dict) else
            value.to(device) if torch.is_tensor(value) else value for key, value in sample.items()}


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def criterion(task, glancing: str, args):
    from natpipe.systems.fully_nat.criterion import FullyNATLoss

    return FullyNATLoss(task, label_smoothing=0.01, glancing=glancing, glance_f_ratio=args.glance_f_ratio,
                        free_bits=0.0, free_bits_anneal_updates=0, length_loss_factor=0.1, seed=args.seed,
                        max_update=args.warmup + args.updates)


def timed_glance(crit, device: torch.device, spent: list[float]):
    """crit.glance that also appends its own seconds to `spent` (the first pass, Viterbi, distances).
    On a GPU its two synchronisations cost the GLAT variant a little: the ratio errs high."""
    glance = crit.glance

    def wrapper(*args, **kwargs):
        synchronize(device)
        start = time.perf_counter()
        result = glance(*args, **kwargs)
        synchronize(device)
        spent.append(time.perf_counter() - start)
        return result
    return wrapper


def benchmark(args, criteria: dict, vocab, model) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Seconds per update of each criterion, and of its glancing step (name -> list per update)."""
    device = torch.device(args.device)
    batches = random_batches(vocab, args.warmup + args.updates, args, torch.Generator().manual_seed(args.seed))
    runs = {}
    glance_seconds = {}
    for name, crit in criteria.items():
        replica = copy.deepcopy(model).to(device).train()
        runs[name] = (crit, replica, torch.optim.Adam(replica.parameters(), lr=5e-4, betas=(0.9, 0.98)))
        if crit.glancing != "none":
            glance_seconds[name] = []
            crit.glance = timed_glance(crit, device, glance_seconds[name])
    names = list(criteria)
    seconds = {name: [] for name in names}
    for step, batch in enumerate(batches):
        sample = to_device(batch, device)
        shift = step % len(names)
        for name in names[shift:] + names[:shift]:  # rotate who goes first
            crit, replica, optimizer = runs[name]
            replica.num_updates = step  # the criterion seeds its glancing draws by the update number
            synchronize(device)
            start = time.perf_counter()
            loss, sample_size, log = crit(replica, sample)
            (loss / sample_size).backward()
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            synchronize(device)
            elapsed = time.perf_counter() - start
            if step >= args.warmup:
                seconds[name].append(elapsed)
            elif name in glance_seconds:
                glance_seconds[name].pop()
            glanced = f" glanced {log['glanced'] / log['ntokens']:.2f}/token" if "glanced" in log else ""
            print(f"[bench_glat] {'warmup' if step < args.warmup else 'update'} {step + 1}/{len(batches)} "
                  f"{name}: {elapsed:.3f} s ({log['nsentences']} sentences, {log['ntokens']} tokens, "
                  f"loss {log['loss'] / log['ntokens']:.2f}{glanced})", flush=True)
    return seconds, glance_seconds


def report(seconds: dict[str, list[float]], glance_seconds: dict[str, list[float]], baseline: str = "ctc") -> None:
    print(f"[bench_glat] seconds/update over {len(seconds[baseline])} updates (mean, median; ratio to {baseline}):")
    base_mean, base_median = statistics.mean(seconds[baseline]), statistics.median(seconds[baseline])
    for name, values in seconds.items():
        mean, median = statistics.mean(values), statistics.median(values)
        glance = f"; glancing step {statistics.mean(glance_seconds[name]):.4f} s mean" if name in glance_seconds else ""
        print(f"[bench_glat]   {name:>10}: {mean:.4f} s mean, {median:.4f} s median; "
              f"ratio {mean / base_mean:.3f} (mean), {median / base_median:.3f} (median){glance}")


def main(argv=None, extra_criteria=None) -> dict[str, list[float]]:
    """extra_criteria(task, args) -> {name: criterion} adds variants (e.g. an old code path)."""
    args = parse_args(argv)
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("bench_glat: --device cuda but torch sees no GPU")
    torch.manual_seed(args.seed)
    vocab = dictionary(args.vocab)
    task = Task(vocab)
    model = build_model(task, args)
    criteria = {"ctc": criterion(task, "none", args), "ctc+glat": criterion(task, "glat", args)}
    if extra_criteria is not None:
        criteria.update(extra_criteria(task, args))
    name = torch.cuda.get_device_name() if args.device == "cuda" else f"cpu, {torch.get_num_threads()} threads"
    params = sum(p.numel() for p in model.parameters())
    print(f"[bench_glat] torch {torch.__version__} on {name}; {params / 1e6:.1f}M parameters, vocabulary "
          f"{len(vocab)}, --max-tokens {args.max_tokens}, {args.warmup} warm-up + {args.updates} timed updates "
          f"of {', '.join(criteria)}", flush=True)
    seconds, glance_seconds = benchmark(args, criteria, vocab, model)
    report(seconds, glance_seconds)
    return seconds


if __name__ == "__main__":
    main()
