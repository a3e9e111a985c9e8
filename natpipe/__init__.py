"""natpipe: the fairseq plugin package (load with `--user-dir natpipe`).

Importing it makes fairseq 0.12 work on numpy 2 and torch 2.13 (see natpipe.compat) and makes
beam search's length cap per sentence (natpipe.decoding.length_cap) before any fairseq module
uses them; model, criterion and task modules register themselves from their sub-packages.
"""
from natpipe.compat import apply as _apply_compat

_apply_compat()

from natpipe.decoding.length_cap import install as _install_length_cap  # noqa: E402

_install_length_cap()

from natpipe import criterions, models, tasks  # noqa: E402,F401  (registers them with fairseq)
