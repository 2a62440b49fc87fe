"""Building blocks of the LIA-style motion autoencoder (StyleGAN2-like layers in plain torch).

Written from the published descriptions of StyleGAN2 (Karras et al. 2020) and LIA (Wang et al.,
ICLR 2022), with module and parameter names laid out so that the state dict matches the official
Avatar Forcing checkpoint (see models/paper/weights.py). Conventions that matter for the weights:

- "equalised learning rate": weights are stored as N(0, 1) draws and scaled at run time by
  1/sqrt(fan_in) (times lr_mul for linear layers);
- the fused leaky ReLU adds a per-channel bias (stored as (1, C, 1, 1)), applies leaky ReLU with
  slope 0.2 and multiplies by sqrt(2);
- resampling filters are the separable [1, 3, 3, 1] binomial, normalised to sum 1 (times 4 where it
  follows a 2x upsampling), stored as (4, 4) buffers; filtering is upfirdn2d (zero-insertion
  upsampling, padding or cropping, true convolution, subsampling) done here with ordinary torch ops.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

BLUR_TAPS: tuple[int, ...] = (1, 3, 3, 1)
LRELU_SLOPE = 0.2
LRELU_GAIN = math.sqrt(2.0)


def make_blur_kernel(taps: Sequence[float] = BLUR_TAPS, gain: float = 1.0) -> torch.Tensor:
    """The separable 2D filter outer(taps, taps), normalised to sum `gain`.  # (K, K)"""
    k = torch.tensor(list(taps), dtype=torch.float32)
    k2 = torch.outer(k, k)
    return k2 * (gain / k2.sum())


def upfirdn2d(
    x: torch.Tensor, kernel: torch.Tensor, up: int = 1, down: int = 1, pad: tuple[int, int] = (0, 0)
) -> torch.Tensor:
    """Upsample by zero insertion, pad (negative values crop), convolve with `kernel`, subsample.

    x: (B, C, H, W); kernel: (Kh, Kw), applied to every channel alike; `pad` = (before, after), the
    same on both axes. Output: (B, C, (H*up + p0 + p1 - Kh) // down + 1, ...).
    """
    b, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(b, c, h * up, w * up)  # (B, C, H*up, W*up)
        z[:, :, ::up, ::up] = x
        x = z
    p0, p1 = pad
    if p0 or p1:
        x = F.pad(x, [p0, p1, p0, p1])
    kh, kw = kernel.shape
    # conv2d is a correlation: flip the filter to convolve
    weight = torch.flip(kernel, [0, 1]).to(dtype=x.dtype).reshape(1, 1, kh, kw).expand(c, 1, kh, kw)
    return F.conv2d(x, weight, stride=down, groups=c)


def fused_leaky_relu(x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x + bias, LRELU_SLOPE) * LRELU_GAIN


class FusedLeakyReLU(nn.Module):
    """Bias (1, C, 1, 1) + leaky ReLU(0.2) * sqrt(2)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(1, channels, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> same
        return fused_leaky_relu(x, self.bias)


class Blur(nn.Module):
    """upfirdn2d with the binomial filter and fixed padding, no resampling (`kernel` is a buffer)."""

    def __init__(self, pad: tuple[int, int], gain: float = 1.0, taps: Sequence[float] = BLUR_TAPS) -> None:
        super().__init__()
        self.pad = pad
        self.gain = gain
        self.taps = tuple(taps)
        self.register_buffer("kernel", make_blur_kernel(self.taps, gain))

    def default_kernel(self) -> torch.Tensor:
        return make_blur_kernel(self.taps, self.gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, C, H, W) -> (B, C, H', W')
        return upfirdn2d(x, self.kernel, pad=self.pad)


class Upsample(nn.Module):
    """2x upsampling by zero insertion and the binomial filter (gain 4): (B, C, H, W) -> (B, C, 2H, 2W)."""

    def __init__(self, factor: int = 2, taps: Sequence[float] = BLUR_TAPS) -> None:
        super().__init__()
        self.factor = factor
        self.taps = tuple(taps)
        self.gain = float(factor**2)
        p = len(self.taps) - factor
        self.pad = ((p + 1) // 2 + factor - 1, p // 2)
        self.register_buffer("kernel", make_blur_kernel(self.taps, self.gain))

    def default_kernel(self) -> torch.Tensor:
        return make_blur_kernel(self.taps, self.gain)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return upfirdn2d(x, self.kernel, up=self.factor, pad=self.pad)


class EqualConv2d(nn.Module):
    """Conv2d with weight N(0, 1) scaled by 1/sqrt(in * k * k) at run time."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.stride = stride
        self.padding = padding

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, Cin, H, W) -> (B, Cout, H', W')
        return F.conv2d(x, self.weight * self.scale, self.bias, stride=self.stride, padding=self.padding)


