"""Run a fairseq command line tool with natpipe's compatibility layer applied first.

    python -m natpipe.fairseq_cli {preprocess,train,generate,interactive} [fairseq args...]

fairseq touches removed numpy aliases at import time, before `--user-dir` plugins load, so the
console scripts (fairseq-train, ...) cannot be used directly on numpy 2.
"""
from __future__ import annotations

import importlib
import sys

import natpipe.plugin  # noqa: F401  (applies the compatibility layer)

TOOLS = {"preprocess": "fairseq_cli.preprocess", "train": "fairseq_cli.train",
         "generate": "fairseq_cli.generate", "interactive": "fairseq_cli.interactive"}


def main(argv: list[str] | None = None) -> None:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in TOOLS:
        sys.exit(f"usage: python -m natpipe.fairseq_cli {{{','.join(TOOLS)}}} [args...]")
    tool = argv.pop(0)
    sys.argv = [f"fairseq-{tool}"] + argv
    importlib.import_module(TOOLS[tool]).cli_main()


if __name__ == "__main__":
    main()
