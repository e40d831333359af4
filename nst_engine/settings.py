"""The engine's settings, declared once: type, default, range, choices, help and scope per setting.

Each field of `Settings` is the whole declaration of one setting: its annotation is the type (nested
types included), its `setting(...)` the default, range, choices, help and scope. Validation, the
CLI's flags (`add_arguments`) and the service's JSON Schema (`json_schema`) are derived from it (by
schema.py), so that they cannot disagree. Presets fill in defaults; explicit values win.
"""

from __future__ import annotations

import argparse
import dataclasses
import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nst_engine.errors import SettingsError
from nst_engine.gatys.layers import CONTENT_LAYER, STYLE_LAYERS
from nst_engine.schema import (
    Layer,
    Spec,
    argparse_options,
    check,
    expected,
    json_property,
    read_specs,
    setting,
    show,
)

MAX_SIDE = 16384

# What each preset changes from the defaults ("standard" changes nothing). Presets set effort, not
# size: "draft" is a quick look at 512 px; "standard" and "high" work at the content's own size
# (size 0), reached coarse to fine (planning/schedule.py), within the time budget on the device.
PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"size": 512, "iterations": 30, "scales": 2},
    "standard": {},
    "high": {"iterations": 200, "scales": 4},
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
        "time_budget": 0.0,  # exact: never capped
    },
}


