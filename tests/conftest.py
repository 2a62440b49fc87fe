"""Suite-wide settings: tiny test models run fastest (and steadiest on a shared 2-core CI) on one thread."""

import torch

torch.set_num_threads(1)
