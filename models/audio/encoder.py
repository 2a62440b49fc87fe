"""Learned causal audio encoder: front-end features `(B, T, F)` -> condition features `(B, T, dim_cond)`.

    feats (B, T, F)
      -> causal Conv1d(F -> C, k, dilation 1) -> SiLU                     (B, T, C)
      -> (conv_layers - 1) x residual [causal Conv1d(C -> C, k, dilation 2^i) -> SiLU]
      -> GRU(C -> H)                                                       (B, T, H)
      -> Linear(concat(GRU, conv) -> dim_cond) -> LayerNorm -> SiLU        (B, T, dim_cond)

The convolutions pad on the left only: frame t sees front-end frames <= t (and those carry the
front end's own look-ahead), never later ones; the encoder adds no latency. The default
(F=164, C=128, k=3, 2 layers, H=128, dim_cond=128) has about 245 k parameters and a 7-frame
convolutional receptive field (280 ms) before the GRU.

Streaming: `forward(feats, state)` returns `(out, new_state)`; feeding a stream block by block with
the returned state equals one call on the whole sequence (up to float rounding). `EncoderState`
holds each convolution's last `(k - 1) * dilation` input frames and the GRU hidden state.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from models.generator.config import ConfigError, strict_from_dict


@dataclass(frozen=True)
class AudioEncoderConfig:
    """Architecture of `AudioEncoder` (travels in checkpoints)."""

    dim_in: int = 164  # FrontEndConfig().feature_dim
    dim_cond: int = 128  # the "small" generator preset's dim_cond
    channels: int = 128
    kernel_size: int = 3
    conv_layers: int = 2  # layer i has dilation 2^i
    gru_hidden: int = 128

    def __post_init__(self) -> None:
        bad = [
            name
            for name in ("dim_in", "dim_cond", "channels", "kernel_size", "conv_layers", "gru_hidden")
            if getattr(self, name) < 1
        ]
        if bad:
            raise ConfigError(f"invalid AudioEncoderConfig: {bad} must be >= 1")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AudioEncoderConfig:
        """Inverse of `to_dict`; unknown keys are a `ConfigError` listing the valid ones."""
        return strict_from_dict(cls, data, "audio encoder config")


@dataclass
class EncoderState:
    """Streaming state of `AudioEncoder` for a batch of B streams."""

    conv: list[torch.Tensor]  # per conv layer: (B, C_in, (k - 1) * dilation) past input frames
    gru: torch.Tensor  # (1, B, H)

    @property
    def batch_size(self) -> int:
        return self.gru.shape[1]

    def detach(self) -> EncoderState:
        """Cut the autograd history (truncated back-propagation through time)."""
        return EncoderState([c.detach() for c in self.conv], self.gru.detach())

    def to(self, device: torch.device | str) -> EncoderState:
        return EncoderState([c.to(device) for c in self.conv], self.gru.to(device))


class CausalConv1d(nn.Module):
    """Conv1d over time with left padding only, streamed with an explicit buffer."""

    def __init__(self, dim_in: int, dim_out: int, kernel_size: int, dilation: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv1d(dim_in, dim_out, kernel_size, dilation=dilation)
        self.context = (kernel_size - 1) * dilation  # past frames each output needs

    def forward(self, x: torch.Tensor, past: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """`x` (B, C_in, T) and `past` (B, C_in, context) -> `(B, C_out, T)` and the new past."""
        full = torch.cat([past, x], dim=2)  # (B, C_in, context + T)
        out = self.conv(full)  # (B, C_out, T)
        return out, full[:, :, full.shape[2] - self.context :]


class AudioEncoder(nn.Module):
    """Causal conv + GRU encoder of front-end features into per-frame condition features."""

    def __init__(self, config: AudioEncoderConfig | None = None) -> None:
        super().__init__()
        self.config = c = config or AudioEncoderConfig()
        self.convs = nn.ModuleList(
            CausalConv1d(c.dim_in if i == 0 else c.channels, c.channels, c.kernel_size, 2**i)
            for i in range(c.conv_layers)
        )
        self.gru = nn.GRU(c.channels, c.gru_hidden, batch_first=True)
        self.proj = nn.Sequential(
            nn.Linear(c.gru_hidden + c.channels, c.dim_cond),
            nn.LayerNorm(c.dim_cond),
            nn.SiLU(),
        )

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def init_state(
        self, batch: int, device: torch.device | str | None = None, dtype: torch.dtype | None = None
    ) -> EncoderState:
        """Zero state: the stream starts with silence-free zero padding (as one offline call does)."""
        ref = next(self.parameters())
        device = ref.device if device is None else device
        dtype = ref.dtype if dtype is None else dtype
        conv = [
            torch.zeros(batch, layer.conv.in_channels, layer.context, device=device, dtype=dtype)
            for layer in self.convs
        ]
        gru = torch.zeros(1, batch, self.config.gru_hidden, device=device, dtype=dtype)
        return EncoderState(conv, gru)

    def forward(
        self, feats: torch.Tensor, state: EncoderState | None = None
    ) -> tuple[torch.Tensor, EncoderState]:
        """Encode `feats` (B, T, F) that continue the stream in `state` (None: a new stream).

        Returns `(out (B, T, dim_cond), new_state)`.
        """
        if feats.ndim != 3 or feats.shape[2] != self.config.dim_in:
            raise ValueError(f"feats must be (B, T, {self.config.dim_in}), got {tuple(feats.shape)}")
        b = feats.shape[0]
        if state is None:
            state = self.init_state(b, feats.device, feats.dtype)
        elif state.batch_size != b:
            raise ValueError(f"state is for batch {state.batch_size}, feats have batch {b}")
        if feats.shape[1] == 0:
            return feats.new_zeros(b, 0, self.config.dim_cond), state
        x = feats.transpose(1, 2)  # (B, F, T)
        new_conv: list[torch.Tensor] = []
        for i, layer in enumerate(self.convs):
            y, past = layer(x, state.conv[i])  # (B, C, T)
            x = F.silu(y) if i == 0 else x + F.silu(y)  # (B, C, T)
            new_conv.append(past)
        h = x.transpose(1, 2)  # (B, T, C)
        g, gru_state = self.gru(h, state.gru)  # (B, T, H), (1, B, H)
        out = self.proj(torch.cat([g, h], dim=2))  # (B, T, dim_cond)
        return out, EncoderState(new_conv, gru_state)