@dataclass
class Settings:
    """Everything a stylisation run needs besides its images (see each field's help).

    Sizes are long sides in pixels. `iterations` run at the final size (scales above 1024 px get
    fewer, planning/schedule.py), `coarse_iterations` at each coarser scale of the coarse-to-fine schedule.
    Made in any way, an instance is validated.
    """

    preset: str = setting("standard", "quality preset; its values are defaults that explicit settings override",
                          choices=tuple(PRESETS))
    size: int = setting(0, "long side of the result in pixels; 0 = the content's own size",
                        low=32, high=MAX_SIDE, zero_ok=True)
    max_long_side: int | None = setting(None, "caps the working size whatever the preset says",
                                        low=32, high=MAX_SIDE)
    iterations: int = setting(100, "iterations at the final scale up to 1024 px; scales above 1024 px add "
                              "detail with fewer (a quarter per doubling of the long side)", low=1, high=100_000)
    coarse_iterations: int | None = setting(None, "iterations at each coarser scale (default: half)",
                                            low=1, high=100_000)
    scales: int = setting(3, "coarse-to-fine scales up to 1024 px (1 = one single scale); larger sizes add a "
                          "detail scale per doubling", low=1, high=8)
    min_scale_size: int = setting(128, "smallest long side of the coarse scales", low=32, high=4096)
    optimizer: str = setting("lbfgs", "optimiser of the pixels", choices=("lbfgs", "adam"))
    learning_rate: float = setting(2.0, "Adam's step in 8-bit pixel units (seed: 2.0)", low=1e-6, high=1000.0)
    init: str = setting("content", "start from the content, noise blended with it, or noise",
                        choices=("content", "noise-blend", "noise"))
    noise_ratio: float = setting(0.6, "share of noise in the noise-blend start", low=0.0, high=1.0)
    content_weight: float = setting(10.0, "alpha, the content cost's weight (seed: 10)", low=0.0, high=1e12)
    style_weight: float | None = setting(None, "beta, the style cost's weight (default: calibrated for the "
                                         "weights file)", low=0.0, high=1e15)
    style_strength: float = setting(1.0, "multiplies the style weight", low=0.0, high=100.0)
    tv_weight: float = setting(1.0, "total-variation weight (smoothness)", low=0.0, high=1e6)
    style_scale: float = setting(1.0, "size of the style image relative to the output", low=0.05, high=8.0)
    style_blend: list[float] | None = setting(None, "blend weight of each style image, in order (default: equal)",
                                              low=0.0, high=1e6, nonzero=True)
    preserve_colors: bool = setting(False, "keep the content's colours, take only texture from the style")
    pooling: str = setting("max", "VGG-19's pooling (the seed's MatConvNet model averages)",
                           choices=("max", "avg"))
    content_layer: Layer = setting(CONTENT_LAYER, "VGG-19 layer of the content cost")
    style_layers: dict[Layer, float] = setting(STYLE_LAYERS, "VGG-19 layers of the style cost and their weights",
                                               low=0.0, high=1e6)
    seed: int | None = setting(0, "random seed (CPU runs are reproducible)", low=0, high=2**63 - 1)
    device: str = setting("auto", "where to run (auto: CUDA, then Apple MPS, then the CPU)",
                          choices=("auto", "cuda", "mps", "cpu"), scope="server")
    precision: str = setting("auto", "network precision (auto: bf16 on CUDA and on CPUs with AVX-512 BF16 or "
                             "AMX)", choices=("auto", "fp32", "bf16", "fp16"), scope="server")
    channels_last: bool | None = setting(None, "channels-last memory layout (default: on CUDA only)",
                                         scope="server")
    time_budget: float = setting(600.0, "seconds a job may take on this device: a larger working size is "
                                 "capped to fit, saying so (0 = no cap)", low=0.0, high=1e7)
    on_oom: str = setting("scale-down", "when the size would not fit in memory",
                          choices=("scale-down", "refuse"))
    max_pixels: int | None = setting(None, "largest working size in pixels (width x height)",
                                     low=1024, high=10**10, scope="server")
    memory_limit: int | None = setting(None, "memory the optimisation may plan for, the model's weights not counted "
                                       "(e.g. 300MiB, 6GiB, 1.5GB): scales that do not fit run in tiles "
                                       "(default: what the device has free)", low=2**26, high=2**50,
                                       scope="server", unit="bytes")
    tile_size: int | None = setting(None, "optimise every scale larger than this in tiles of at most this long "
                                    "side (default: tiles only where memory is short)", low=192, high=MAX_SIDE)
    fit: str = setting("keep-aspect", "style image sizing: keep its aspect, or stretch it to the output",
                       choices=("keep-aspect", "stretch"))
    output: str = setting("generated", "result size: the working size, or scaled back to the content's",
                          choices=("generated", "content"), flag=False)
    notebook_size: tuple[int, int] | None = setting(None, "exact working size [width, height] (notebook preset)",
                                                    low=32, high=MAX_SIDE)

    @classmethod
    def preset_defaults(cls, preset: str) -> dict[str, Any]:
        return dict(PRESETS[check(SPECS["preset"], preset)])

    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None = None, *, scope: str = "any") -> Settings:
        """Validated settings: the preset's defaults, then `values` (keys with dashes or underscores;
        `None` keeps the default). `scope="job"` refuses server-only settings. Raises SettingsError only."""
        given = _given(values, scope)
        preset = check(SPECS["preset"], given.get("preset", "standard"))
        return cls(**{**PRESETS[preset], **given, "preset": preset})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes: Any) -> Settings:
        unknown = sorted(set(changes) - set(SPECS))
        if unknown:
            raise SettingsError(_unknown_message(unknown, SPECS))
        return dataclasses.replace(self, **changes)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every setting (type before range) and store its normalised value (floats, tuples)."""
        for name, spec in SPECS.items():
            setattr(self, name, check(spec, getattr(self, name)))

    def coarse_iterations_or_default(self) -> int:
        """Iterations at each coarse scale: half the final scale's unless set; they only settle the layout."""
        return self.coarse_iterations if self.coarse_iterations is not None else max(1, self.iterations // 2)

    def blend_weights(self, n_styles: int) -> list[float]:
        """Normalised weights of the style images (equal when not given)."""
        weights = list(self.style_blend) if self.style_blend is not None else [1.0] * n_styles
        if len(weights) != n_styles:
            raise SettingsError(
                f"style_blend has {len(weights)} weights for {n_styles} style image(s): give one per style image."
            )
        total = sum(weights)
        return [w / total for w in weights]


SPECS: dict[str, Spec] = read_specs(Settings)
SERVER_ONLY: frozenset[str] = frozenset(name for name, spec in SPECS.items() if spec.scope == "server")
CHOICES: dict[str, tuple[str, ...]] = {name: spec.choices for name, spec in SPECS.items() if spec.kind == "choice"}


def _given(values: Any, scope: str) -> dict[str, Any]:
    """The non-None values under their underscore names; unknown and out-of-scope names refused."""
    if scope not in ("any", "job"):
        raise ValueError(f"scope must be 'any' or 'job', not {scope!r}")
    if values is None:
        return {}
    if not isinstance(values, Mapping):
        raise SettingsError(
            f'The settings must be an object of name: value pairs (e.g. {{"size": 512}}), not {show(values)}.'
        )
    given: dict[str, Any] = {}
    for key, value in values.items():
        if not isinstance(key, str):
            raise SettingsError(f"Setting names must be strings, not {show(key)}.")
        if value is not None:
            given[key.replace("-", "_")] = value
    known = SPECS if scope == "any" else {n: s for n, s in SPECS.items() if n not in SERVER_ONLY}
    unknown = sorted(set(given) - set(SPECS))
    if unknown:
        raise SettingsError(_unknown_message(unknown, known))
    server = sorted(set(given) & SERVER_ONLY) if scope == "job" else []
    if server:
        flags = " ".join(f"--{name.replace('_', '-')} …" for name in server)
        raise SettingsError(
            f"{', '.join(server)} {'is' if len(server) == 1 else 'are'} set by the engine's server "
            f"(nst-engine serve {flags}), not per job: remove {'it' if len(server) == 1 else 'them'} "
            "from the job's settings."
        )
    return given


def _unknown_message(unknown: list[str], known: Mapping[str, Spec]) -> str:
    hints = [f"{name} (did you mean {match[0]}?)" if (match := difflib.get_close_matches(name, known, 1)) else name
             for name in unknown]
    return f"Unknown setting(s) {', '.join(hints)}: known settings are {', '.join(sorted(known))}."


# ---------------------------------------------------------------- derived: JSON Schema and CLI flags


def json_schema() -> dict[str, Any]:
    """JSON Schema (2020-12) of a job's settings, for the service's OpenAPI description."""
    properties = {name: json_property(spec) for name, spec in SPECS.items() if spec.scope == "job"}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Job settings",
        "description": "Omitted settings take the preset's value. Server-only settings "
                       f"({', '.join(sorted(SERVER_ONLY))}) are refused.",
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }


