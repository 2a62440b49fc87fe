"""Evaluation of generated motion: lip sync, reactiveness, richness, distribution distance."""
