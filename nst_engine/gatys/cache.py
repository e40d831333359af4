"""The warm network: one loaded VGG-19 per process (the service pays for loading once), and the cost
weights measured in units of its activations, so that every weights format optimises alike.
"""

from __future__ import annotations

import gc
import threading
from pathlib import Path

import torch

from nst_engine.gatys.model import FeatureModel
from nst_engine.pictures.images import to_tensor
from nst_engine.pictures.reference import procedural_images
from nst_engine.settings import Settings
from nst_engine.weights.formats import LoadedWeights, WeightsFormat, find_weights, load_weights

# With the seed's normalisations J_content grows with the square of the activations' scale and
# J_style with its fourth power. The same network saved for another input convention (0..1
# normalised, 0..255 BGR, 0..255 RGB) can differ by such a scale, so the default weights measure
# both costs in units of the network's activation scale s on a reference image
# (`ModelCache.calibrated`): the style weight below is for networks whose activations are of order one.
BASE_STYLE_WEIGHT = 1e4


class ModelCache:
    """Keeps one loaded VGG-19 per process, so the service pays for loading once."""

    def __init__(self, weights_path: str | Path | None = None) -> None:
        self.weights_path = Path(weights_path) if weights_path else None
        self._lock = threading.Lock()
        self._weights: LoadedWeights | None = None
        self._key: tuple | None = None
        self._model: FeatureModel | None = None
        self.activation_scale = 1.0  # mean square of the style activations on a reference image
        self.layer_scales: dict[str, float] = {}  # each layer's mean square activation on it

    def weights(self) -> LoadedWeights:
        with self._lock:
            if self._weights is None:
                path = self.weights_path or find_weights()
                self._weights = load_weights(path)
            return self._weights

    @property
    def loaded_weights(self) -> LoadedWeights | None:
        return self._weights

    def calibrated(self, settings: Settings) -> tuple[Settings, float]:
        """The settings and style weight to optimise with (after `get`, which measures the scale).

        An explicit style weight is the seed's beta on the file's raw costs and is used as given (the
        notebook preset reproduces the seed). The default measures both costs in units of s, the mean
        square of the style layers' activations on a reference image: alpha / s and
        BASE_STYLE_WEIGHT / s^2. A network re-saved for 0..255 input has every activation k times
        larger, s k^2 times, J_content k^2 and J_style k^4 times, so the total cost, its gradient and
        the picture are the same in every format, total variation (a cost in pixels) included; the
        old default (beta / s only) kept the style/content balance but let smoothing vanish in the
        0..255 formats. (Per-layer units would also absorb gains that differ by layer, but they
        reweigh the layers and, on the test network, slow the style down: tests/test_formats.py.)
        """
        if settings.style_weight is not None:
            return settings, settings.style_weight
        scale = self.activation_scale
        content_weight = min(settings.content_weight / scale, 1e12)
        return settings.replace(content_weight=content_weight), BASE_STYLE_WEIGHT / scale**2

    def get(self, settings: Settings, device: torch.device, channels_last: bool) -> tuple[FeatureModel, WeightsFormat]:
        weights = self.weights()
        layers = (settings.content_layer, *settings.style_layers)
        key = (layers, settings.pooling, str(device), channels_last)
        with self._lock:
            if self._key != key:
                self._model = None
                gc.collect()
                model = FeatureModel(weights.features_state_dict, weights.format.preprocess, layers, settings.pooling)
                model = model.to(device)
                if channels_last:
                    model = model.to(memory_format=torch.channels_last)
                self.layer_scales = _activation_scales(model, device)
                self.activation_scale = sum(self.layer_scales[n] for n in settings.style_layers) / len(
                    settings.style_layers
                )
                self._model, self._key = model, key
            assert self._model is not None
            return self._model, weights.format


def _activation_scales(model: FeatureModel, device: torch.device) -> dict[str, float]:
    """Mean square of each of the model's layers' activations on a fixed photograph-like image."""
    image = to_tensor(procedural_images(count=1, size=128, seed=0)[0], device)
    with torch.no_grad():
        activations = model(image)
    return {name: max(float(a.float().pow(2).mean()), 1e-12) for name, a in activations.items()}