class EqualLinear(nn.Module):
    """Linear with weight N(0, 1)/lr_mul scaled by lr_mul/sqrt(in) at run time; bias scaled by lr_mul.

    No activation here: every EqualLinear of this model (the motion MLP and the style modulations)
    is purely linear.
    """

    def __init__(self, in_dim: int, out_dim: int, bias_init: float = 0.0, lr_mul: float = 1.0) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(out_dim, in_dim).div_(lr_mul))
        self.bias = nn.Parameter(torch.full((out_dim,), float(bias_init)))
        self.scale = lr_mul / math.sqrt(in_dim)
        self.lr_mul = lr_mul

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (..., in) -> (..., out)
        return F.linear(x, self.weight * self.scale, self.bias * self.lr_mul)


def conv_layer(
    in_channels: int,
    out_channels: int,
    kernel_size: int,
    downsample: bool = False,
    activate: bool = True,
) -> nn.Sequential:
    """[Blur if downsampling] + EqualConv2d (no bias) + [FusedLeakyReLU if activated].

    The indices of the Sequential are part of the official names (e.g. `conv2.0.kernel`,
    `conv2.1.weight`, `conv2.2.bias`). Downsampling blurs, then convolves with stride 2 and no padding.
    """
    layers: list[nn.Module] = []
    if downsample:
        p = (len(BLUR_TAPS) - 2) + (kernel_size - 1)
        layers.append(Blur(pad=((p + 1) // 2, p // 2)))
        layers.append(EqualConv2d(in_channels, out_channels, kernel_size, stride=2, padding=0, bias=False))
    else:
        layers.append(
            EqualConv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        )
    if activate:
        layers.append(FusedLeakyReLU(out_channels))
    return nn.Sequential(*layers)


class ResBlock(nn.Module):
    """Encoder residual block halving the resolution: (B, Cin, H, W) -> (B, Cout, H/2, W/2)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = conv_layer(in_channels, in_channels, 3)
        self.conv2 = conv_layer(in_channels, out_channels, 3, downsample=True)
        self.skip = conv_layer(in_channels, out_channels, 1, downsample=True, activate=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.conv2(self.conv1(x)) + self.skip(x)) * (1.0 / math.sqrt(2.0))


class ModulatedConv2d(nn.Module):
    """StyleGAN2 modulated convolution (weight stored (1, Cout, Cin, k, k)), optional 2x upsampling.

    style -> s = modulation(style) (B, Cin) (bias initialised to 1); effective weight
    w'[b,o,i] = scale * w[o,i] * s[b,i], demodulated by rsqrt(sum_{i,kh,kw} w'^2 + 1e-8) per (b, o).
    Computed without per-sample weights: the input is scaled by s and the output by the
    demodulation factor (the same linear map). Upsampling is a stride-2 transposed convolution
    followed by the binomial blur (gain 4, padding (1, 1) for k = 3).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        style_dim: int,
        demodulate: bool = True,
        upsample: bool = False,
    ) -> None:
        super().__init__()
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = kernel_size
        self.demodulate = demodulate
        self.upsample = upsample
        self.scale = 1.0 / math.sqrt(in_channels * kernel_size**2)
        self.padding = kernel_size // 2
        self.weight = nn.Parameter(torch.randn(1, out_channels, in_channels, kernel_size, kernel_size))
        self.modulation = EqualLinear(style_dim, in_channels, bias_init=1.0)
        if upsample:
            factor = 2
            p = (len(BLUR_TAPS) - factor) - (kernel_size - 1)
            self.blur = Blur(pad=((p + 1) // 2 + factor - 1, p // 2 + 1), gain=float(factor**2))

    def forward(self, x: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        # x: (B, Cin, H, W); style: (B, style_dim) -> (B, Cout, H, W), or (B, Cout, 2H, 2W) upsampling
        s = self.modulation(style)  # (B, Cin)
        w = self.weight[0] * self.scale  # (Cout, Cin, k, k)
        x = x * s[:, :, None, None]
        if self.upsample:
            out = F.conv_transpose2d(x, w.transpose(0, 1), stride=2)  # (B, Cout, 2H+k-2, 2W+k-2)
        else:
            out = F.conv2d(x, w, padding=self.padding)
        if self.demodulate:
            energy = s.square() @ w.square().sum(dim=(2, 3)).t()  # (B, Cout)
            out = out * torch.rsqrt(energy + 1e-8)[:, :, None, None]
        if self.upsample:
            out = self.blur(out)  # (B, Cout, 2H, 2W)
        return out


class NoiseInjection(nn.Module):
    """x + weight * noise. The released models are run with no noise (`noise=None` leaves x as is);
    the weight is kept for the names."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(1))

    def forward(self, x: torch.Tensor, noise: torch.Tensor | None = None) -> torch.Tensor:
        return x if noise is None else x + self.weight * noise


class ConstantInput(nn.Module):
    """A learned (1, C, 4, 4) start tensor, repeated over the batch."""

    def __init__(self, channels: int, size: int = 4) -> None:
        super().__init__()
        self.input = nn.Parameter(torch.randn(1, channels, size, size))

    def forward(self, batch: int) -> torch.Tensor:  # -> (B, C, 4, 4)
        return self.input.expand(batch, -1, -1, -1)


class StyledConv(nn.Module):
    """Modulated conv (optionally upsampling), noise injection, fused leaky ReLU."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, style_dim: int, upsample: bool = False
    ) -> None:
        super().__init__()
        self.conv = ModulatedConv2d(in_channels, out_channels, kernel_size, style_dim, upsample=upsample)
        self.noise = NoiseInjection()
        self.activate = FusedLeakyReLU(out_channels)

    def forward(
        self, x: torch.Tensor, style: torch.Tensor, noise: torch.Tensor | None = None
    ) -> torch.Tensor:
        return self.activate(self.noise(self.conv(x, style), noise))


class ToRGB(nn.Module):
    """1x1 conv (not modulated) + fused leaky ReLU, plus a bias, plus the 2x-upsampled previous RGB."""

    def __init__(self, in_channels: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = conv_layer(in_channels, 3, 1)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        # x: (B, C, H, W); skip: (B, 3, H/2, W/2) -> (B, 3, H, W)
        out = self.conv(x) + self.bias
        if skip is not None:
            out = out + self.upsample(skip)
        return out


def identity_grid(height: int, width: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Sampling grid (1, H, W, 2) of (x, y) from -1 to 1 inclusive (pixel-centre-to-edge convention
    of linspace; it is then read with align_corners=False, as the released model was trained)."""
    ys = torch.linspace(-1.0, 1.0, height, dtype=torch.float64)
    xs = torch.linspace(-1.0, 1.0, width, dtype=torch.float64)
    gy, gx = torch.meshgrid(ys, xs, indexing="ij")
    return torch.stack([gx, gy], dim=-1).unsqueeze(0).to(device=device, dtype=dtype)


class ToFlow(nn.Module):
    """Flow / occlusion head: a modulated 1x1 conv (no demodulation) gives 3 channels, accumulated
    coarse to fine like the RGB skips; tanh of the first two is an offset added to the identity grid,
    sigmoid of the third is a visibility mask. The encoder feature of this scale is warped by the grid
    (bilinear, zero padding, align_corners=False) and masked; the generator's own feature fills the
    rest: next = warped + x * (1 - mask).
    """

    def __init__(self, in_channels: int, style_dim: int, upsample: bool = True) -> None:
        super().__init__()
        if upsample:
            self.upsample = Upsample()
        self.conv = ModulatedConv2d(in_channels, 3, 1, style_dim, demodulate=False)
        self.bias = nn.Parameter(torch.zeros(1, 3, 1, 1))
        self._grids: dict[tuple[int, int, torch.device, torch.dtype], torch.Tensor] = {}

    def _grid(self, h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        key = (h, w, device, dtype)
        grid = self._grids.get(key)
        if grid is None:
            grid = self._grids[key] = identity_grid(h, w, device, dtype)
        return grid

    def forward(
        self,
        x: torch.Tensor,
        style: torch.Tensor,
        feat: torch.Tensor,
        skip: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        # x: (B, C, H, W) generator feature; style: (B, D); feat: (B, C, H, W) encoder feature;
        # skip: (B, 3, H/2, W/2) flow logits of the previous scale.
        # Returns warped (B, C, H, W), next feature (B, C, H, W), flow logits (B, 3, H, W).
        out = self.conv(x, style) + self.bias  # (B, 3, H, W)
        if skip is not None:
            out = out + self.upsample(skip)
        h, w = x.shape[-2:]
        offset = torch.tanh(out[:, 0:2]).permute(0, 2, 3, 1)  # (B, H, W, 2)
        mask = torch.sigmoid(out[:, 2:3])  # (B, 1, H, W)
        grid = offset + self._grid(h, w, x.device, x.dtype)
        warped = F.grid_sample(feat, grid, mode="bilinear", padding_mode="zeros", align_corners=False) * mask
        return warped, warped + x * (1.0 - mask), out


class Direction(nn.Module):
    """The learned (D, M) direction matrix; its QR-orthonormalised Q (D, M) is the motion basis.

    Q comes from torch.linalg.qr (reduced, Householder) of weight + 1e-8, as the released model does.
    """

    def __init__(self, style_dim: int, motion_dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.randn(style_dim, motion_dim))

    def basis(self) -> torch.Tensor:  # (D, M), orthonormal columns
        w = self.weight + 1e-8
        q, _ = torch.linalg.qr(w if w.dtype in (torch.float32, torch.float64) else w.float())
        return q.to(w.dtype)

    def forward(self, alpha: torch.Tensor) -> torch.Tensor:  # (..., M) -> (..., D) = sum_i alpha_i q_i
        return alpha @ self.basis().t()
