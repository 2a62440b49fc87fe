"""The paper's motion space: a LIA-style motion autoencoder (identity + 20 motion coefficients).

Avatar Forcing renders with the motion autoencoder of the authors' earlier FLOAT, itself the
"Latent Image Animator" of Wang et al. (ICLR 2022):

- Encoder (`enc`): a StyleGAN2-discriminator-like conv net (`enc.net_app`: a 1x1 conv to 32 channels
  at 512x512, seven residual blocks halving the resolution down to 4x4, then a 4x4 conv to a 512-d
  vector). Its output is the identity latent z_S (B, 512); its intermediate maps from 8x8 to 512x512
  are the multi-scale features the decoder warps. An MLP of five linear layers without activations
  (`enc.fc`) maps the same vector to 20 motion coefficients alpha.
- Motion basis (`dec.direction`): a learned 512 x 20 matrix; the Q of its QR decomposition is an
  orthonormal basis, and the motion latent is m = Q alpha (B, 512). The motion generator works on m.
- Decoder (`dec`): StyleGAN2-like synthesis from a learned 4x4 constant, every layer modulated by the
  single latent w = z_S + m (the same vector at every layer). At each scale from 8x8 to 512x512 a
  flow/occlusion head warps the encoder's feature of the source image at that scale (see
  layers.ToFlow) and the RGB skips accumulate the warped features; the last RGB is the frame.

Latent convention (chosen here, following FLOAT, which Avatar Forcing inherits): the motion latent
is absolute, frame = Dec(z_S + m) with m = Q alpha of the driving frame; the source image is
reconstructed by its own motion, Dec(z_S + Q alpha_S), and Q alpha_S is the avatar's reference motion
given to the generator. LIA's optional relative transfer (m = m_S + m_drive - m_drive_start) is
`relative_motion`.

No noise is injected (the released code passes none); the output is not squashed: frames are
roughly in [-1, 1], clamp before converting to pixels.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .layers import (
    ConstantInput,
    Direction,
    EqualConv2d,
    EqualLinear,
    ResBlock,
    StyledConv,
    ToFlow,
    ToRGB,
    conv_layer,
)

# Channels per resolution (StyleGAN2's table, channel multiplier 1).
BASE_CHANNELS: dict[int, int] = {
    4: 512,
    8: 512,
    16: 512,
    32: 512,
    64: 256,
    128: 128,
    256: 64,
    512: 32,
    1024: 16,
}


@dataclass(frozen=True)
class MotionAutoencoderConfig:
    """Geometry. The default is the paper's (512x512, 512-d latents, 20 directions); smaller ones are
    for tests (`max_channels` caps every width)."""

    size: int = 512
    style_dim: int = 512
    motion_dim: int = 20
    channel_multiplier: int = 1
    max_channels: int = 512
    mlp_layers: int = 4  # linear layers of width style_dim before the last one to motion_dim

    def __post_init__(self) -> None:
        if self.size & (self.size - 1) or not 8 <= self.size <= 1024:
            raise ValueError(f"size must be a power of two from 8 to 1024, not {self.size}")

    def channels(self, resolution: int, multiplier: int | None = None) -> int:
        base = BASE_CHANNELS[resolution]
        m = self.channel_multiplier if multiplier is None else multiplier
        if resolution >= 64:
            base *= m
        return min(base, self.max_channels)

    @property
    def log_size(self) -> int:
        return self.size.bit_length() - 1


PAPER_CONFIG = MotionAutoencoderConfig()


@dataclass
class SourceEncoding:
    """Everything the decoder needs about one source (avatar) image, computed once per portrait."""

    identity: torch.Tensor  # (B, D) z_S
    feats: list[torch.Tensor]  # multi-scale maps (B, C_r, r, r), r = 8, 16, ..., size
    alpha: torch.Tensor  # (B, M) the source's own motion coefficients
    motion: torch.Tensor  # (B, D) Q alpha: the reference motion of the avatar


class AppearanceEncoder(nn.Module):
    """`enc.net_app`: (B, 3, S, S) -> vector (B, D) and features from 8x8 to SxS (coarse first)."""

    def __init__(self, config: MotionAutoencoderConfig) -> None:
        super().__init__()
        size = config.size
        convs: list[nn.Module] = [conv_layer(3, config.channels(size, 1), 1)]
        in_ch = config.channels(size, 1)
        for log in range(config.log_size, 2, -1):
            out_ch = config.channels(2 ** (log - 1), 1)
            convs.append(ResBlock(in_ch, out_ch))
            in_ch = out_ch
        convs.append(EqualConv2d(in_ch, config.style_dim, 4, padding=0, bias=False))
        self.convs = nn.ModuleList(convs)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        maps: list[torch.Tensor] = []
        h = img  # (B, 3, S, S)
        for conv in self.convs:
            h = conv(h)
            maps.append(h)
        # maps: S, S/2, ..., 4 (then the (B, D, 1, 1) vector). The decoder takes 8x8 ... SxS.
        feats = maps[-3::-1]
        return h.flatten(1), feats  # (B, D), [(B, C, 8, 8), ..., (B, C, S, S)]


class MotionEncoder(nn.Module):
    """`enc`: appearance network + the linear MLP to motion coefficients."""

    def __init__(self, config: MotionAutoencoderConfig) -> None:
        super().__init__()
        self.net_app = AppearanceEncoder(config)
        d = config.style_dim
        fc: list[nn.Module] = [EqualLinear(d, d) for _ in range(config.mlp_layers)]
        fc.append(EqualLinear(d, config.motion_dim))
        self.fc = nn.Sequential(*fc)

    def forward(self, img: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], torch.Tensor]:
        z, feats = self.net_app(img)  # (B, D), feature list
        return z, feats, self.fc(z)  # ..., alpha (B, M)


class Synthesis(nn.Module):
    """`dec`: the flow-warping StyleGAN2-like decoder and the direction basis."""

    def __init__(self, config: MotionAutoencoderConfig) -> None:
        super().__init__()
        d = config.style_dim
        self.direction = Direction(d, config.motion_dim)
        ch4 = config.channels(4)
        self.input = ConstantInput(ch4)
        self.conv1 = StyledConv(ch4, ch4, 3, d)
        self.to_rgb1 = ToRGB(ch4, upsample=False)  # part of the released layout; not used in forward
        self.convs = nn.ModuleList()
        self.to_rgbs = nn.ModuleList()
        self.to_flows = nn.ModuleList()
        in_ch = ch4
        for log in range(3, config.log_size + 1):
            out_ch = config.channels(2**log)
            self.convs.append(StyledConv(in_ch, out_ch, 3, d, upsample=True))
            self.convs.append(StyledConv(out_ch, out_ch, 3, d))
            self.to_rgbs.append(ToRGB(out_ch))
            self.to_flows.append(ToFlow(out_ch, d))
            in_ch = out_ch

    def forward(self, latent: torch.Tensor, feats: list[torch.Tensor]) -> torch.Tensor:
        # latent: (B, D) = z_S + m; feats: encoder maps 8x8 ... SxS -> image (B, 3, S, S)
        if len(feats) != len(self.to_flows):
            raise ValueError(f"expected {len(self.to_flows)} feature maps, got {len(feats)}")
        out = self.conv1(self.input(latent.shape[0]), latent)  # (B, 512, 4, 4)
        rgb: torch.Tensor | None = None
        flow: torch.Tensor | None = None
        for k, (to_flow, to_rgb, feat) in enumerate(zip(self.to_flows, self.to_rgbs, feats, strict=True)):
            out = self.convs[2 * k](out, latent)  # (B, C, 2r, 2r)
            out = self.convs[2 * k + 1](out, latent)
            warped, out, flow = to_flow(out, latent, feat, flow)
            rgb = to_rgb(warped, rgb)  # (B, 3, 2r, 2r)
        assert rgb is not None
        return rgb


class MotionAutoencoder(nn.Module):
    """The paper's motion autoencoder; state_dict names = the official `motion_autoencoder.*` names
    without the prefix (see the module docstring for the architecture and latent convention)."""

    def __init__(self, config: MotionAutoencoderConfig = PAPER_CONFIG) -> None:
        super().__init__()
        self.config = config
        self.enc = MotionEncoder(config)
        self.dec = Synthesis(config)

    # -- encoding ---------------------------------------------------------------------------------
    def encode_identity(self, img: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """img (B, 3, S, S) in [-1, 1] -> z_S (B, D), features [(B, C, 8, 8), ..., (B, C, S, S)]."""
        return self.enc.net_app(img)

    def encode_motion(self, img: torch.Tensor) -> torch.Tensor:
        """img (B, 3, S, S) in [-1, 1] -> motion coefficients alpha (B, M)."""
        z, _ = self.enc.net_app(img)
        return self.enc.fc(z)

    def encode(self, img: torch.Tensor) -> SourceEncoding:
        """One pass giving identity, features, coefficients and motion latent of img (B, 3, S, S)."""
        z, feats, alpha = self.enc(img)
        return SourceEncoding(identity=z, feats=feats, alpha=alpha, motion=self.motion_latent(alpha))

    # -- motion space -----------------------------------------------------------------------------
    def direction_basis(self) -> torch.Tensor:
        """The orthonormal basis Q (D, M) of the motion space."""
        return self.dec.direction.basis()

    def motion_latent(self, alpha: torch.Tensor) -> torch.Tensor:
        """alpha (..., M) -> m = Q alpha (..., D)."""
        return self.dec.direction(alpha)

    def motion_coefficients(self, motion: torch.Tensor) -> torch.Tensor:
        """Projection of a motion latent (..., D) onto the basis: Q^T m (..., M) (inverse of
        motion_latent on its range)."""
        return motion @ self.direction_basis()

    @staticmethod
    def relative_motion(
        source_motion: torch.Tensor, driving_motion: torch.Tensor, driving_start: torch.Tensor
    ) -> torch.Tensor:
        """LIA's relative transfer: m_S + (m_drive - m_drive_start), all (..., D)."""
        return source_motion + driving_motion - driving_start

    # -- decoding ---------------------------------------------------------------------------------
    def decode(self, identity: torch.Tensor, feats: list[torch.Tensor], motion: torch.Tensor) -> torch.Tensor:
        """Dec(z_S + m): identity (B, D), feats from encode_identity, motion (B, D) -> (B, 3, S, S).

        identity and feats may have batch 1 while motion has batch B (one avatar, B frames)."""
        b = motion.shape[0]
        if identity.shape[0] != b:
            identity = identity.expand(b, -1)
        if feats and feats[0].shape[0] != b:
            feats = [f.expand(b, -1, -1, -1) for f in feats]
        return self.dec(identity + motion, feats)

    def decode_frames(self, source: SourceEncoding, motions: torch.Tensor, chunk: int = 4) -> torch.Tensor:
        """Render a sequence for one source: motions (T, D) or (1, T, D) -> frames (T, 3, S, S)."""
        if motions.dim() == 3:
            motions = motions.reshape(-1, motions.shape[-1])
        frames = [self.decode(source.identity, source.feats, m) for m in motions.split(chunk)]
        return torch.cat(frames) if frames else motions.new_zeros(0, 3, self.config.size, self.config.size)

    def forward(self, source: torch.Tensor, driving: torch.Tensor) -> torch.Tensor:
        """Reenact: source (B, 3, S, S) rendered with the motion of driving (B, 3, S, S)."""
        z, feats = self.encode_identity(source)
        return self.decode(z, feats, self.motion_latent(self.encode_motion(driving)))
