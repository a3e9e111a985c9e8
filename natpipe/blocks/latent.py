"""Continuous latent variables of the VAE fully NAT model (Shu et al. 2020; Gu & Kong 2021, §3.2).

z has one diagonal Gaussian over D dimensions per source position; the ELBO's KL term between the
posterior q(z|x,y) and the prior p(z|x) uses free bits (Chen et al. 2016): a position whose KL is
under the budget costs the budget and gets no gradient, so the posterior is not pushed to
collapse onto the prior early in training. The budget is annealed to 0.
"""
from __future__ import annotations

import torch


def gaussian_kl(mu_q: torch.Tensor, logvar_q: torch.Tensor, mu_p: torch.Tensor,
                logvar_p: torch.Tensor) -> torch.Tensor:
    """KL(q || p) of diagonal Gaussians, summed over the last dimension (closed form):
    0.5 * sum(logvar_p - logvar_q + (var_q + (mu_q - mu_p)^2) / var_p - 1)."""
    ratio = torch.exp(logvar_q - logvar_p)
    gap = (mu_q - mu_p).pow(2) * torch.exp(-logvar_p)
    return 0.5 * (ratio + gap - 1 - (logvar_q - logvar_p)).sum(-1)


def free_bits_kl(kl: torch.Tensor, mask: torch.Tensor, budget: float) -> torch.Tensor:
    """sum over real positions of max(kl, budget): the KL term that goes into the loss."""
    clamped = kl.clamp(min=budget) if budget > 0 else kl
    return torch.where(mask.bool(), clamped, torch.zeros_like(clamped)).sum()


def free_bits_budget(num_updates: int, initial: float, anneal_updates: int) -> float:
    """initial x (1 - num_updates / anneal_updates), linearly down to 0 and 0 afterwards.

    anneal_updates <= 0 means no annealing: the budget stays `initial` for the whole run.
    """
    if initial < 0:
        raise ValueError(f"free-bits budget {initial} must be non-negative")
    if anneal_updates <= 0:
        return float(initial)
    progress = min(max(num_updates, 0) / anneal_updates, 1.0)
    return float(initial) * (1.0 - progress)


def sample_gaussian(mu: torch.Tensor, logvar: torch.Tensor, temperature: float = 1.0,
                    generator: torch.Generator | None = None, eps: torch.Tensor | None = None) -> torch.Tensor:
    """Reparameterised z = mu + temperature * sigma * eps, eps ~ N(0, I) (or the given `eps`);
    temperature 0 gives mu (deterministic decoding from the prior's mean) without drawing."""
    if temperature == 0:
        return mu
    if eps is None:
        device = generator.device if generator is not None else mu.device
        eps = torch.randn(mu.shape, generator=generator, device=device, dtype=mu.dtype).to(mu.device)
    return mu + temperature * torch.exp(0.5 * logvar) * eps
