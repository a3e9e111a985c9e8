"""Fully NAT (Gu & Kong 2021, "Fully non-autoregressive NMT: tricks of the trade"), one place:
registry entry (system.py), model (CTC upsampling, VAE latents), criterion (CE / AXE / CTC with
glancing), task, one-pass generator (greedy, CTC beam + n-gram LM, NPD) and the paper's tables."""
