"""The paper's photoreal path, streamed: audio + the user's face -> motion latents -> avatar frames.

    avatar audio (any rate) --resample 16 kHz--> causal wav2vec2 (sliding window) --projection--> (n, 512)
    user audio   (any rate) --resample 16 kHz--> causal wav2vec2 (sliding window) --projection--> (n, 512)
    user face crops (n, H, W, 3) --motion encoder--> Q alpha = user motion latents (n, 512)
    portrait (H, W, 3), ONCE --motion autoencoder encoder--> identity z_S, multi-scale features,
                                                           reference motion m_S (1, 512)
        --> StreamingSampler (the generator's one denoising loop), one block per step
        --> the block's motion latents (n, 512) --ONE batched decode Dec(z_S + m)--> frames (n, S, S, 3)

`PaperComponents` holds the networks (from a weights folder, `models.paper.weights_folder`, or random
for tests) and can be shared by several streams; `PaperAvatar` is one avatar's live stream with the
same shape of API as `models.stream.AvatarStream`: push the three inputs as they arrive, call
`step()` and get the next block of frames as soon as the conditions of a whole block are in.

Conventions:
- Frame clock: 25 fps (640 samples at 16 kHz per frame); user face crops are taken to be on it.
- Audio: each side has its own resampler (models/audio/resample.py) and `CausalWav2Vec2Stream`; the
  stream's hop is the generator block (10 frames) by default, so one wav2vec2 window runs per side
  per block, and a block is ready `audio_lookahead_s` (40 ms) of audio after its last frame.
- Neutral user: before the first user face crop the user-motion condition is ZEROS, the "null"
  condition the generator was trained with (condition dropout) and uses for classifier-free
  guidance, i.e. "no user motion known", rather than the portrait's own motion, which would tell the
  model the user holds the avatar's pose. After the crops stop the last user motion is held.
- Images: RGB uint8; the portrait and the user crops are centre-cropped to a square and resized
  (bilinear, antialiased) to the autoencoder's size; give face-centred crops, as the paper's
  512x512 face crops (no face detector runs here). Frames are Dec(z_S + m) clamped to [-1, 1].
- Sampling: `PaperConfig.sampler` (the realtime schedule: 10-frame blocks from the first frame on,
  nfe 10, guidance 2 / 1); `SamplerConfig(schedule="official")` gives the release's 2-s first call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from models.audio.resample import StreamingResampler, check_rate
from models.generator.config import SamplerConfig
from models.generator.official import load_official_generator
from models.generator.sampler import StreamingSampler
from models.generator.transformer import MotionGenerator
from models.stream import ConditionBuffers

from .audio import SAMPLE_RATE, SAMPLES_PER_FRAME, AudioProjection, CausalWav2Vec2Stream, Wav2Vec2Features
from .motion_autoencoder import MotionAutoencoder, SourceEncoding
from .onnx_decoder import DecoderBackend, decoder_for
from .weights import load_motion_autoencoder, random_state_dict
from .weights_folder import (
    PAPER,
    PaperConfig,
    check_weights_folder,
    load_projection,
    load_state,
    random_generator_state_dict,
    random_projection_state_dict,
)

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------------
# the networks


@dataclass
class PaperComponents:
    """The networks of the paper path, in eval mode; shareable by several `PaperAvatar` streams."""

    config: PaperConfig
    generator: MotionGenerator
    features: Wav2Vec2Features
    projection: AudioProjection
    autoencoder: MotionAutoencoder

    def __post_init__(self) -> None:
        g = self.generator.config
        if self.projection.dim_in != self.features.feature_dim:
            raise ValueError(
                f"the audio projection takes {self.projection.dim_in} features, wav2vec2 gives "
                f"{self.features.feature_dim}"
            )
        if self.projection.dim_out != g.dim_cond:
            raise ValueError(
                f"the audio projection gives {self.projection.dim_out}, the generator takes {g.dim_cond}"
            )
        if self.autoencoder.config.style_dim != g.dim_motion:
            raise ValueError(
                f"the motion autoencoder's latents are {self.autoencoder.config.style_dim} wide, the "
                f"generator's motion is {g.dim_motion}"
            )

    @property
    def device(self) -> torch.device:
        return next(self.generator.parameters()).device

    @property
    def size(self) -> int:
        """Frame size in pixels (square)."""
        return self.autoencoder.config.size

    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        config: PaperConfig = PAPER,
        device: str | torch.device = "cpu",
        dtype: torch.dtype = torch.float32,
    ) -> PaperComponents:
        """Load the official weights from `folder` (layout: models.paper.weights_folder), strictly.

        Raises PaperWeightsError listing every missing file and mismatched tensor before loading."""
        weights = check_weights_folder(folder, config)
        flow_state = load_state(weights.flow_transformer)
        generator = load_official_generator(flow_state, config.generator)
        generator = generator.to(device=device, dtype=dtype).eval().requires_grad_(False)
        ae_state = (
            flow_state
            if weights.motion_autoencoder == weights.flow_transformer
            else load_state(weights.motion_autoencoder)
        )
        autoencoder = load_motion_autoencoder(ae_state, device, dtype, config.autoencoder)
        proj_state = (
            flow_state
            if weights.audio_projection == weights.flow_transformer
            else load_state(weights.audio_projection)
        )
        features = Wav2Vec2Features.from_pretrained(weights.wav2vec2, device=device, dtype=dtype)
        if features.feature_dim != config.audio_features:
            raise ValueError(
                f"wav2vec2 in {weights.wav2vec2} gives {features.feature_dim} features; the paper's "
                f"projection takes {config.audio_features} (wav2vec2-base: 12 x 768)"
            )
        projection = load_projection(
            proj_state, weights.audio_projection.name, config.audio_features, config.dim_cond
        ).to(device=device, dtype=dtype)
        log.info("loaded the paper weights from %s", weights.folder)
        return cls(config, generator, features, projection, autoencoder)

    @classmethod
    def random(
        cls, config: PaperConfig | None = None, seed: int = 0, device: str | torch.device = "cpu"
    ) -> PaperComponents:
        """Random weights in the official names and shapes, loaded through the strict loaders
        (default config: PaperConfig.tiny(); PAPER for the paper-size model, ~250 M parameters)."""
        config = config or PaperConfig.tiny()
        generator = load_official_generator(
            random_generator_state_dict(config.generator, seed), config.generator
        )
        projection = load_projection(
            random_projection_state_dict(config.audio_features, config.dim_cond, seed + 1),
            "random weights",
            config.audio_features,
            config.dim_cond,
        )
        autoencoder = load_motion_autoencoder(
            random_state_dict(seed + 2, config.autoencoder), device, config=config.autoencoder
        )
        features = Wav2Vec2Features.from_config(seed=seed + 3, **config.wav2vec2)
        if features.feature_dim != config.audio_features:
            raise ValueError(
                f"config.wav2vec2 gives {features.feature_dim} features, config.audio_features is "
                f"{config.audio_features}"
            )
        return cls(
            config,
            generator.to(device).requires_grad_(False),
            features.to(device),
            projection.to(device),
            autoencoder,
        )


# --------------------------------------------------------------------------------------------------
# images


def to_model_images(images: np.ndarray, size: int, device: torch.device | str = "cpu") -> torch.Tensor:
    """RGB uint8 (n, H, W, 3) or (H, W, 3) -> (n, 3, size, size) float in [-1, 1]: centre square
    crop, then a bilinear (antialiased) resize."""
    x = np.asarray(images)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or x.shape[-1] != 3 or x.dtype != np.uint8:
        raise ValueError(f"images must be RGB uint8 (n, H, W, 3) or (H, W, 3); got {x.dtype} {x.shape}")
    h, w = x.shape[1:3]
    side = min(h, w)
    if side == 0:
        raise ValueError(f"empty image of {h}x{w} pixels")
    top, left = (h - side) // 2, (w - side) // 2
    t = torch.from_numpy(np.ascontiguousarray(x[:, top : top + side, left : left + side])).to(device)
    t = t.permute(0, 3, 1, 2).float() / 127.5 - 1.0  # (n, 3, side, side)
    if side != size:
        t = F.interpolate(t, size=(size, size), mode="bilinear", align_corners=False, antialias=side > size)
    return t.clamp(-1.0, 1.0)


def to_uint8_frames(images: torch.Tensor) -> np.ndarray:
    """Decoder output (n, 3, S, S), roughly [-1, 1] -> RGB uint8 (n, S, S, 3)."""
    x = ((images.float().clamp(-1.0, 1.0) + 1.0) * 127.5).round().to(torch.uint8)
    return x.permute(0, 2, 3, 1).cpu().numpy()


# --------------------------------------------------------------------------------------------------
# one live audio input


class PaperAudioStream:
    """One live audio input: any rate -> 16 kHz (libsoxr) -> causal wav2vec2 + projection, (n, 512)
    features per new 25-fps frame. `finish()` ends the input (the last frame replicate-padded);
    `push_silence` then continues it with silence."""

    def __init__(
        self,
        features: Wav2Vec2Features,
        projection: AudioProjection,
        context_s: float = 3.0,
        lookahead_s: float = 0.04,
        hop_frames: int = 10,
        resample_quality: str = "HQ",
    ) -> None:
        self.wav2vec2 = CausalWav2Vec2Stream(features, projection, context_s, lookahead_s, hop_frames)
        self.resample_quality = resample_quality
        self.reset()

    @property
    def dim(self) -> int:
        return self.wav2vec2.dim

    def reset(self) -> None:
        self.wav2vec2.reset()
        self._resampler: StreamingResampler | None = None
        self._rate: float | None = None
        self._channels: int | None = None
        self.frames_emitted = 0  # all time, since reset
        self.finished = False

    def push(self, samples: np.ndarray, rate: float, channels: int | None = None) -> torch.Tensor:
        """One chunk of audio ((N,) or (N, C); int16 / float) -> features of the completed frames (k, D)."""
        if self.finished:
            raise RuntimeError("audio pushed after finish(): reset() first")
        rate = check_rate(rate)
        if self._resampler is None:
            self._resampler = StreamingResampler(rate, channels, self.resample_quality)
            self._rate, self._channels = rate, channels
        elif rate != self._rate:
            raise ValueError(f"sample rate changed from {self._rate:g} to {rate:g} Hz; reset() first")
        return self._emit(self.wav2vec2.push(self._resampler.push(np.asarray(samples))))

    def push_silence(self, frames: int) -> torch.Tensor:
        """Continue with silence until `frames` frames (all time) are out; returns the new ones."""
        if self.frames_emitted >= frames:
            return torch.zeros(0, self.dim)
        if self.finished:  # the wav2vec2 stream was flushed (and reset): a fresh run of silence
            n = frames - self.frames_emitted
            out = np.concatenate(
                [self.wav2vec2.push(np.zeros(n * SAMPLES_PER_FRAME, np.float32)), self.wav2vec2.flush()]
            )
            return self._emit(out[:n])
        rate = self._rate or float(SAMPLE_RATE)
        per_frame = int(np.ceil(SAMPLES_PER_FRAME * rate / SAMPLE_RATE))
        chunks = []
        while self.frames_emitted < frames:
            zeros = np.zeros(
                (per_frame, self._channels) if (self._channels or 1) > 1 else per_frame, np.float32
            )
            chunks.append(self.push(zeros, rate, self._channels))
        return torch.cat(chunks)

    def finish(self) -> torch.Tensor:
        """End of the input: flush the resampler and wav2vec2; ceil(N16 / 640) frames in all."""
        if self.finished:
            return torch.zeros(0, self.dim)
        tail = self._resampler.flush() if self._resampler is not None else np.zeros(0, np.float32)
        out = np.concatenate([self.wav2vec2.push(tail), self.wav2vec2.flush()])
        self.finished = True
        return self._emit(out)

    def _emit(self, feats: np.ndarray) -> torch.Tensor:  # (k, D) numpy -> torch
        self.frames_emitted += len(feats)
        return torch.from_numpy(np.ascontiguousarray(feats, np.float32))


# --------------------------------------------------------------------------------------------------
# one avatar's stream


class PaperAvatar:
    """One avatar (a portrait) in a live conversation, on the paper's networks.

    Args:
        components: the networks (`PaperComponents.from_folder` / `.random`).
        sampler_config: how to sample (default: the config's, the realtime schedule).
        seed: the stream's own noise seed (None: fresh entropy).
        audio_context_s, audio_lookahead_s: past / future audio of each causal wav2vec2 window.
        audio_hop_frames: frames per wav2vec2 window (default: the generator block).
        decode_chunk: frames per decoder call (default None: the whole block in one batched call).
        decoder_backend: "torch" (default) or "onnx" (the decoder exported to ONNX and run on
            onnxruntime, `models.paper.onnx_decoder`; one session per autoencoder, shared by its
            streams), or a `DecoderBackend` object.
    """

    def __init__(
        self,
        components: PaperComponents,
        sampler_config: SamplerConfig | None = None,
        seed: int | None = None,
        audio_context_s: float = 3.0,
        audio_lookahead_s: float = 0.04,
        audio_hop_frames: int | None = None,
        decode_chunk: int | None = None,
        decoder_backend: str | DecoderBackend = "torch",
    ) -> None:
        self.components = components
        self.decoder: DecoderBackend = (
            decoder_for(components.autoencoder, decoder_backend)
            if isinstance(decoder_backend, str)
            else decoder_backend
        )
        self.dim = components.generator.config.dim_motion
        self.sampler = StreamingSampler(components.generator, sampler_config or components.config.sampler)
        hop = audio_hop_frames or self.sampler.block

        def side() -> PaperAudioStream:
            return PaperAudioStream(
                components.features, components.projection, audio_context_s, audio_lookahead_s, hop
            )

        self.conditions = ConditionBuffers(side(), side(), self.dim)  # zeros before any user motion
        self.avatar_audio = self.conditions.avatar_audio
        self.user_audio = self.conditions.user_audio
        self.decode_chunk = decode_chunk
        self.seed = seed
        self.source: SourceEncoding | None = None
        self.reset()

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def from_folder(
        cls,
        folder: str | Path,
        config: PaperConfig = PAPER,
        device: str | torch.device = "cpu",
        **kwargs: object,
    ) -> PaperAvatar:
        """The paper's model from a folder of official weights (see models.paper.weights_folder)."""
        return cls(PaperComponents.from_folder(folder, config, device), **kwargs)  # type: ignore[arg-type]

    @classmethod
    def random(cls, tiny: bool = True, seed: int = 0, **kwargs: object) -> PaperAvatar:
        """Random weights in the official names: PaperConfig.tiny() (tests), or paper-size."""
        config = PaperConfig.tiny() if tiny else PAPER
        kwargs.setdefault("seed", seed)
        return cls(PaperComponents.random(config, seed), **kwargs)  # type: ignore[arg-type]

    # --- properties ---------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return self.components.size

    @property
    def fps(self) -> int:
        return self.components.generator.config.fps

    @property
    def block_frames(self) -> int:
        """Frames the next step() produces (a whole 2-s window first in the official schedule)."""
        return self.sampler.next_block_frames if self.sampler.cache is not None else self.sampler.block

    @property
    def reference_motion(self) -> torch.Tensor:
        """The portrait's own motion latent (1, D), the generator's reference condition."""
        return self._require_source().motion

    # --- portrait and stream state ------------------------------------------------------------
    @torch.inference_mode()
    def set_portrait(self, image: np.ndarray) -> None:
        """The avatar's portrait, RGB uint8 (H, W, 3): encoded ONCE (identity, multi-scale features,
        reference motion); then the stream starts over."""
        ae = self.components.autoencoder
        img = to_model_images(image, self.size, self.components.device)  # (1, 3, S, S)
        if img.shape[0] != 1:
            raise ValueError("set_portrait takes one image (H, W, 3)")
        self.source = ae.encode(img.to(next(ae.parameters()).dtype))
        self.reset()

    def reset(self) -> None:
        """Start the conversation over (the portrait stays)."""
        self.conditions.reset()  # neutral user = the null condition (zeros)
        self.frames_out = 0
        self._rng = torch.Generator(device=self.components.device)
        if self.seed is None:
            self._rng.seed()
        else:
            self._rng.manual_seed(self.seed)
        if self.source is not None:
            self.sampler.reset(self.source.motion)  # (1, D)
        else:
            self.sampler.cache = None

    # --- input --------------------------------------------------------------------------------
    def push_avatar_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        """The avatar's own speech (e.g. from a TTS), any rate, (N,) or (N, C)."""
        self.conditions.push_avatar_audio(samples, rate, channels)

    def push_user_audio(self, samples: np.ndarray, rate: float, channels: int | None = None) -> None:
        self.conditions.push_user_audio(samples, rate, channels)

    @torch.inference_mode()
    def push_user_frames(self, crops: np.ndarray) -> None:
        """The user's face crops from the webcam, RGB uint8 (n, H, W, 3) at 25 fps: encoded by the
        motion encoder (batched) to user motion latents Q alpha (n, D)."""
        ae = self.components.autoencoder
        x = np.asarray(crops)
        if x.ndim == 4 and len(x) == 0:
            return
        img = to_model_images(x, self.size, self.components.device)  # (n, 3, S, S)
        dtype = next(ae.parameters()).dtype
        parts = img.split(self.decode_chunk or len(img))
        motion = torch.cat([ae.motion_latent(ae.encode_motion(p.to(dtype))) for p in parts])  # (n, D)
        self.push_user_motion(motion)

    def push_user_motion(self, motion: np.ndarray | torch.Tensor) -> None:
        """User motion latents (n, D) directly (e.g. encoded elsewhere)."""
        t = torch.as_tensor(np.asarray(motion, np.float32) if isinstance(motion, np.ndarray) else motion)
        t = t.detach().float().cpu()
        if t.ndim != 2 or t.shape[1] != self.dim:
            raise ValueError(f"user motion must be (n, {self.dim}); got {tuple(t.shape)}")
        if not torch.isfinite(t).all():
            raise ValueError("user motion contains NaN or infinite values")
        self.conditions.push_user_motion(t)

    def finish_audio(self) -> None:
        """End of both audio inputs (end of a recording)."""
        self.conditions.finish_audio()

    def fill_silence(self, frames: int) -> None:
        """Make every condition stream cover `frames` frames since reset (see ConditionBuffers)."""
        self.conditions.fill_silence(frames)

    # --- output -------------------------------------------------------------------------------
    def available_frames(self) -> int:
        """Condition frames buffered and not yet generated (complete in all three streams)."""
        return self.conditions.available_frames()

    def step_motion(self, allow_partial: bool = False) -> torch.Tensor | None:
        """Run the generator on the next block when its conditions are in: motion latents (n, D)."""
        self._require_source()
        need = self.sampler.next_block_frames
        have = self.available_frames()
        if have < need and not (allow_partial and have > 0):
            return None
        n = min(need, have)
        motion = self.sampler.step(self.conditions.take(n), generator=self._rng)  # (1, n, D)
        self.frames_out += n
        return motion[0]

    @torch.inference_mode()
    def decode(self, motion: torch.Tensor) -> np.ndarray:
        """Motion latents (n, D) -> frames RGB uint8 (n, S, S, 3): Dec(z_S + m), one batched call
        (or `decode_chunk` frames per call)."""
        source = self._require_source()
        m = motion.to(device=source.identity.device, dtype=source.identity.dtype)
        parts = m.split(self.decode_chunk or max(1, len(m)))
        decode = self.decoder.decode
        images = torch.cat([decode(source.identity, source.feats, p) for p in parts])  # (n, 3, S, S)
        return to_uint8_frames(images)

    def step(self, allow_partial: bool = False) -> np.ndarray | None:
        """The next block of frames, RGB uint8 (n, S, S, 3), or None until its conditions are in."""
        motion = self.step_motion(allow_partial)
        return None if motion is None else self.decode(motion)

    def _require_source(self) -> SourceEncoding:
        if self.source is None:
            raise RuntimeError("set_portrait(image) first: the avatar has no portrait")
        return self.source


# --------------------------------------------------------------------------------------------------
# a whole recording through the live path


def stream_recording(
    avatar: PaperAvatar,
    avatar_audio: np.ndarray,
    avatar_rate: float,
    user_audio: np.ndarray | None = None,
    user_rate: float | None = None,
    user_frames: np.ndarray | None = None,
    decode: bool = True,
    chunk_seconds: float = 0.4,
) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
    """Feed recordings through the live path in `chunk_seconds` chunks, as a session would, and
    yield each generated block: (motion latents (n, D) float32, frames (n, S, S, 3) uint8 or None
    without `decode`). T = ceil(avatar samples at 16 kHz / 640) frames in all. A missing user side
    is silence and the neutral (zero) user motion; the user track is cut or padded to the avatar's
    duration; user_frames (k, H, W, 3) are face crops at 25 fps."""
    avatar.reset()
    a = np.asarray(avatar_audio)
    u_rate = float(avatar_rate if user_rate is None else user_rate)
    u_len = round(len(a) * u_rate / avatar_rate)
    if user_audio is None:
        u = np.zeros(u_len, np.float32)  # a missing user side is silence (mono)
    else:
        u = np.asarray(user_audio)
        u = (
            u[:u_len]
            if len(u) >= u_len
            else np.concatenate([u, np.zeros((u_len - len(u), *u.shape[1:]), u.dtype)])
        )
    step_a = max(1, int(chunk_seconds * avatar_rate))
    step_u = max(1, int(chunk_seconds * u_rate))
    fed = 0

    def blocks(allow_partial: bool = False) -> Iterator[tuple[np.ndarray, np.ndarray | None]]:
        while (motion := avatar.step_motion(allow_partial)) is not None:
            frames = avatar.decode(motion) if decode else None
            yield motion.float().cpu().numpy(), frames

    for i in range(-(-len(a) // step_a)):
        avatar.push_avatar_audio(a[i * step_a : (i + 1) * step_a], avatar_rate)
        avatar.push_user_audio(u[i * step_u : (i + 1) * step_u], u_rate)
        if user_frames is not None:
            target = min(len(user_frames), avatar.avatar_audio.frames_emitted)
            if target > fed:
                avatar.push_user_frames(user_frames[fed:target])
                fed = target
        yield from blocks()
    avatar.finish_audio()
    total = avatar.avatar_audio.frames_emitted
    if user_frames is not None and fed < min(total, len(user_frames)):
        avatar.push_user_frames(user_frames[fed:total])
    avatar.fill_silence(total)
    yield from blocks(allow_partial=True)
