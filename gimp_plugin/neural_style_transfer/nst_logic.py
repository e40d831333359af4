"""Pure logic of the GIMP plug-in: no GIMP, no GI, standard library only.

Kept apart from the GIMP glue so that it can be unit-tested on any Python (tests/test_plugin_logic.py)
and so that the glue stays a thin layer of Gimp.* calls.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import unquote

import region_logic as R
from placement import parasite_json

PROC_NAME = "plug-in-neural-style-transfer"
MENU_LABEL = "Paint with a Style\u2026"
# One submenu for the four entries (this filter, the learned styles, the engine settings), beside GIMP's own.
MENU_PATH = "<Image>/Filters/Artistic/Neural Style Transfer"
MENU_WORDS = "Filters \u2192 Artistic \u2192 Neural Style Transfer"  # the same place, as the docs and messages name it
# Mnemonics GimpUi.ProcedureDialog takes for its own buttons (_Load Defaults, _Save Defaults, _Reset, _Cancel,
# _OK, _Help): a control's label must use another letter (tests/test_plugin_mnemonics.py).
DIALOG_MNEMONICS = "lsrcoh"
PARASITE_NAME = "neural-style-transfer-settings"
# Extra engine settings as JSON (e.g. '{"iterations": 2}'), merged last: for tests and power users.
EXTRA_SETTINGS_ENV = "NST_PLUGIN_EXTRA_SETTINGS"

QUALITY_CHOICES: tuple[tuple[str, str, str], ...] = (
    ("draft", "Draft (quick look)", "Small working size, few iterations: to try an idea"),
    ("standard", "Standard", "Balanced speed and quality"),
    ("high", "High (slow, most detail)", "Large working size, many iterations, more scales"),
)
QUALITIES = tuple(nick for nick, _label, _help in QUALITY_CHOICES)

MIN_WORKING_SIZE = 32  # the engine's smallest working long side (tests/test_settings_contract.py)
SIZE_CONTROL = "Painting size"  # the max-size control, as the messages (and the engine's advice) name it

# (name, kind, nick (dialog label), blurb (help), extra): one row per PDB argument, in order.
# Kinds: file, double, int, bool, choice (extra["choices"]), string, drawable. The GIMP glue builds the procedure
# from this table, and the real-GIMP test compares the PDB's argument list with it. New arguments go at the end,
# so that scripts passing the earlier ones by position keep working.
ARGUMENTS: tuple[tuple[str, str, str, str, dict[str, Any]], ...] = (
    ("style-file", "file", "Style _image",
     "The picture whose brushwork, textures and colours are painted onto the layer (a style layer, below, "
     "takes its place)", {"none_ok": True}),
    ("style-file-2", "file", "Second st_yle (optional)",
     "A second style picture, mixed with the first; the weight below says how much", {"none_ok": True}),
    ("style-blend", "double", "Second style _weight",
     "How much of the second style: 0 = only the first, 1 = only the second (needs a second style)",
     {"min": 0.0, "max": 1.0, "default": 0.5, "step": 0.05, "page": 0.25}),
    ("style-strength", "double", "Style s_trength",
     "How strongly the style is applied: 1 = normal; more gives more style and less of the layer's detail",
     {"min": 0.0, "max": 10.0, "default": 1.0, "step": 0.1, "page": 1.0}),
    ("quality", "choice", "_Quality",
     "Draft: a quick, small look at the idea. Standard: balanced. High: more detail, slowest",
     {"default": "standard", "choices": QUALITY_CHOICES}),
    ("max-size", "int", "Painting si_ze (long side in px, 0 = automatic)",
     "0 (automatic): the quality decides: Standard and High paint at the layer's own size, smaller only if "
     "that would take more than about 10 minutes on the engine's device (the dialog says so), Draft at 512 px "
     "at most. A number is the long side the style is painted at (at most the layer's) and lifts the "
     f"10-minute limit; 1 to {MIN_WORKING_SIZE - 1} count as {MIN_WORKING_SIZE}, the smallest the engine works "
     "at. The result always has the layer's size.",
     {"min": 0, "max": 16384, "default": 0}),
    ("preserve-colors", "bool", "_Keep the layer's colours",
     "Take only texture and brushwork from the style; the colours stay the layer's own", {"default": False}),
    ("style-scale", "double", "_Brush size",
     "Size of the style's strokes and textures: 1 = as in the style image, 2 = twice as large, 0.5 = half",
     {"min": 0.05, "max": 8.0, "default": 1.0, "step": 0.1, "page": 0.5}),
    ("seed", "int", "_Variation",
     "Another number gives another variation of the result; the same number repeats it",
     {"min": 0, "max": 2**31 - 1, "default": 0}),
    ("where", "choice", "Wh_ere",
     "Whole layer; inside the selection (outside gets what \u201cOutside\u201d says); or by the image's saved "
     "channels, each picking a style", {"default": R.WHOLE, "choices": R.WHERE_CHOICES}),
    ("outside", "choice", "Outsi_de",
     "What the parts outside the selection (or that no channel covers) get: the untouched photo, the second "
     "style, or the style", {"default": R.PHOTO, "choices": R.OUTSIDE_CHOICES}),
    ("channel-styles", "string", "Cha_nnel styles",
     "By channels: which style each saved channel gets, as CHANNEL=STYLE pairs separated by ';' "
     "(STYLE: 1 = the style, 2 = the second style, photo = untouched), e.g. \u201cSky=1; Figure=photo\u201d",
     {"default": ""}),
    ("style-layer", "drawable", "Style l_ayer",
     "A layer of any open image as the style, instead of the style image file (its pixels, alpha and depth "
     "are sent as a file's would be)", {"none_ok": True}),
)
ARGUMENT_NAMES = tuple(row[0] for row in ARGUMENTS)
# The animation procedure's style controls: every frame is styled whole, by style files (regions and a style
# layer are the single-layer filter's).
FRAME_ARGUMENTS = tuple(row for row in ARGUMENTS if row[0] not in ("where", "outside", "channel-styles", "style-layer"))
# What "+" / "-" (step) and Page Up / Down (page) change a number by in the dialog: GIMP derives them from the
# range otherwise, and "+" on Style strength went from 1.00 to 2.00 (issue 23).
INCREMENTS: dict[str, tuple[float, float]] = {
    name: (extra["step"], extra["page"]) for name, kind, _nick, _blurb, extra in ARGUMENTS if "step" in extra}


_WINDOWS_DRIVE = re.compile(r"^/?[A-Za-z]:[\\/]")


def normalize_file_argument(value: str, platform: str | None = None) -> str:
    """A file argument as a plain local path, whatever form GIMP handed it in.

    GIMP 3.2 stores a file argument's last value as `file:////path` (four slashes), so "Repeat" gives
    the plug-in `//path` (and `os.path.normpath` keeps a leading `//`). URIs become paths; a run of
    leading slashes becomes one, except on Windows, where `//server/share` is a network path.
    Windows drive paths (`C:\\x`, `C:/x`) are left alone.
    """
    path = value
    if path[:5].lower() == "file:":
        path = unquote(path[5:])
        if path.startswith("//localhost/"):
            path = path[len("//localhost"):]
        path = "/" + path.lstrip("/") if path.startswith("/") else path
        if _WINDOWS_DRIVE.match(path):
            return path.lstrip("/")
        return path
    if _WINDOWS_DRIVE.match(path) or path.startswith("\\"):
        return path
    if path.startswith("//") and not (platform or sys.platform).startswith("win"):
        return "/" + path.lstrip("/")
    return path


@dataclass
class PluginArgs:
    """The procedure's arguments as plain Python values (file arguments as paths)."""

    style_file: str | None = None
    style_file_2: str | None = None
    style_blend: float = 0.5
    style_strength: float = 1.0
    quality: str = "standard"
    max_size: int = 0
    preserve_colors: bool = False
    style_scale: float = 1.0
    seed: int = 0
    where: str = R.WHOLE
    outside: str = R.PHOTO
    channel_styles: str = ""
    # The style layer as a reference that outlives the session (style_layer_logic.layer_ref), not the object.
    style_layer: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_values(cls, values: Mapping[str, Any]) -> PluginArgs:
        """From `{argument-name: value}` as read from a GimpProcedureConfig (dashes in names)."""
        kw = {name.replace("-", "_"): values[name] for name in ARGUMENT_NAMES if name in values}
        for key in ("style_file", "style_file_2"):
            if isinstance(kw.get(key), str):
                kw[key] = normalize_file_argument(kw[key])
        return cls(**kw)

    def style_paths(self) -> list[str]:
        """The style files sent, in order: a style layer takes the first file's place."""
        first = None if self.style_layer else self.style_file
        return [p for p in (first, self.style_file_2) if p]

    def has_style(self) -> bool:
        return bool(self.style_file or self.style_layer)

    def style_names(self) -> list[str]:
        return style_names(asdict(self))

    def to_config_values(self) -> dict[str, Any]:
        """The inverse of from_values (without `extra`), e.g. to pre-fill the dialog from a parasite."""
        return {name: getattr(self, name.replace("-", "_")) for name in ARGUMENT_NAMES}


