"""The papers' figures from natpipe's CSVs (matplotlib, no display needed)."""
from __future__ import annotations

import logging

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from common import atomic_path  # noqa: E402

logging.getLogger("matplotlib").setLevel(logging.WARNING)  # fairseq's root logger would print font lookups


def save(figure, path: str) -> None:
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=str(path).rsplit(".", 1)[-1], dpi=150, bbox_inches="tight")
    plt.close(figure)


def acceleration_figure(summary: pd.DataFrame, reference: str, path: str) -> None:
    """HRT Figure 1: alpha against batch size per system, solid on GPU, dashed on CPU; the grid's
    batch sizes only (the probed Lmax size differs per system and is not a point of the figure)."""
    from natpipe.tables import grid_only

    summary = grid_only(summary)
    figure, axis = plt.subplots(figsize=(6, 4))
    systems = [s for s in summary["system"].unique() if s != reference]
    colours = dict(zip(systems, plt.rcParams["axes.prop_cycle"].by_key()["color"] * 4))
    for (device, system), part in summary[summary["system"] != reference].groupby(["device", "system"], sort=False):
        part = part.sort_values("batch_size")
        axis.plot(part["batch_size"], part["alpha"], marker="o", color=colours[system],
                  linestyle="-" if device == "cuda" else "--", label=f"{system} ({device.upper()})")
    axis.axhline(1.0, color="grey", linewidth=0.8)
    axis.set_xscale("log", base=2)
    sizes = sorted(summary["batch_size"].unique())
    axis.set_xticks(sizes, [str(s) for s in sizes])
    axis.set_xlabel("batch size (sentences)")
    axis.set_ylabel(f"α = T({reference}) / T(system)")
    axis.set_title("Relative speedup (solid: GPU, dashed: CPU)")
    axis.legend(fontsize="small")
    save(figure, path)


def masking_figure(curves: pd.DataFrame, reference: dict | None, path: str) -> None:
    """HRT Figure 2: BLEU of one-pass CMLM filling against the masking rate per strategy; CHUNK
    points sit at their real rate 1 - 1/k; the dashed line is the reference row's BLEU."""
    figure, axis = plt.subplots(figsize=(6, 4))
    for strategy, part in curves.groupby("strategy", sort=False):
        part = part.sort_values("mask_rate")
        axis.plot(part["mask_rate"], part["bleu_tok"], marker="o", label=strategy.upper(),
                  linestyle="-" if strategy != "chunk" else "none")
        if strategy == "chunk":
            for _, point in part.iterrows():
                axis.annotate(f"k={int(point['chunk_size'])}", (point["mask_rate"], point["bleu_tok"]),
                              fontsize="x-small", xytext=(3, 3), textcoords="offset points")
    if reference:
        axis.axhline(reference["bleu_tok"], color="black", linestyle="--", linewidth=1, label=reference["label"])
    axis.set_xlabel("masking rate")
    axis.set_ylabel("BLEU (tokenized)")
    axis.set_title("One-pass CMLM filling of masked AT translations")
    axis.legend(fontsize="small")
    save(figure, path)


def latent_pca_figure(csv_path: str, png_path: str) -> None:
    """Fully-NAT Figure 5: explained-variance ratio of each principal component of the latents,
    one line per system (the legend gives its effective dimensionality, >= 95% of the variance)."""
    table = pd.read_csv(csv_path)
    figure, axis = plt.subplots(figsize=(6, 4))
    for system, part in table.groupby("system", sort=False):
        part = part.sort_values("component")
        axis.plot(part["component"], part["explained_variance_ratio"], marker="o",
                  label=f"{system} (95%: {int(part['effective_dims'].iloc[0])} dims)")
    components = sorted(table["component"].unique())
    axis.set_xticks(components, [str(int(c)) for c in components])
    axis.set_ylim(0, 1)
    axis.set_xlabel("principal component")
    axis.set_ylabel("explained variance ratio")
    axis.set_title("PCA of the posterior latents (test set)")
    axis.legend(fontsize="small")
    save(figure, png_path)


def learning_curves_figure(curves: pd.DataFrame, path: str) -> None:
    """Validation NLL (bits per target token) of every model of a corpus, against updates and
    against the target tokens seen: how far each system got for the same training budget; and
    the valid BLEU of the models that decoded checkpoints (train.bleu_at)."""
    bleu = curves.dropna(subset=["valid_bleu"]) if "valid_bleu" in curves else curves.iloc[:0]
    panels = 3 if len(bleu) else 2
    figure, axes = plt.subplots(1, panels, figsize=(5.5 * panels, 4))
    by_update, by_tokens = axes[0], axes[1]
    by_tokens.sharey(by_update)
    for system, part in curves.groupby("system", sort=False):
        part = part.sort_values("update")
        by_update.plot(part["update"], part["valid_nll_loss"], marker=".", label=system)
        by_tokens.plot(part["target_tokens"], part["valid_nll_loss"], marker=".", label=system)
    by_update.set_xlabel("updates")
    by_tokens.set_xlabel("target tokens seen")
    by_update.set_ylabel("valid NLL (bits / token)")
    by_update.set_title("Learning curves")
    by_tokens.legend(fontsize="small")
    if len(bleu):
        for system, part in bleu.groupby("system", sort=False):
            part = part.sort_values("update")
            axes[2].plot(part["update"], part["valid_bleu"], marker="o", label=system)
        axes[2].set_xlabel("updates")
        axes[2].set_ylabel("valid BLEU (tokenized, own decoding)")
        axes[2].legend(fontsize="small")
    save(figure, path)
