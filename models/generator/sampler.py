"""The one streaming sampler API: reset(), then step(conditions of the next block) -> motion.

Every consumer (server, CLI, demo, evaluation, parity) calls this; nobody re-implements the
denoising loop.

Schedules:
- "official": the released behaviour. The first call denoises a whole window (2 s) with no cache,
  later calls 10-frame blocks; every timestep of linspace(1000, 0, nfe - 1) is evaluated, the last
  (t = 0) one doubling as the cache refresh.
- "realtime": the first block is an ordinary block on an empty cache, block size configurable,
  the no-op evaluation at t = 0 is skipped; a key/value-only pass refreshes the cache.

`SamplerConfig.context_timestep` > 0 shows the model its history (context frames and the cached
keys/values) noised to that level instead of clean; 0 is the released behaviour.

Work done once per block, not once per step: condition encoding (Dual Motion Encoder) and the
cross-attention keys/values; the guidance branches run batched in one forward.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import torch

from .articulation import blend_channels
from .backend import GeneratorBackend, get_backend
from .cache import GeneratorCache
from .conditions import Conditions, combine_guidance, guidance_branches
from .config import SamplerConfig
from .masks import alignment_mask, streaming_self_mask
from .schedule import flow_update, interpolate, sampling_timesteps, sigma_for_timestep
from .transformer import MotionGenerator

log = logging.getLogger(__name__)


def channel_guidance_scale(
    name: str, scale: float, speech: float | None, speech_channels: Sequence[int], dim_motion: int
) -> float | torch.Tensor:
    """A guidance scale per channel: `scale` everywhere and `speech` on the speech channels (a
    (D,) tensor), or one float when they agree (`speech` None or equal). ValueError naming
    `name` when a speech scale is asked of a generator whose motion space names no speech
    channels (e.g. the paper's latent motion)."""
    if speech is None or float(speech) == float(scale):
        return float(scale)
    if not speech_channels:
        raise ValueError(
            f"{name} needs a motion space with named speech channels (arkit); "
            f"this generator's has none: leave {name} unset"
        )
    out = torch.full((dim_motion,), float(scale))
    out[list(speech_channels)] = float(speech)
    return out


def user_guidance_scale(
    config: SamplerConfig, speech_channels: Sequence[int], dim_motion: int
) -> float | torch.Tensor:
    """User guidance per channel: `u_cfg_scale` everywhere, `u_cfg_speech` on the speech channels."""
    return channel_guidance_scale(
        "u_cfg_speech", config.u_cfg_scale, config.u_cfg_speech, speech_channels, dim_motion
    )


def audio_guidance_scale(
    config: SamplerConfig, speech_channels: Sequence[int], dim_motion: int
) -> float | torch.Tensor:
    """Avatar-audio guidance per channel: `a_cfg_scale` everywhere, `a_cfg_speech` on the speech
    channels."""
    return channel_guidance_scale(
        "a_cfg_speech", config.a_cfg_scale, config.a_cfg_speech, speech_channels, dim_motion
    )


class StreamingSampler:
    def __init__(self, model: MotionGenerator, config: SamplerConfig | None = None) -> None:
        self.model = model
        self.config = config or SamplerConfig()
        g = model.config
        self.block = self.config.block_frames or g.block_frames
        if self.config.schedule == "official" and self.block != g.block_frames:
            raise ValueError(
                f"the official schedule uses the model's block of {g.block_frames} frames "
                f"(got block_frames={self.block}); use schedule='realtime' for other sizes"
            )
        if self.block + g.context_frames >= g.window_frames:
            raise ValueError(
                f"block_frames ({self.block}) + context ({g.context_frames}) must be smaller than "
                f"the attention window ({g.window_frames})"
            )
        ts = sampling_timesteps(self.config.nfe, g.num_train_timesteps)
        if self.config.schedule == "realtime":
            ts = ts[:-1]  # the final t = 0 evaluation changes nothing: skip it
        self.timesteps = ts
        sig = [sigma_for_timestep(t, g.num_train_timesteps) for t in ts]
        self.sigmas = [*sig, 0.0]
        self.branches = 3 if self.config.guidance else 1
        speech = getattr(model, "speech_channels", ())
        self.user_scale = user_guidance_scale(self.config, speech, g.dim_motion)  # float or (D,)
        self.audio_scale = audio_guidance_scale(self.config, speech, g.dim_motion)  # float or (D,)
        self.speech_channels = tuple(speech)
        if self.config.articulation > 0:
            if getattr(model, "articulation", None) is None:
                raise ValueError(
                    "articulation > 0 needs a model with an articulation head "
                    "(GeneratorConfig.articulation_classes; `avatar-forcing articulation` adds one): "
                    "set articulation to 0"
                )
            if not speech:
                raise ValueError(
                    "articulation needs a motion space with named speech channels (arkit); "
                    "this generator's has none: set articulation to 0"
                )
        self.cache: GeneratorCache | None = None

    # --- API ----------------------------------------------------------------------------------
    def reset(self, ref_motion: torch.Tensor) -> GeneratorCache:
        """Start a new stream for a batch of avatars; ref_motion: (B, dim_motion)."""
        g = self.model.config
        if ref_motion.dim() != 2 or ref_motion.shape[1] != g.dim_motion:
            raise ValueError(f"ref_motion must be (B, {g.dim_motion}); got {tuple(ref_motion.shape)}")
        p = next(self.model.parameters())
        self.cache = GeneratorCache(
            ref=ref_motion.to(device=p.device, dtype=p.dtype),
            max_self_frames=g.window_frames - self.block - g.context_frames,
            cond_window=g.cond_window,
            context_frames=g.context_frames,
            cond_history_frames=g.condition_context,
        )
        return self.cache

    @property
    def backend(self) -> GeneratorBackend:
        """How the network is evaluated: the backend attached to the model (torch by default)."""
        return get_backend(self.model)

    @property
    def next_block_frames(self) -> int:
        """Frames the next step() takes: a whole window first in the official schedule."""
        cache = self._require_cache()
        if self.config.schedule == "official" and cache.frames_done == 0:
            return self.model.config.window_frames
        return self.block

    @torch.inference_mode()
    def step(
        self,
        cond: Conditions,  # (B, n, .) raw condition features of the next n frames
        noise: torch.Tensor | None = None,  # (B, n, dim_motion); drawn when None
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:  # (B, n, dim_motion) clean motion
        cache = self._require_cache()
        cond, noise = self._block_inputs(cond, noise, generator)
        return self._denoise(cache, cond, noise, [cond.batch], [generator])

    def _block_inputs(
        self,
        cond: Conditions,  # (B, n, .)
        noise: torch.Tensor | None,  # (B, n, dim_motion) or None
        generator: torch.Generator | None,
    ) -> tuple[Conditions, torch.Tensor]:  # (B, n, .) on the model's device/dtype, (B, n, D)
        """Check one stream's inputs for its next block and draw its noise when none is given."""
        cache = self._require_cache()
        g = self.model.config
        b, n = cond.batch, cond.frames
        if b != cache.ref.shape[0]:
            raise ValueError(f"conditions have batch {b}, the stream was reset with {cache.ref.shape[0]}")
        widths = (cond.avatar_audio.shape[-1], cond.user_audio.shape[-1], cond.user_motion.shape[-1])
        if widths != (g.dim_cond, g.dim_cond, g.dim_motion):
            raise ValueError(
                f"condition widths (avatar audio, user audio, user motion) are {widths}; "
                f"the model takes {(g.dim_cond, g.dim_cond, g.dim_motion)}"
            )
        if not 1 <= n <= self.next_block_frames:
            raise ValueError(f"step takes 1..{self.next_block_frames} frames; got {n}")
        p = cache.ref
        cond = Conditions(
            *(
                x.to(device=p.device, dtype=p.dtype)
                for x in (cond.avatar_audio, cond.user_audio, cond.user_motion)
            )
        )
        if noise is None:
            noise = torch.randn(b, n, g.dim_motion, generator=generator, device=p.device, dtype=p.dtype)
        elif tuple(noise.shape) != (b, n, g.dim_motion):
            raise ValueError(f"noise must be {(b, n, g.dim_motion)}; got {tuple(noise.shape)}")
        return cond, noise.to(p)

    def _denoise(
        self,
        cache: GeneratorCache,  # the streams' caches stacked along the batch axis (G*B rows, branch-major)
        cond: Conditions,  # (B, n, .) checked conditions of every stream, stacked
        noise: torch.Tensor,  # (B, n, D)
        rows: Sequence[int],  # batch rows of each stream, in stacking order; sum = B
        generators: Sequence[torch.Generator | None],  # one per stream: its own noise draws
    ) -> torch.Tensor:  # (B, n, D) clean motion; `cache` is advanced
        """The denoising loop of one block: the only one there is.

        `step` runs it for one stream; `models.generator.batched.step_batched` for several
        compatible streams at once, stacked along the batch axis. Noise drawn here (noisy context
        and history, `context_timestep` > 0) is drawn stream by stream, each with its own
        generator, so a seeded stream gets the same numbers batched or not.
        """
        net, g = self.backend, self.model.config  # the network: torch or onnxruntime, same calls
        b, n = cond.batch, cond.frames
        p = cache.ref

        def randn(shape: torch.Size) -> torch.Tensor:  # (B, ...) drawn per stream, then stacked
            parts = [
                torch.randn((r, *shape[1:]), generator=gen, device=p.device, dtype=p.dtype)
                for r, gen in zip(rows, generators, strict=True)
            ]
            return parts[0] if len(parts) == 1 else torch.cat(parts)

        c = cache.num_context
        # The condition history (its last c frames are the context's) and the new frames; the
        # Dual Motion Encoder reads all of them; the generator cross-attends to the last c + n.
        cond_all = Conditions.cat([cache.context_cond, cond]) if c else cond  # (B, h + n, .)
        ctx_t = float(self.config.context_timestep)
        ctx_sigma = sigma_for_timestep(ctx_t, g.num_train_timesteps)
        context = cache.context
        if c and ctx_t > 0:
            assert context is not None
            context = interpolate(context, randn(context.shape), torch.tensor(ctx_sigma, dtype=p.dtype))
        x = torch.cat([context, noise], dim=1) if c else noise  # (B, c + n, D)
        n_in = c + n

        # Once per block: condition tokens and cross-attention keys/values of every branch.
        branch_cond = guidance_branches(cond_all) if self.branches == 3 else cond_all
        cross_new = net.condition_kv(branch_cond)  # per layer (G*B, H, h + n, Dh)
        if cond_all.frames > n_in:  # history frames only informed the tokens: drop their keys
            cross_new = [(k[:, :, -n_in:], v[:, :, -n_in:]) for k, v in cross_new]
        k_past = cache.cached_cond_frames
        if cache.cross_kv is not None:
            cross = [
                (torch.cat([pk, nk], 2), torch.cat([pv, nv], 2))
                for (pk, pv), (nk, nv) in zip(cache.cross_kv, cross_new, strict=True)
            ]
        else:
            cross = cross_new
        cross_mask = alignment_mask(
            n_in,
            k_past + n_in,
            g.cond_window,
            key_offset=k_past,
            device=p.device,
            max_ahead=self.config.cond_lookahead,
        )
        self_mask = streaming_self_mask(cache.cached_frames, n_in, g.lookahead_frames, device=p.device)
        ref = cache.ref.repeat(self.branches, 1)
        past = cache.self_kv

        def frame_values(value: float, context_value: float = 0.0) -> torch.Tensor:  # (c + n,)
            out = torch.full((n_in,), context_value, device=p.device, dtype=p.dtype)
            out[c:] = value
            return out

        u_cfg = self._on(self.user_scale, p)  # float, or (D,) on the block's device and dtype
        a_cfg = self._on(self.audio_scale, p)
        last_kv = None
        for i, t in enumerate(self.timesteps):
            # Context frames carry the context level; their sigma stays 0 so updates leave them be.
            t_frames = frame_values(t, ctx_t).expand(b * self.branches, n_in)
            xb = x.repeat(self.branches, 1, 1)
            out = net.evaluate(xb, t_frames, ref, cross, cross_mask, self_mask, past)
            assert out.velocity is not None
            v = combine_guidance(out.velocity, a_cfg, u_cfg) if self.branches == 3 else out.velocity
            x = flow_update(x, v, frame_values(self.sigmas[i]), frame_values(self.sigmas[i + 1]))
            if t == 0.0 and ctx_t == 0.0:
                last_kv = out.new_kv  # the t = 0 evaluation saw exactly the clean frames
        if self.config.articulation > 0:
            x = torch.cat([x[:, :c], self._articulate(x[:, c:], cond)], dim=1)
            last_kv = None  # the cache must see the frames as emitted
        clean = torch.cat([cache.context, x[:, c:]], dim=1) if c else x  # (B, c + n, D)
        if last_kv is None:
            seen = clean
            if ctx_t > 0:
                seen = interpolate(clean, randn(clean.shape), torch.tensor(ctx_sigma, dtype=p.dtype))
            levels = torch.full((b * self.branches, n_in), ctx_t, device=p.device, dtype=p.dtype)
            refresh = net.evaluate(
                seen.repeat(self.branches, 1, 1),
                levels,
                ref,
                cross,
                cross_mask,
                self_mask,
                past,
                kv_only=True,
            )
            last_kv = refresh.new_kv
        cache.advance(clean, cond_all, last_kv, cross)
        return x[:, c:]

    def _articulate(
        self,
        x: torch.Tensor,  # (B, n, D) the block's sampled frames
        cond: Conditions,  # (B, n, .) the block's raw conditions
    ) -> torch.Tensor:  # (B, n, D)
        """The speech channels moved `articulation` of the way to the head's target pose."""
        head = self.model.articulation
        assert head is not None  # checked in __init__
        target = head.target(cond.avatar_audio)  # (B, n, D)
        return blend_channels(x, target, self.config.articulation, self.speech_channels)

    @staticmethod
    def _on(scale: float | torch.Tensor, like: torch.Tensor) -> float | torch.Tensor:
        """A guidance scale: one float, or (D,) on `like`'s device and dtype."""
        return scale if isinstance(scale, float) else scale.to(device=like.device, dtype=like.dtype)

    def _require_cache(self) -> GeneratorCache:
        if self.cache is None:
            raise RuntimeError("call reset(ref_motion) before step()")
        return self.cache


def stream_offline(
    sampler: StreamingSampler,
    cond: Conditions,  # (B, T, .) whole-file condition features
    ref_motion: torch.Tensor,  # (B, D)
    noise: list[torch.Tensor] | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:  # (B, T, D)
    """Run a whole recording through the streaming sampler, block by block.

    Past the end of the recording, condition frames are clamped to the last one (replicate
    padding of the inputs, as the release does) and the output is cut back to T frames.
    """
    sampler.reset(ref_motion)
    total = cond.frames
    outputs: list[torch.Tensor] = []
    done, k = 0, 0
    while done < total:
        n = sampler.next_block_frames
        idx = torch.arange(done, done + n).clamp(max=total - 1)
        block_noise = None if noise is None else noise[k]
        outputs.append(sampler.step(cond.index(idx), block_noise, generator))
        done += n
        k += 1
    return torch.cat(outputs, dim=1)[:, :total]
