"""One validated settings object shared by the API, the CLI and the service.

Presets fill in defaults; explicit values win. `Settings.from_dict` is what the service and the CLI
use, so that an unknown or out-of-range setting gets one clear message, never a traceback.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from nst_engine.errors import SettingsError

STYLE_LAYERS: dict[str, float] = {
    "conv1_1": 0.2,
    "conv2_1": 0.2,
    "conv3_1": 0.2,
    "conv4_1": 0.2,
    "conv5_1": 0.2,
}
CONTENT_LAYER = "conv4_2"

CHOICES: dict[str, tuple[str, ...]] = {
    "preset": ("draft", "standard", "high", "notebook"),
    "optimizer": ("lbfgs", "adam"),
    "init": ("content", "noise-blend", "noise"),
    "pooling": ("max", "avg"),
    "device": ("auto", "cuda", "mps", "cpu"),
    "precision": ("auto", "fp32", "bf16", "fp16"),
    "on_oom": ("scale-down", "refuse"),
    "output": ("generated", "content"),
    "fit": ("keep-aspect", "stretch"),
}

# Settings a server decides for all its jobs; a job that sends them gets a SettingsError.
SERVER_ONLY: frozenset[str] = frozenset({"device", "precision", "max_pixels", "channels_last"})

# What each preset changes from the dataclass defaults ("standard" changes nothing).
PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"size": 384, "iterations": 60, "scales": 2},
    "standard": {},
    "high": {"size": 1024, "iterations": 200, "scales": 4},
    # The seed document's exact setup: its costs with alpha 10 and beta 40, five style layers at 0.2,
    # conv4_2, Adam at lr 2.0 for 200 iterations from noise blended with the content (ratio 0.6),
    # 400x300, average pooling as in its MatConvNet model, no total variation, one scale.
    "notebook": {
        "size": 400,
        "iterations": 200,
        "scales": 1,
        "optimizer": "adam",
        "learning_rate": 2.0,
        "init": "noise-blend",
        "noise_ratio": 0.6,
        "pooling": "avg",
        "content_weight": 10.0,
        "style_weight": 40.0,
        "tv_weight": 0.0,
        "fit": "stretch",
        "notebook_size": (400, 300),
    },
}


@dataclass
class Settings:
    """Everything a stylisation run needs besides its images.

    `iterations` run at the final size, `coarse_iterations` (default: half as many) at each coarser
    scale of the coarse-to-fine schedule. Sizes are the long side in pixels; `size=0` means the
    content image's own size. `output` "content" scales the result back to the content's size (what
    a GIMP layer needs), and then never works above the content's size. `max_long_side` caps the
    working size whatever the preset says. `style_weight=None` means calibrated for the loaded
    weights (api.py).
    `learning_rate` is in 8-bit pixel units (as in the seed, whose images are 0..255).
    """

    preset: str = "standard"
    size: int = 512
    max_long_side: int | None = None
    iterations: int = 100
    coarse_iterations: int | None = None
    scales: int = 3
    min_scale_size: int = 128
    optimizer: str = "lbfgs"
    learning_rate: float = 2.0
    init: str = "content"
    noise_ratio: float = 0.6
    content_weight: float = 10.0
    style_weight: float | None = None
    style_strength: float = 1.0
    tv_weight: float = 1.0
    style_scale: float = 1.0
    style_blend: list[float] | None = None
    preserve_colors: bool = False
    pooling: str = "max"
    content_layer: str = CONTENT_LAYER
    style_layers: dict[str, float] = field(default_factory=lambda: dict(STYLE_LAYERS))
    seed: int | None = 0
    device: str = "auto"
    precision: str = "auto"
    channels_last: bool | None = None
    on_oom: str = "scale-down"
    max_pixels: int | None = None
    fit: str = "keep-aspect"
    output: str = "generated"
    notebook_size: tuple[int, int] | None = None

    @classmethod
    def preset_defaults(cls, preset: str) -> dict[str, Any]:
        if preset not in PRESETS:
            raise SettingsError(f"Unknown preset {preset!r}: choose one of {', '.join(PRESETS)}.")
        return dict(PRESETS[preset])

    @classmethod
    def from_dict(cls, values: dict[str, Any] | None = None, *, scope: str = "any", **overrides: Any) -> Settings:
        """Build validated settings: preset defaults first, then the given values.

        Keys may use dashes or underscores; `None` values are ignored (so CLI flags left unset
        keep the preset's choice).
        """
        given = {k.replace("-", "_"): v for k, v in {**(values or {}), **overrides}.items() if v is not None}
        known = {f.name for f in dataclasses.fields(cls) if f.init}
        unknown = sorted(set(given) - known)
        if unknown:
            raise SettingsError(
                f"Unknown setting(s) {', '.join(unknown)}: known settings are {', '.join(sorted(known))}."
            )
        if scope == "job" and (server_only := sorted(set(given) & SERVER_ONLY)):
            raise SettingsError(f"{', '.join(server_only)} cannot be set per job: the engine's own setting is used "
                                "(see `nst-engine serve --help`).")
        preset = given.get("preset", "standard")
        if not isinstance(preset, str):
            raise SettingsError(f"preset must be a name such as draft, not {preset!r}.")
        merged = {**cls.preset_defaults(preset), **given, "preset": preset}
        settings = cls(**merged)
        settings.validate()
        return settings

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Settings:
        new = dataclasses.replace(self, **changes)
        new.validate()
        return new

    def validate(self) -> None:
        for name, allowed in CHOICES.items():
            value = getattr(self, name)
            if value not in allowed:
                raise SettingsError(f"{name} must be one of {', '.join(allowed)}, not {value!r}.")
        for name in ("preserve_colors",):
            if not isinstance(getattr(self, name), bool):
                raise SettingsError(f"{name} must be true or false, not {getattr(self, name)!r}.")
        if self.channels_last is not None and not isinstance(self.channels_last, bool):
            raise SettingsError("channels_last must be true, false or left unset.")
        if self.notebook_size is not None:
            if len(self.notebook_size) != 2 or not all(isinstance(v, int) and 32 <= v <= 16384
                                                        for v in self.notebook_size):
                raise SettingsError("notebook_size must be [width, height] in pixels, each 32..16384.")
            self.notebook_size = (int(self.notebook_size[0]), int(self.notebook_size[1]))
        _check_range("size", self.size, 0, 16384, integer=True)
        if 0 < self.size < 32:
            raise SettingsError("size must be 0 (the content's own size) or at least 32 pixels.")
        if self.max_long_side is not None:
            _check_range("max_long_side", self.max_long_side, 32, 16384, integer=True)
        _check_range("iterations", self.iterations, 1, 100_000, integer=True)
        _check_range("scales", self.scales, 1, 8, integer=True)
        if self.coarse_iterations is not None:
            _check_range("coarse_iterations", self.coarse_iterations, 1, 100_000, integer=True)
        _check_range("min_scale_size", self.min_scale_size, 32, 4096, integer=True)
        _check_range("learning_rate", self.learning_rate, 1e-6, 1000.0)
        _check_range("noise_ratio", self.noise_ratio, 0.0, 1.0)
        _check_range("content_weight", self.content_weight, 0.0, 1e12)
        if self.style_weight is not None:
            _check_range("style_weight", self.style_weight, 0.0, 1e15)
        _check_range("style_strength", self.style_strength, 0.0, 100.0)
        _check_range("tv_weight", self.tv_weight, 0.0, 1e6)
        _check_range("style_scale", self.style_scale, 0.05, 8.0)
        if self.style_blend is not None:
            if not self.style_blend or any(
                not _finite(w) or w < 0 for w in self.style_blend
            ) or sum(self.style_blend) <= 0:
                raise SettingsError("style_blend must be a list of non-negative numbers, not all zero.")
        if self.seed is not None:
            _check_range("seed", self.seed, 0, 2**63 - 1, integer=True)
        if self.max_pixels is not None:
            _check_range("max_pixels", self.max_pixels, 1024, 10**10, integer=True)
        from nst_engine.model import LAYER_NAMES  # local: model imports torch

        for layer in [self.content_layer, *self.style_layers]:
            if layer not in LAYER_NAMES:
                raise SettingsError(f"Unknown VGG-19 layer {layer!r}: use names like conv4_2 or relu3_1.")
        if not self.style_layers or any(not _finite(w) or w < 0 for w in self.style_layers.values()):
            raise SettingsError("style_layers needs at least one layer with a non-negative weight.")

    def coarse_iterations_or_default(self) -> int:
        """Iterations at each coarse scale: half the final scale's unless set; they only settle the layout."""
        return self.coarse_iterations if self.coarse_iterations is not None else max(1, self.iterations // 2)

    def blend_weights(self, n_styles: int) -> list[float]:
        """Normalised weights of the style images (equal when not given)."""
        weights = list(self.style_blend) if self.style_blend is not None else [1.0] * n_styles
        if len(weights) != n_styles:
            raise SettingsError(f"style_blend has {len(weights)} weights for {n_styles} style image(s).")
        total = sum(weights)
        return [w / total for w in weights]


def _finite(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check_range(name: str, value: Any, low: float, high: float, integer: bool = False) -> None:
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise SettingsError(f"{name} must be {'an integer' if integer else 'a number'}, not {value!r}.")
    if not low <= value <= high:
        raise SettingsError(f"{name} must be between {low:g} and {high:g}, not {value!r}.")