def style_names(arguments: Mapping[str, Any]) -> list[str]:
    """The styles of stored arguments as the result's name and the engine's messages call them: files by
    their paths, a style layer by its name (it takes the first file's place)."""
    layer = arguments.get("style_layer")
    first = layer.get("layer") if isinstance(layer, Mapping) else arguments.get("style_file")
    return [str(p) for p in (first, arguments.get("style_file_2")) if isinstance(p, str) and p]


def extra_settings_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Engine settings given as JSON in $NST_PLUGIN_EXTRA_SETTINGS; {} when unset; ValueError if bad."""
    text = (environ if environ is not None else os.environ).get(EXTRA_SETTINGS_ENV, "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{EXTRA_SETTINGS_ENV} is not valid JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise ValueError(f"{EXTRA_SETTINGS_ENV} must be a JSON object, e.g. {{\"iterations\": 50}}.")
    return value


def engine_settings(args: PluginArgs) -> dict[str, Any]:
    """The settings dict sent to the engine (names as in nst_engine.settings.Settings)."""
    if args.quality not in QUALITIES:
        raise ValueError(f"Unknown quality {args.quality!r}: choose one of {', '.join(QUALITIES)}.")
    settings: dict[str, Any] = {
        "preset": args.quality,
        "output": "content",  # the layer's size, and no work above it
        # 0: the preset's size (the layer's own for standard and high, within the engine's time budget);
        # a number: the artist's cap on the working size, which also lifts the time budget.
        **({} if int(args.max_size) == 0 else {"max_long_side": max(MIN_WORKING_SIZE, int(args.max_size)),
                                                "time_budget": 0}),
        "style_strength": float(args.style_strength),
        "style_scale": float(args.style_scale),
        "preserve_colors": bool(args.preserve_colors),
        "seed": int(args.seed),
    }
    if args.has_style() and args.style_file_2:
        w = min(1.0, max(0.0, float(args.style_blend)))
        settings["style_blend"] = [1.0 - w, w]
    settings.update(args.extra)
    return settings


def style_label(path: str) -> str:
    """'/x/starry-night.jpg' -> 'starry-night'."""
    base = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    stem, dot, _ext = base.rpartition(".")
    return stem if dot and stem else base


def layer_name(source_name: str, style_paths: list[str]) -> str:
    """Name of the new layer: 'Background (style: starry-night)' or '... (style: a + b)'."""
    styles = " + ".join(style_label(p) for p in style_paths) or "?"
    return f"{source_name} (style: {styles})"


def _num(event: Mapping[str, Any], key: str) -> int | None:
    value = event.get(key)
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def painted_size(current: tuple[int, int] | None, event: Mapping[str, Any]) -> tuple[int, int] | None:
    """The largest working size the engine has painted at so far: a progress event's `size` is its current
    scale's (coarse to fine), so the last scale reached, stopped early or not, is what the result shows."""
    size = event.get("size") if event.get("type") == "progress" else None
    if not (isinstance(size, (list, tuple)) and len(size) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size)):
        return current
    if current is None or size[0] * size[1] > current[0] * current[1]:
        return (size[0], size[1])
    return current


