"""natpipe: the fairseq plugin package (load with `--user-dir natpipe`).

Importing it makes fairseq 0.12 work on numpy 2 and torch 2.13 (see natpipe.compat) before any
fairseq module that needs it is used; model, criterion and task modules register themselves
from their sub-packages as later stages add them.
"""
from natpipe.compat import apply as _apply_compat

_apply_compat()

from natpipe import tasks  # noqa: E402,F401  (registers the fairseq tasks)
