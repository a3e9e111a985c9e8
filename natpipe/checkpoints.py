"""Checkpoint averaging (the papers average the last 5 checkpoints of every model)."""
from __future__ import annotations

import collections
import os
import re
from pathlib import Path

import torch

import natpipe.plugin  # noqa: F401  (safe-loading allow-list for fairseq checkpoints)


def last_update_checkpoints(directory: str | os.PathLike, count: int) -> list[Path]:
    """The `count` most recent checkpoint_<epoch>_<update>.pt files, oldest first."""
    pattern = re.compile(r"checkpoint_\d+_(\d+)\.pt$")
    found = sorted((int(m.group(1)), p) for p in Path(directory).glob("checkpoint_*_*.pt")
                   if (m := pattern.search(p.name)))
    return [p for _, p in found[-count:]]


def average_checkpoints(paths: list[str | os.PathLike]) -> dict:
    """Average the model parameters of `paths`; the other entries come from the last one.

    Sums in float64 so that the result does not depend on the order of the checkpoints.
    """
    if not paths:
        raise ValueError("no checkpoints to average")
    sums: collections.OrderedDict[str, torch.Tensor] = collections.OrderedDict()
    state = None
    for path in paths:
        state = torch.load(path, map_location="cpu")
        model = state["model"]
        if sums and set(model) != set(sums):
            raise ValueError(f"{path}: parameter names differ from {paths[0]}")
        for name, tensor in model.items():
            value = tensor.to(torch.float64) if tensor.is_floating_point() else tensor
            if name in sums and tensor.is_floating_point():
                sums[name] += value
            else:
                sums[name] = value.clone()
    averaged = collections.OrderedDict()
    for name, total in sums.items():
        reference = state["model"][name]
        averaged[name] = (total / len(paths)).to(reference.dtype) if reference.is_floating_point() else total
    state["model"] = averaged
    state["averaged_from"] = [str(p) for p in paths]
    return state


def load_auxiliary_model(path: str, task, beside):
    """A second trained model a generator needs (NPD's AT teacher, HRT's swapped Skip-CMLM),
    loaded in eval mode on the device of `beside` (the system's own model). A loaded system that
    later moves (the speed harness: CPU, then GPU) moves it too, through its generator's
    `auxiliary_models`."""
    from fairseq import checkpoint_utils

    (model,), _ = checkpoint_utils.load_model_ensemble([path], task=task)
    return model.to(next(beside.parameters()).device).eval()
