"""Iterative-refinement NAT baselines on fairseq's own code: vanilla NAT (Gu et al. 2018) and
CMLM / mask-predict (Ghazvininejad et al. 2019), the NAT rows of the HRT tables."""
