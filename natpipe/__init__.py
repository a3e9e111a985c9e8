"""natpipe: one data / teacher / BLEU / speed protocol for non-autoregressive MT papers.

Two sides share this package. The workflow side (the system registry `natpipe.registry`, config
resolution `natpipe.workflow`) imports neither torch nor fairseq, so that Snakemake starts fast.
The fairseq side is `natpipe.plugin`: compatibility fixes, the per-sentence length cap, and every
system's fairseq models, criterions and tasks. fairseq imports this package as its `--user-dir`
only once fairseq itself is loaded, and then gets the plugin too.
"""
import sys

if "fairseq" in sys.modules:  # loaded as fairseq's --user-dir
    import natpipe.plugin  # noqa: F401
