"""The autoregressive Transformer: teachers and the AT rows of every paper's tables."""
