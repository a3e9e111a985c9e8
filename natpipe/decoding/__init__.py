"""Decoding shared by every system: batch-independent beam search, in-process fairseq systems
(the speed harness), and CMLM mask filling (synthetic experiments)."""
