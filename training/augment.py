"""Batched MRI augmentation on cached geometric images, then the app's normalisation.

Input: ``N x 1 x H x W`` float in [0, 1] (a batch of :func:`desktop.core.preprocess.geometric`
outputs). Geometry: flips, small rotation / scale / shift; intensity: brightness,
contrast, gamma; degradation: blur, noise, resolution loss. No colour. Every random
draw comes from the ``torch.Generator`` passed in, so a seed reproduces a batch.
:func:`normalise` is :func:`desktop.core.preprocess.normalise` in torch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

from desktop.core.model_spec import Preprocessing


@dataclass(frozen=True)
class AugmentConfig:
    hflip: float = 0.5
    vflip: float = 0.1
    rotate_deg: float = 15.0
    scale: tuple[float, float] = (0.85, 1.15)
    shift: float = 0.08
    brightness: float = 0.08
    contrast: tuple[float, float] = (0.75, 1.3)
    gamma: tuple[float, float] = (0.7, 1.5)
    p_blur: float = 0.25
    blur_sigma: tuple[float, float] = (0.4, 1.2)
    p_noise: float = 0.3
    noise_std: tuple[float, float] = (0.005, 0.04)
    p_lowres: float = 0.2
    lowres_factor: tuple[float, float] = (0.4, 0.8)
    #: crude skull stripping of slices that have a skull: erode the head mask by a random
    #: share of the image and zoom in (the app crops a stripped brain to its foreground)
    p_skull_strip: float = 0.0
    strip_share: tuple[float, float] = (0.04, 0.10)
    #: window change: saturate the brightest part (a narrower display window)
    p_window: float = 0.0
    window_high: tuple[float, float] = (0.55, 0.95)
    #: down-up sampling of one axis only (thick slices, anisotropic voxels)
    p_aniso: float = 0.0
    #: brightness / contrast / gamma on (False: the ablation without intensity augmentation;
    #: the random draws are still made, so every other transform gets the same numbers)
    intensity: bool = True


def _uniform(n: int, lo: float, hi: float, g: torch.Generator) -> Tensor:
    return lo + (hi - lo) * torch.rand(n, generator=g)


def _chance(n: int, p: float, g: torch.Generator) -> Tensor:
    return torch.rand(n, generator=g) < p


def _affine(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    ang = _uniform(n, -cfg.rotate_deg, cfg.rotate_deg, g) * math.pi / 180
    s = _uniform(n, *cfg.scale, g)
    tx, ty = _uniform(n, -cfg.shift, cfg.shift, g) * 2, _uniform(n, -cfg.shift, cfg.shift, g) * 2
    fx = torch.where(_chance(n, cfg.hflip, g), -1.0, 1.0)
    fy = torch.where(_chance(n, cfg.vflip, g), -1.0, 1.0)
    cos, sin = torch.cos(ang) / s, torch.sin(ang) / s
    theta = torch.stack(
        [torch.stack([cos * fx, -sin, tx], 1), torch.stack([sin * fx, cos, ty], 1)], 1
    )
    theta[:, 1, :2] *= fy[:, None]
    grid = F.affine_grid(theta.to(x.dtype), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)


def _intensity(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n, x0 = x.shape[0], x
    fg = (x > 0.02).to(x.dtype)  # keep the background black: shift only the foreground
    mean = (x * fg).sum((1, 2, 3), keepdim=True) / fg.sum((1, 2, 3), keepdim=True).clamp_min(1)
    c = _uniform(n, *cfg.contrast, g).view(n, 1, 1, 1)
    b = _uniform(n, -cfg.brightness, cfg.brightness, g).view(n, 1, 1, 1)
    x = torch.where(fg > 0, (x - mean) * c + mean + b, x).clamp(0, 1)
    gam = torch.exp(_uniform(n, math.log(cfg.gamma[0]), math.log(cfg.gamma[1]), g))
    if not cfg.intensity:
        return x0
    return x.clamp_min(1e-6).pow(gam.view(n, 1, 1, 1)) * (x > 0)


def _blur(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    pick = _chance(n, cfg.p_blur, g)
    sigma = _uniform(n, *cfg.blur_sigma, g)
    if not pick.any():
        return x
    r = math.ceil(3 * cfg.blur_sigma[1])
    t = torch.arange(-r, r + 1, dtype=x.dtype)
    k1 = torch.exp(-(t[None] ** 2) / (2 * sigma[pick, None] ** 2))
    k1 = k1 / k1.sum(1, keepdim=True)  # m x K
    sub = x[pick].transpose(0, 1)  # 1 x m x H x W, one group per image
    m = sub.shape[1]
    sub = F.conv2d(F.pad(sub, (r, r, 0, 0), mode="reflect"), k1.view(m, 1, 1, -1), groups=m)
    sub = F.conv2d(F.pad(sub, (0, 0, r, r), mode="reflect"), k1.view(m, 1, -1, 1), groups=m)
    out = x.clone()
    out[pick] = sub.transpose(0, 1)
    return out


def _noise(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    std = _uniform(n, *cfg.noise_std, g) * _chance(n, cfg.p_noise, g)
    noise = torch.randn(x.shape, generator=g, dtype=x.dtype) * std.view(n, 1, 1, 1)
    return (x + noise).abs().clamp(0, 1)  # magnitude images: Rician-like, non-negative


def _lowres(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    pick = _chance(n, cfg.p_lowres, g)
    factor = _uniform(n, *cfg.lowres_factor, g)
    out = x.clone()
    for i in torch.nonzero(pick).flatten().tolist():
        f = float(factor[i])
        small = F.interpolate(
            x[i : i + 1], size=(max(8, round(h * f)), max(8, round(w * f))), mode="area"
        )
        out[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out


def _skull_strip(
    x: Tensor, cfg: AugmentConfig, g: torch.Generator, allowed: Tensor | None
) -> Tensor:
    n, _, h, w = x.shape
    pick = _chance(n, cfg.p_skull_strip, g)
    share = _uniform(n, *cfg.strip_share, g)
    if allowed is not None:
        pick &= allowed
    if not pick.any():
        return x
    out = x.clone()
    for i in torch.nonzero(pick).flatten().tolist():
        r = max(1, round(float(share[i]) * h))
        head = (x[i : i + 1] > 0.06).to(x.dtype)
        # fill the head (close small holes), then erode by r: the skull and scalp go
        head = F.max_pool2d(head, 5, 1, 2)
        inner = -F.max_pool2d(-head, 2 * r + 1, 1, r)
        inner = F.avg_pool2d(inner, 5, 1, 2)  # a soft edge, as stripping tools leave
        stripped = x[i : i + 1] * inner
        s = (h - 2 * r) / h  # zoom in on what is left, as the app's foreground crop does
        theta = torch.tensor([[[s, 0.0, 0.0], [0.0, s, 0.0]]], dtype=x.dtype)
        grid = F.affine_grid(theta, [1, 1, h, w], align_corners=False)
        out[i : i + 1] = F.grid_sample(stripped, grid, mode="bilinear", align_corners=False)
    return out


def _window(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n = x.shape[0]
    pick = _chance(n, cfg.p_window, g).view(n, 1, 1, 1)
    hi = _uniform(n, *cfg.window_high, g).view(n, 1, 1, 1)
    return torch.where(pick, (x / hi).clamp(0, 1), x)


def _aniso(x: Tensor, cfg: AugmentConfig, g: torch.Generator) -> Tensor:
    n, _, h, w = x.shape
    pick = _chance(n, cfg.p_aniso, g)
    factor = _uniform(n, 0.2, 0.6, g)
    axis = _chance(n, 0.5, g)
    out = x.clone()
    for i in torch.nonzero(pick).flatten().tolist():
        f = float(factor[i])
        size = (max(8, round(h * f)), w) if bool(axis[i]) else (h, max(8, round(w * f)))
        small = F.interpolate(x[i : i + 1], size=size, mode="area")
        out[i : i + 1] = F.interpolate(small, size=(h, w), mode="bilinear", align_corners=False)
    return out


def augment(
    x: Tensor,
    g: torch.Generator,
    cfg: AugmentConfig | None = None,
    has_skull: Tensor | None = None,
) -> Tensor:
    """Randomly transformed copy of ``x`` (N x 1 x H x W in [0, 1]); same shape and range.

    ``has_skull`` (N bools) limits skull stripping to slices that still have a skull.
    """
    cfg = cfg or AugmentConfig()
    if cfg.p_skull_strip > 0:
        x = _skull_strip(x, cfg, g, has_skull)
    x = _affine(x, cfg, g)
    x = _intensity(x, cfg, g)
    if cfg.p_window > 0:
        x = _window(x, cfg, g)
    x = _lowres(x, cfg, g)
    if cfg.p_aniso > 0:
        x = _aniso(x, cfg, g)
    x = _blur(x, cfg, g)
    x = _noise(x, cfg, g)
    return x.clamp(0, 1)


def normalise(x: Tensor, p: Preprocessing) -> Tensor:
    """N x 1 x H x W in [0, 1] -> N x C x H x W, exactly as ``preprocess.normalise`` per image."""
    n = x.shape[0]
    flat = x.reshape(n, -1)
    hi = torch.quantile(flat, p.intensity_percentile / 100.0, dim=1, interpolation="linear")
    hi = hi.view(n, 1, 1, 1)
    scaled = torch.where(hi > 1e-6, (x / hi.clamp_min(1e-6)).clamp(0, 1), x)
    out = (scaled - p.mean) / p.std
    return out.expand(n, p.channels, *x.shape[2:])


def to_float(images_u8: Tensor) -> Tensor:
    """Cached N x H x W uint8 -> N x 1 x H x W float32 in [0, 1]."""
    return images_u8.unsqueeze(1).to(torch.float32).div_(255.0)
