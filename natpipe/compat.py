"""Make fairseq 0.12 run on numpy 2, torch 2.13 and GPUs without patching fairseq's files.

Every fix natpipe applies to fairseq's own code at run time is here (the per-sentence beam
length cap, a change of behaviour rather than a fix, is natpipe.decoding.length_cap):

* numpy 2 removed the `np.float`/`np.int`/... aliases that fairseq's data utilities and CRF
  layer still touch; they are restored as the builtins they always meant.
* torch 2.13 loads checkpoints with weights_only=True. fairseq checkpoints hold plain
  containers plus a few known types (argparse.Namespace for old-style args, numpy scalars in
  meters); those exact types are allow-listed instead of disabling the safe loader.
* fairseq's IterativeRefinementGenerator (CMLM, vanilla NAT) picks the best of a length beam with
  `np.argmax` over a list of score tensors, which numpy cannot read from a GPU ("can't convert
  cuda:0 device type tensor to numpy"): every CMLM row with a length beam > 1 crashed on GPU. That
  module's `np` is given an argmax that compares the scores with torch, on their own device.
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


class _TensorArgmaxNumpy:
    """numpy, except that argmax over a list of (0-d) tensors is computed by torch where they are:
    the same first-maximum index numpy gives on the CPU."""

    def __init__(self, numpy_module):
        self._numpy = numpy_module

    def __getattr__(self, name):
        return getattr(self._numpy, name)

    def argmax(self, values, *args, **kwargs):
        import torch

        if isinstance(values, (list, tuple)) and values and all(torch.is_tensor(v) for v in values) and not args \
                and not kwargs:
            return int(torch.stack([v.reshape(()) for v in values]).argmax())
        return self._numpy.argmax(values, *args, **kwargs)


def fix_length_beam_argmax() -> None:
    from fairseq import iterative_refinement_generator as refinement

    if not isinstance(refinement.np, _TensorArgmaxNumpy):
        refinement.np = _TensorArgmaxNumpy(refinement.np)


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
    fix_length_beam_argmax()
    _applied = True
