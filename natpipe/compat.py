"""Make fairseq 0.12 run on numpy 2 and torch 2.13 without patching fairseq itself.

* numpy 2 removed the `np.float`/`np.int`/... aliases that fairseq's data utilities and CRF
  layer still touch; they are restored as the builtins they always meant.
* torch 2.13 loads checkpoints with weights_only=True. fairseq checkpoints hold plain
  containers plus a few known types (argparse.Namespace for old-style args, numpy scalars in
  meters); those exact types are allow-listed instead of disabling the safe loader.
"""
from __future__ import annotations

import argparse
import builtins

_NUMPY_ALIASES = {"float": builtins.float, "int": builtins.int, "long": builtins.int,
                  "complex": builtins.complex, "object": builtins.object, "str": builtins.str,
                  "bool": builtins.bool}
_applied = False


def safe_checkpoint_types() -> list:
    """Types that legitimately occur in fairseq checkpoints written by this project."""
    import numpy as np

    types = [argparse.Namespace, np.dtype, np.ndarray]
    types += [type(np.dtype(name)) for name in ("float64", "float32", "int64", "int32", "bool")]
    from numpy._core.multiarray import _reconstruct, scalar

    return types + [scalar, _reconstruct]


def apply() -> None:
    global _applied
    if _applied:
        return
    import numpy as np

    for name, value in _NUMPY_ALIASES.items():
        if name not in np.__dict__:
            setattr(np, name, value)
    import torch.serialization

    torch.serialization.add_safe_globals(safe_checkpoint_types())
    _applied = True
