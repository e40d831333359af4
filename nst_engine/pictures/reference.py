"""A fixed photograph-like image: the engine's yardstick for the scale of a network's activations.

The weights-format heuristic (weights/formats.py) and the default style weight's calibration (gatys/cache.py) both
measure activations on it, so it must not change between versions: it is generated, not a file.
"""

from __future__ import annotations

import numpy as np


def procedural_images(count: int = 4, size: int = 128, seed: int = 0) -> list[np.ndarray]:
    """Photograph-like stand-ins (1/f colour noise plus a few hard-edged shapes), for lack of photos."""
    rng = np.random.default_rng(seed)
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius = np.sqrt(fx * fx + fy * fy)
    radius[0, 0] = 1.0
    images = []
    yy, xx = np.mgrid[0:size, 0:size] / size
    for _ in range(count):
        spectrum = (rng.normal(size=(3,) + radius.shape) + 1j * rng.normal(size=(3,) + radius.shape)) / radius
        field = np.fft.irfft2(spectrum, s=(size, size), axes=(1, 2))
        mixing = rng.normal(size=(3, 3)) * 0.3 + np.eye(3) + 0.8  # correlated channels, like photos
        field = np.einsum("ij,jhw->hwi", mixing, field)
        for _ in range(3):
            cx, cy, r = rng.uniform(0.2, 0.8), rng.uniform(0.2, 0.8), rng.uniform(0.05, 0.25)
            mask = (xx - cx) ** 2 + (yy - cy) ** 2 < r * r
            field[mask] += rng.normal(size=3) * field.std() * 1.5
        field = (field - field.mean()) / (field.std() + 1e-12)
        images.append(np.clip(0.45 + 0.22 * field, 0.0, 1.0).astype(np.float32))
    return images


