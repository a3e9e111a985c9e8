"""Fully-NAT Figure 5: principal-component explained-variance ratios of the VAE latents.

For each Fully-NAT model with latents (Gu & Kong 2021 §4.3, "Effective Latent Dimensionality"),
the posterior q(z | x, y) is read on the test set: the mean of z at every real source position,
in batches of test sentences as fairseq collates them. PCA of these vectors (SVD of the centred
matrix) gives the share of the total variance along each principal component; the effective
latent dimensionality is the number of leading components that capture at least 95% of it.

One CSV row per system and component: system, component (1..D), explained_variance_ratio,
cumulative, effective_dims; the figure plots the ratio against the component per system.
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import pandas as pd


from common import PipelineError, atomic_output, run_main
from natpipe.registry import system_of
from fairseq_args import generate_args

COLUMNS = ["system", "component", "explained_variance_ratio", "cumulative", "effective_dims"]
THRESHOLD = 0.95  # "capturing at least 95% of the total variance" (§4.3)
BATCH = 32


def explained_variance(matrix: np.ndarray) -> np.ndarray:
    """Explained-variance ratio of each principal component (largest first) of the rows of an
    N x D matrix: squared singular values of the centred matrix over their sum (length D)."""
    matrix = np.asarray(matrix, dtype=np.float64)
    if matrix.ndim != 2 or matrix.shape[0] < 2:
        raise PipelineError(f"latent_pca: PCA needs at least 2 latent vectors, got an array of shape {matrix.shape}")
    centred = matrix - matrix.mean(axis=0)
    singular = np.linalg.svd(centred, compute_uv=False)
    variance = np.zeros(matrix.shape[1])
    variance[:len(singular)] = singular ** 2
    total = variance.sum()
    if total <= 0:
        raise PipelineError("latent_pca: the latent vectors do not vary (zero total variance)")
    return variance / total


def effective_dims(ratios: np.ndarray, threshold: float = THRESHOLD) -> int:
    """Number of leading components whose ratios sum to at least `threshold`."""
    cumulative = np.cumsum(ratios)
    return int(np.searchsorted(cumulative, threshold - 1e-9) + 1)


def pca_table(system: str, matrix: np.ndarray) -> pd.DataFrame:
    ratios = explained_variance(matrix)
    return pd.DataFrame({"system": system, "component": np.arange(1, len(ratios) + 1),
                         "explained_variance_ratio": ratios, "cumulative": np.cumsum(ratios),
                         "effective_dims": effective_dims(ratios)}, columns=COLUMNS)


def posterior_means(system, ids: list[int], batch_size: int = BATCH) -> np.ndarray:
    """Means of q(z | x, y) at every real source position of the given test sentences (rows)."""
    import torch

    from natpipe.systems.fully_nat.criterion import targets_without_eos

    model = system.models[0]
    if not getattr(model, "uses_vae", False):
        raise PipelineError("latent_pca: the model has no VAE latents (latent_dim 0); PCA needs a model with vae")
    pad, eos = system.tgt_dict.pad(), system.tgt_dict.eos()
    src_pad = system.task.source_dictionary.pad()
    parts = []
    with torch.no_grad():
        for start in range(0, len(ids), batch_size):
            sample = system.batch(ids[start:start + batch_size])
            src_tokens = sample["net_input"]["src_tokens"]
            tokens, _, _ = targets_without_eos(sample["target"], pad, eos)  # y without </s>, right-padded
            mu, _ = model.posterior_stats(src_tokens, tokens)
            parts.append(mu[src_tokens.ne(src_pad)].float().cpu().numpy())
    return np.concatenate(parts, axis=0) if parts else np.zeros((0, getattr(model, "latent_dim", 0)))


def greedy(model: dict) -> dict:
    """The row's model with plain greedy decoding: the posterior does not depend on the search, and
    an LM or NPD teacher would only be loaded for nothing."""
    generate = {k: v for k, v in (model.get("generate") or {}).items()
                if not k.startswith(("lm", "npd", "ctc_beam"))}
    return {**model, "generate": generate}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--models", required=True, help='JSON list of {"name": row, "model": {...}, "checkpoint": path}')
    parser.add_argument("--data-bin", required=True)
    parser.add_argument("--src", required=True)
    parser.add_argument("--tgt", required=True)
    parser.add_argument("--subword", choices=["bpe", "sentencepiece"], required=True)
    parser.add_argument("--max-sentences", type=int, help="the first N test sentences (default: all)")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--csv", required=True)
    parser.add_argument("--figure", required=True, help="explained-variance ratio per component (Figure 5)")
    args = parser.parse_args()
    models = json.loads(args.models)
    if not models:
        raise PipelineError("latent_pca: --models is empty")
    import torch

    from natpipe.decoding.systems import load_system

    torch.set_num_threads(args.threads)
    tables = []
    for entry in models:
        if not system_of(entry["model"]).has_latents(entry["model"]):
            raise PipelineError(f"latent_pca: row '{entry['name']}' has no latents (a Fully-NAT model with vae)")
        flags = generate_args(greedy(entry["model"]), entry.get("data_bin", args.data_bin), args.src, args.tgt,
                              entry["checkpoint"], entry.get("subword", args.subword), "test", 0)
        system = load_system(flags)
        total = len(system.dataset)
        ids = list(range(min(total, args.max_sentences or total)))
        means = posterior_means(system, ids)
        table = pca_table(entry["name"], means)
        tables.append(table)
        print(f"latent_pca: {entry['name']}: {len(ids)} sentences, {len(means)} source positions, "
              f"{means.shape[1]} dims, effective dims {table['effective_dims'].iloc[0]}", file=sys.stderr, flush=True)
        del system
    result = pd.concat(tables, ignore_index=True)
    with atomic_output(args.csv) as handle:
        result.to_csv(handle, index=False)
    from figures import latent_pca_figure

    latent_pca_figure(args.csv, args.figure)
    print(result.to_string(index=False))


if __name__ == "__main__":
    run_main(main)
