"""Fully-NAT Figure 5: PCA of the latents (explained-variance ratios, effective dimensionality),
the posterior read at real source positions only, and the figure drawn from the CSV."""

import numpy as np
import pandas as pd
import pytest
import torch

import latent_pca
from common import PipelineError
from figures import latent_pca_figure


def hadamard(n: int) -> np.ndarray:
    matrix = np.array([[1.0]])
    while len(matrix) < n:
        matrix = np.block([[matrix, matrix], [matrix, -matrix]])
    return matrix


def known_variances(stds, rotate=True) -> np.ndarray:
    """8 x D data whose sample covariance is exactly diag(stds**2) * 8/7 (orthogonal +-1 columns
    of zero mean), turned by an orthogonal matrix (which leaves the PCA spectrum unchanged)."""
    columns = hadamard(8)[:, 1:len(stds) + 1] * np.asarray(stds)
    if not rotate:
        return columns
    q, _ = np.linalg.qr(np.random.default_rng(0).normal(size=(len(stds), len(stds))))
    return columns @ q + 5.0  # the offset checks the centring


def test_ratios_are_the_known_variances_in_decreasing_order():
    stds = [0.5, 3.0, 0.1, 2.0, 0.05]
    ratios = latent_pca.explained_variance(known_variances(stds))
    expected = sorted((s * s for s in stds), reverse=True)
    assert ratios == pytest.approx([v / sum(expected) for v in expected], abs=1e-12)


def test_ratios_agree_with_the_eigenvalues_of_a_covariance_computed_by_hand():
    data = np.random.default_rng(1).normal(size=(50, 4)) * [4.0, 1.0, 0.5, 2.0]
    rows = data.tolist()
    means = [sum(column) / len(rows) for column in zip(*rows)]
    covariance = [[sum((r[i] - means[i]) * (r[j] - means[j]) for r in rows) / (len(rows) - 1) for j in range(4)]
                  for i in range(4)]
    eigenvalues = sorted(np.linalg.eigvalsh(np.array(covariance)), reverse=True)
    assert latent_pca.explained_variance(data) == pytest.approx(np.array(eigenvalues) / sum(eigenvalues), abs=1e-10)


def test_variance_concentrated_in_two_dimensions_gives_two_effective_dims():
    table = latent_pca.pca_table("m", known_variances([3.0, 2.0, 0.1, 0.1, 0.1, 0.1, 0.1]))
    assert list(table.columns) == latent_pca.COLUMNS and list(table["component"]) == list(range(1, 8))
    assert (table["effective_dims"] == 2).all() and table["cumulative"].iloc[-1] == pytest.approx(1.0)
    assert table["cumulative"].iloc[1] == pytest.approx(13 / 13.05)
    # exactly 95% counts as captured; just below needs one more component
    assert latent_pca.effective_dims(np.array([0.5, 0.45, 0.05])) == 2
    assert latent_pca.effective_dims(np.array([0.5, 0.4499, 0.0501])) == 3
    assert latent_pca.effective_dims(np.array([1.0, 0.0])) == 1


def test_constant_or_single_vectors_are_an_error():
    with pytest.raises(PipelineError):
        latent_pca.explained_variance(np.ones((5, 3)))
    with pytest.raises(PipelineError):
        latent_pca.explained_variance(np.ones((1, 3)))


class FakeDictionary:
    def pad(self):
        return 1

    def eos(self):
        return 2


class FakeModel:
    """posterior mean = (source token, target length, target token at that position) per source
    position; records the targets it is given."""
    uses_vae, latent_dim = True, 3

    def __init__(self):
        self.targets = []

    def posterior_stats(self, src_tokens, tgt_tokens):
        self.targets.append(tgt_tokens.clone())
        length = tgt_tokens.ne(1).sum(1, keepdim=True).expand_as(src_tokens)
        first = tgt_tokens[:, :1].expand_as(src_tokens)
        mu = torch.stack([src_tokens, length, first], dim=-1).float()
        return mu, torch.zeros_like(mu)


class FakeSystem:
    """Left-padded sources and right-padded `y </s>` targets, as fairseq collates them."""
    def __init__(self, sources, targets):
        self.sources, self.targets, self.models = sources, targets, [FakeModel()]
        self.tgt_dict = FakeDictionary()
        self.task = type("Task", (), {"source_dictionary": FakeDictionary()})()
        self.batches = []

    def batch(self, ids):
        self.batches.append(list(ids))
        width = max(len(self.sources[i]) for i in ids)
        tgt_width = max(len(self.targets[i]) + 1 for i in ids)
        src = [[1] * (width - len(self.sources[i])) + self.sources[i] for i in ids]
        tgt = [self.targets[i] + [2] + [1] * (tgt_width - len(self.targets[i]) - 1) for i in ids]
        return {"net_input": {"src_tokens": torch.tensor(src)}, "target": torch.tensor(tgt)}


def test_posterior_means_read_real_source_positions_with_targets_without_eos():
    sources = [[10 + i] * (1 + i % 3) for i in range(70)]
    targets = [[100 + i] * (2 + i % 4) for i in range(70)]
    system = FakeSystem(sources, targets)
    means = latent_pca.posterior_means(system, list(range(70)))
    assert system.batches == [list(range(32)), list(range(32, 64)), list(range(64, 70))]
    expected = [[10 + i, 2 + i % 4, 100 + i] for i in range(70) for _ in range(1 + i % 3)]
    assert means.tolist() == expected  # one vector per real source position, in order; no padding
    for target in system.models[0].targets:  # no </s> anywhere, pad only on the right
        assert not target.eq(2).any()
        for row in target.tolist():
            real = [t for t in row if t != 1]
            assert row == real + [1] * (len(row) - len(real))


def test_a_model_without_latents_is_refused():
    system = FakeSystem([[5]], [[6]])
    system.models[0].uses_vae = False
    with pytest.raises(PipelineError, match="no VAE"):
        latent_pca.posterior_means(system, [0])


def test_greedy_drops_the_search_settings_only():
    model = {"kind": "fnat", "vae": {"latent_dim": 8}, "generate": {
        "ctc_beam": 20, "lm": True, "lm_path": "x.bin", "lm_weights_file": "w.json", "npd": 5,
        "npd_teacher_checkpoint": "t.pt", "max_tokens": 4000}}
    assert latent_pca.greedy(model) == {**model, "generate": {"max_tokens": 4000}}


def test_figure_is_a_png_drawn_from_the_csv(tmp_path):
    tables = [latent_pca.pca_table(name, known_variances(stds)) for name, stds in
              (("KD+CTC+VAE", [3.0, 2.0, 1.0, 0.1]), ("KD+AXE+VAE", [3.0, 0.2, 0.1, 0.1]))]
    csv = tmp_path / "latent_pca.csv"
    pd.concat(tables).to_csv(csv, index=False)
    png = tmp_path / "figures" / "latent_pca.png"
    latent_pca_figure(str(csv), str(png))
    image = __import__("matplotlib.image", fromlist=["imread"]).imread(png)
    assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 300 and image.shape[2] in (3, 4)
    assert image[..., :3].std() > 0.05  # not a blank canvas
    assert [p.name for p in png.parent.iterdir()] == ["latent_pca.png"]  # no temporary file left
