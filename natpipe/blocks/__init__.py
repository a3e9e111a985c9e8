"""Plain-torch building blocks shared by the fully non-autoregressive models (no fairseq imports)."""
