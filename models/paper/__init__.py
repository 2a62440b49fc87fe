"""The paper's own components, in the official names: the LIA-style motion autoencoder (512x512)."""

from .motion_autoencoder import (
    PAPER_CONFIG,
    MotionAutoencoder,
    MotionAutoencoderConfig,
    SourceEncoding,
)
from .weights import (
    MotionAutoencoderCheckpointError,
    check_state_dict,
    expected_shapes,
    load_motion_autoencoder,
    random_state_dict,
    save_random_checkpoint,
)

__all__ = [
    "PAPER_CONFIG",
    "MotionAutoencoder",
    "MotionAutoencoderCheckpointError",
    "MotionAutoencoderConfig",
    "SourceEncoding",
    "check_state_dict",
    "expected_shapes",
    "load_motion_autoencoder",
    "random_state_dict",
    "save_random_checkpoint",
]
