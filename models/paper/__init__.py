"""The paper's own components, in the official names: the LIA-style motion autoencoder (512x512) and
the wav2vec2 audio path (transformers is optional: `audio` imports it only when a model is built)."""

from .audio import (
    AudioProjection,
    AudioProjectionCheckpointError,
    CausalWav2Vec2Stream,
    Wav2Vec2Features,
    Wav2Vec2FolderError,
    load_audio_projection,
)
from .motion_autoencoder import (
    PAPER_CONFIG,
    MotionAutoencoder,
    MotionAutoencoderConfig,
    SourceEncoding,
)
from .pipeline import PaperAvatar, PaperComponents, stream_recording
from .weights import (
    CheckpointLayoutError,
    MotionAutoencoderCheckpointError,
    check_state_dict,
    expected_shapes,
    load_motion_autoencoder,
    random_state_dict,
    save_random_checkpoint,
)
from .weights_folder import (
    PaperConfig,
    PaperWeights,
    PaperWeightsError,
    check_weights_folder,
    write_random_weights_folder,
)

__all__ = [
    "PAPER_CONFIG",
    "AudioProjection",
    "AudioProjectionCheckpointError",
    "CausalWav2Vec2Stream",
    "CheckpointLayoutError",
    "MotionAutoencoder",
    "MotionAutoencoderCheckpointError",
    "MotionAutoencoderConfig",
    "PaperAvatar",
    "PaperComponents",
    "PaperConfig",
    "PaperWeights",
    "PaperWeightsError",
    "SourceEncoding",
    "Wav2Vec2Features",
    "Wav2Vec2FolderError",
    "check_state_dict",
    "check_weights_folder",
    "expected_shapes",
    "load_audio_projection",
    "load_motion_autoencoder",
    "random_state_dict",
    "save_random_checkpoint",
    "stream_recording",
    "write_random_weights_folder",
]
