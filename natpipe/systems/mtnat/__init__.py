"""Multi-task NAT with weak AR decoders (Wang et al. 2022, [MTNAT]), one place: registry entry
(system.py), model (a Fully-NAT model with weak AR decoders on its layers), criterion (Eq. 1) and
the paper's tables."""