def add_arguments(parser: argparse.ArgumentParser, scope: str = "any", only: tuple[str, ...] = ()) -> list[str]:
    """Add a `--flag` per setting of `scope` ("any", "job" or "server"), or of `only`; returns their names.

    Every flag defaults to None, so that an unset flag keeps the preset's value (`from_args`).
    """
    added = []
    for name, spec in SPECS.items():
        wanted = name in only if only else spec.flag and scope in ("any", spec.scope)
        if not wanted:
            continue
        parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None, help=_flag_help(spec),
                            **argparse_options(spec))
        added.append(name)
    return added


def from_args(args: argparse.Namespace, names: list[str], scope: str = "any") -> Settings:
    """The Settings the parsed flags `names` (from `add_arguments`) describe."""
    values = {name: getattr(args, name) for name in names}
    for name, value in values.items():
        if value is not None and SPECS[name].kind == "layer_weights":
            values[name] = dict(value)
    return Settings.from_dict(values, scope=scope)


def _flag_help(spec: Spec) -> str:
    def plain(value: Any) -> str:
        return value if isinstance(value, str) else show(value)

    if spec.name == "preset":
        changes = "; ".join(f"{p}: " + (", ".join(f"{k} {plain(v)}" for k, v in c.items() if k != "notebook_size")
                                        or "the defaults") for p, c in PRESETS.items())
        return f"{spec.help} ({changes}; default standard)"
    accepts = "" if spec.kind in ("choice", "bool") else f"; {expected(spec)}"
    default = "" if spec.default is None or spec.kind == "layer_weights" else f"; default {plain(spec.default)}"
    return f"{spec.help}{accepts}{default}".replace("%", "%%")


