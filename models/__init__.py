"""Motion spaces, audio front ends, the generator, training, evaluation and bundled weights."""
