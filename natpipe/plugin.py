"""The fairseq side of natpipe; import it before fairseq is used.

Importing it makes fairseq 0.12 work on numpy 2 and torch 2.x (natpipe.compat), makes beam
search's length cap per sentence (natpipe.decoding.length_cap), and registers the fairseq
modules of every system in natpipe/systems/ (natpipe.registry.load_fairseq_modules).
"""
from natpipe.compat import apply as _apply_compat

_apply_compat()

from natpipe.decoding.length_cap import install as _install_length_cap  # noqa: E402

_install_length_cap()

from natpipe.registry import load_fairseq_modules as _load_fairseq_modules  # noqa: E402

_load_fairseq_modules()

import natpipe.blocks.mixdistill_task  # noqa: E402,F401  (translation_mixdistill, any system's MD data)
