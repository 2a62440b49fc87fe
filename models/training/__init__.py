"""Training of the motion generator: diffusion forcing (stage 1) and DPO (stage 2)."""
