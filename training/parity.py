"""Input parity: the training cache's network input against the app's, for one file.

The cache (:mod:`training.cache`) stores each file's geometric output as uint8, and
training normalises it per batch (:func:`training.train.batch_input`, no augmentation:
what validation sees); the app (:mod:`desktop.core.inference`) keeps it in float32.
Three checks per file:

1. the decoded float slice of the cache's decoder equals the app's, bit for bit;
2. the cached uint8 image equals ``round(255 * geometric)`` of the app's slice, exactly;
3. the network inputs agree within what storing uint8 allows: rounding moves each
   geometric value by at most d = 1/510, the 99.5th-percentile scale ``hi`` by at most d
   too (a percentile is 1-Lipschitz in the max norm), so ``clip(x / hi)`` moves by at
   most 2d / min(hi, hi') and the input ``(x - mean) / std`` by that / std (plus 1e-5
   for float32 arithmetic: torch's quantile against NumPy's percentile).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from numpy.typing import NDArray

from desktop.core.inference import prepare, read_first
from desktop.core.model_spec import Preprocessing
from training import cache
from training.train import batch_input

#: largest change of a geometric value by storing it as uint8
ROUNDING = 0.5 / 255.0


def rounding_tolerance(
    app: NDArray[np.float32], cached: NDArray[np.float32], p: Preprocessing
) -> float:
    """The largest network-input difference uint8 storage can cause (module docstring)."""
    hi = min(
        float(np.percentile(app, p.intensity_percentile)),
        float(np.percentile(cached, p.intensity_percentile)),
    )
    if hi <= 1e-6:  # normalise leaves a (near) black image unscaled
        return ROUNDING / p.std + 1e-5
    return 2 * ROUNDING / hi / p.std + 1e-5


@dataclass(frozen=True)
class InputParity:
    path: str
    #: the cache's decoded slice is the app's, bit for bit
    decoded_equal: bool
    #: pixels of the cached uint8 image that differ from round(255 * the app's geometric)
    cached_mismatch: int
    input_diff: float
    tolerance: float

    @property
    def ok(self) -> bool:
        return (
            self.decoded_equal and self.cached_mismatch == 0 and self.input_diff <= self.tolerance
        )


def input_parity(path: Path, size: int) -> InputParity:
    """Compare the cache's and the app's view of ``path`` at ``size`` pixels."""
    p = Preprocessing(input_size=size)
    s = read_first(path, p)
    app = prepare(s.pixels, p, s.colour)
    decoded = cache.read_grey(Path(path), p)
    same = (
        decoded is not None
        and decoded.dtype == s.pixels.dtype
        and np.array_equal(decoded, s.pixels)
    )
    stored = cache._work((str(path), size))
    expected = np.round(app.geometric * 255.0).astype(np.uint8)
    g = stored.astype(np.float32) / 255.0
    with torch.inference_mode():
        x = batch_input(torch.from_numpy(stored[None]), p, None, channels_last=False)[0]
    diff = float(np.abs(x.numpy() - app.tensor).max())
    return InputParity(
        str(path),
        bool(same),
        int((stored != expected).sum()),
        diff,
        rounding_tolerance(app.geometric, g, p),
    )