def progress_fraction(event: Mapping[str, Any]) -> float | None:
    """0..1 from an engine progress event: its overall `fraction` (work over all scales and tiles), else
    step/total_steps; None for other events."""
    fraction = event.get("fraction")
    if isinstance(fraction, (int, float)) and not isinstance(fraction, bool):
        return min(1.0, max(0.0, float(fraction)))
    step, total = _num(event, "step"), _num(event, "total_steps")
    if step is not None and total:
        return min(1.0, max(0.0, step / total))
    return None


# Not an engine event: the plug-in's client posts it after the engine's `done`, while the result is fetched
# (engine_client.Job.wait), so that the windows can name that phase.
RECEIVING_EVENT = "receiving"


def progress_text(event: Mapping[str, Any]) -> str:
    """'Stylising — scale 2/3, iteration 120/300', or what the engine is doing before that.

    Events are the engine's (docs/service.md): queued (with the position), started, progress.
    """
    kind = event.get("type")
    if kind == "queued":
        ahead = _num(event, "position") or 0
        return "Waiting for the engine\u2026" if ahead == 0 else (
            f"Waiting for the engine \u2014 {ahead} job{'s' if ahead > 1 else ''} ahead")
    if kind == "started":
        return "Stylising: preparing\u2026"
    if kind == RECEIVING_EVENT:
        return "Receiving the result from the engine\u2026"
    scale, scales = _num(event, "scale"), _num(event, "scales")
    it, its = _num(event, "iteration"), _num(event, "iterations")
    if scale is not None and scales and it is not None and its:
        return f"Stylising \u2014 scale {scale}/{scales}, iteration {it}/{its}"
    return "Stylising\u2026"


def preview_png(event: Mapping[str, Any]) -> bytes | None:
    """The PNG bytes of a progress event's preview (base64 in the event), None when there is none."""
    import base64
    import binascii

    value = event.get("preview")
    if not isinstance(value, str) or not value:
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


# GIMP precision (Gimp.Precision value name) -> (babl format used to read, engine sample format).
# 8-bit is read as u8, 16-bit as u16, everything else (32-bit int, half, float, double) as float:
# nothing is quantised below the image's own depth (u32 has no engine format; float keeps 24 bits).
def pixel_format(precision_name: str) -> tuple[str, str]:
    """'U16_NON_LINEAR' -> ("R'G'B'A u16", "u16"). Always perceptual (sRGB curve) RGBA."""
    name = precision_name.upper().rsplit(".", 1)[-1].removeprefix("GIMP_PRECISION_")
    if name.startswith("U8"):
        return "R'G'B'A u8", "u8"
    if name.startswith("U16"):
        return "R'G'B'A u16", "u16"
    return "R'G'B'A float", "f32"


BYTES_PER_SAMPLE = {"u8": 1, "u16": 2, "f32": 4}


def result_layer_type(base_type: str, has_alpha: bool) -> str:
    """The Gimp.ImageType name of the new layer: the source's (RGB or GRAY, alpha only if it had one).

    An alpha channel the source lacked would be a surprise in the layer stack; a selection becomes a
    layer mask, which needs no alpha channel.
    """
    base = base_type.upper().rsplit(".", 1)[-1].removeprefix("GIMP_")
    if base not in ("RGB", "GRAY"):
        raise ValueError(f"Unsupported image type {base_type!r}: the filter works on RGB and grayscale.")
    return f"{base}A_IMAGE" if has_alpha else f"{base}_IMAGE"


def put_alpha(rgba_f32: bytearray, alpha_f32: bytes) -> None:
    """Replace the alpha of float32 RGBA pixels with the given float32 alpha plane (in place).

    Uses strided byte slices so that it runs at C speed on large layers.
    """
    n = len(alpha_f32) // 4
    if len(rgba_f32) != n * 16:
        raise ValueError(f"result has {len(rgba_f32)} bytes, expected {n * 16} for {n} pixels")
    for k in range(4):
        rgba_f32[12 + k :: 16] = alpha_f32[k::4]


def settings_record(args: PluginArgs, settings: Mapping[str, Any], source: str,
                    engine_message: str | None = None, content_format: str | None = None) -> dict[str, Any]:
    """What is stored on the new layer: the plug-in's arguments and the engine settings used."""
    record: dict[str, Any] = {
        "version": 1,
        "procedure": PROC_NAME,
        "arguments": {k: v for k, v in asdict(args).items() if k != "extra"},
        "engine_settings": dict(settings),
        "source_layer": source,
    }
    if engine_message:
        record["engine_message"] = engine_message
    if content_format:
        record["content_format"] = content_format  # sample format the layer was sent in (u8/u16/f32)
    return record


def encode_parasite(record: Mapping[str, Any]) -> bytes:
    """ASCII JSON (GIMP parasites from Python do not accept bytes >= 128)."""
    return json.dumps(record, ensure_ascii=True, sort_keys=True, separators=(",", ":")).encode("ascii")


def decode_parasite(data: bytes | bytearray | list[int] | None) -> dict[str, Any] | None:
    """The record back from parasite data; None when absent or not ours."""
    value = parasite_json(data)
    return value if value is not None and value.get("procedure") == PROC_NAME else None


def args_from_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """Config values (dash names) from a stored record, only the known ones with plausible types."""
    stored = record.get("arguments") or {}
    out: dict[str, Any] = {}
    defaults = PluginArgs()
    for name in ARGUMENT_NAMES:
        key = name.replace("-", "_")
        if key not in stored:
            continue
        value, default = stored[key], getattr(defaults, key)
        if default is None or isinstance(value, type(default)) or (
            isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool)
        ):
            out[name] = value
    return out


INSTALLERS = {"win32": "install\\install.bat", "darwin": "install/install.command"}
INSTALLER_LINUX = "install/install.sh"


def installer_file(platform: str | None = None) -> str:
    """The installer a person double-clicks (or runs) on this system, as a path in the plug-in's download."""
    platform = platform or sys.platform
    return INSTALLERS.get("win32" if platform.startswith("win") else platform, INSTALLER_LINUX)


def installer_hint(platform: str | None = None) -> str:
    """Which installer sets up the engine, for messages about a missing engine."""
    platform = platform or sys.platform
    verb = "Run" if installer_file(platform) == INSTALLER_LINUX else "Double-click"
    return f"{verb} {installer_file(platform)} from the plug-in's download to install the engine."
