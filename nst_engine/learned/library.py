"""The style library: one folder per learned style in the engine's data folder.

    <data>/styles/<name>/model.onnx       the network (float32 RGB 0..1 NCHW in, same out)
    <data>/styles/<name>/thumbnail.png    the style picture, small
    <data>/styles/<name>/metadata.json    training settings, engine version, the model's SHA-256

A style is stored by writing a hidden folder and renaming it into place, so a listing never sees a
half-written style. Every problem with a stored style (missing, damaged, foreign, from a newer
engine) is a `StyleError` whose message is one line saying what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst_engine import __version__, contract
from nst_engine.errors import EngineError
from nst_engine.pictures.images import Picture, resize_tensor, scaled_size, to_tensor

FORMAT = "nst-learned-style"
# Raise when a change needs a newer engine to read the style. 2: the graph takes the norms' statistics
# (runtime.Graph), so tiles share the whole picture's; format-1 styles still apply whole (runtime.run_tiled).
FORMAT_VERSION = 2
MODEL_FILE, THUMBNAIL_FILE, METADATA_FILE = "model.onnx", "thumbnail.png", "metadata.json"
ONNX_MARKER = "nst_engine_learned_style"  # key of the ONNX metadata property the engine writes
THUMBNAIL_SIZE = 256
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 _.+-]{0,63}")
# Folder names Windows refuses (with any extension): a style must be storable wherever the engine runs.
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)), *(f"LPT{i}" for i in range(1, 10))}
# The hidden folders of a replacement in progress: .NAME.PID.new (being written), .NAME.PID.old (replaced).
_IN_PROGRESS = re.compile(r"\.(?P<name>.+)\.(?P<pid>[0-9]+)\.(?P<kind>new|old)")


class StyleError(EngineError):
    """A learned style that is missing, damaged, foreign or too new."""


def library_dir() -> Path:
    return contract.data_dir() / "styles"


def checkpoint_path(name: str) -> Path:
    """Where learning `name` keeps its checkpoint until the style is stored."""
    return contract.data_dir() / "learning" / check_name(name) / "checkpoint.pt"


def check_name(name: str) -> str:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or name.endswith((" ", ".")):
        raise StyleError(
            f"{name!r} is not a usable style name: use 1 to 64 letters, digits, spaces, '_', '-', '.' or '+', "
            "starting with a letter or digit."
        )
    if name.split(".")[0].strip().upper() in _WINDOWS_RESERVED:
        raise StyleError(f"{name!r} is a name Windows reserves for devices: choose another style name.")
    return name


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # someone else's process: leave its folders alone
    return True


def recover_interrupted() -> list[str]:
    """Finish what a process killed during `store` left: returns the names of the styles put back.

    A replacement renames the old style aside, then the new one into place. Killed between the two,
    the style exists only as `.NAME.PID.old`: it is put back. A half-written `.NAME.PID.new`, or an
    `.old` whose replacement did land, is removed. Folders of a process still running are left alone.
    """
    root = library_dir()
    if not root.is_dir():
        return []
    restored = []
    for folder in sorted(root.iterdir()):
        match = _IN_PROGRESS.fullmatch(folder.name)
        if match is None or not folder.is_dir() or _alive(int(match["pid"])):
            continue
        final = root / match["name"]
        if match["kind"] == "old" and not final.exists() and _NAME.fullmatch(match["name"]):
            os.replace(folder, final)
            restored.append(match["name"])
        else:
            shutil.rmtree(folder, ignore_errors=True)
    return restored


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@dataclass
class StyleInfo:
    """A stored style as the CLI and the service show it; `problem` is set when it cannot be used."""

    name: str
    folder: Path
    metadata: dict[str, Any]
    problem: str | None = None

    @property
    def model_path(self) -> Path:
        return self.folder / MODEL_FILE

    @property
    def thumbnail_path(self) -> Path:
        return self.folder / THUMBNAIL_FILE

    def summary(self) -> dict[str, Any]:
        """JSON-ready description (the service's listing sends this, plus the thumbnail)."""
        training = self.metadata.get("training", {})
        return {
            "name": self.name,
            "created": self.metadata.get("created"),
            "width": training.get("width"),
            "steps": training.get("steps"),
            "size": training.get("size"),
            "style_strength": training.get("style_strength"),
            "style_image": self.metadata.get("style_image"),
            "engine_version": self.metadata.get("engine_version"),
            "thumbnail": str(self.thumbnail_path),
            "problem": self.problem,
        }


def _read_metadata(folder: Path) -> dict[str, Any]:
    name = folder.name
    try:
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StyleError(f"The style {name!r} has no {METADATA_FILE}: learn it again.") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise StyleError(f"The style {name!r} has a damaged {METADATA_FILE} ({error}): learn it again.") from None
    if not isinstance(metadata, dict) or metadata.get("format") != FORMAT:
        raise StyleError(f"{folder} is not a learned style of this engine: remove it or learn the style again.")
    version = metadata.get("format_version")
    if not isinstance(version, int) or version < 1:
        raise StyleError(f"The style {name!r} has a damaged {METADATA_FILE} (format_version): learn it again.")
    if version > FORMAT_VERSION:
        raise StyleError(
            f"The style {name!r} was made by a newer engine (nst-engine {metadata.get('engine_version', '?')}, "
            f"style format {version}; this is {__version__}, format {FORMAT_VERSION}): update nst-engine."
        )
    if not isinstance(metadata.get("model_sha256"), str):
        raise StyleError(f"The style {name!r} has a damaged {METADATA_FILE} (model_sha256): learn it again.")
    return metadata


def load_style(name: str, verify: bool = True) -> StyleInfo:
    """The named style, checked: readable metadata of a known version and, with `verify`, the model's checksum."""
    folder = library_dir() / check_name(name)
    if not folder.is_dir():
        known = [s.name for s in list_styles()]
        hint = f"the library has {', '.join(known)}" if known else "the library is empty: learn one with learn-style"
        raise StyleError(f"There is no learned style called {name!r} ({hint}).")
    metadata = _read_metadata(folder)
    info = StyleInfo(name, folder, metadata)
    if verify:
        if not info.model_path.is_file():
            raise StyleError(f"The style {name!r} has no {MODEL_FILE}: learn it again.")
        if sha256_file(info.model_path) != metadata["model_sha256"]:
            raise StyleError(f"The style {name!r} has a damaged {MODEL_FILE} (its checksum differs): learn it again.")
    return info


def list_styles() -> list[StyleInfo]:
    """Every style folder, sorted by name; unusable ones carry their problem instead of being hidden."""
    root = library_dir()
    if not root.is_dir():
        return []
    recover_interrupted()
    found = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            found.append(StyleInfo(folder.name, folder, _read_metadata(folder)))
        except StyleError as error:
            found.append(StyleInfo(folder.name, folder, {}, problem=error.message))
    return found


def exists(name: str) -> bool:
    return (library_dir() / check_name(name)).exists()


def make_thumbnail(style: Picture) -> Picture:
    """The style picture with its long side at most THUMBNAIL_SIZE, 8-bit RGB."""
    from nst_engine.pictures.images import from_tensor

    size = scaled_size(style.size, min(THUMBNAIL_SIZE, max(style.size)))
    return Picture(from_tensor(resize_tensor(to_tensor(style.rgb), size)), None, 8, style.grayscale)


def store(name: str, model: Path, thumbnail: Picture, metadata: dict[str, Any], replace: bool = False) -> StyleInfo:
    """Copy `model` into the library as `name` with its thumbnail and metadata (the checksum is added here)."""
    from nst_engine.pictures.images import save_picture

    check_name(name)
    root = library_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    if final.exists() and not replace:
        raise StyleError(f"A style called {name!r} exists already: choose another name or replace it.")
    staging = root / f".{name}.{os.getpid()}.new"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        shutil.copyfile(model, staging / MODEL_FILE)
        save_picture(thumbnail, staging / THUMBNAIL_FILE)
        full = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "name": name,
            "engine_version": __version__,
            **metadata,
            "model_sha256": sha256_file(staging / MODEL_FILE),
        }
        (staging / METADATA_FILE).write_text(json.dumps(full, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        if final.exists():
            old = root / f".{name}.{os.getpid()}.old"
            os.replace(final, old)
            os.replace(staging, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(staging, final)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return load_style(name)


def replace_model(info: StyleInfo, model: Path, changes: dict[str, Any]) -> StyleInfo:
    """Store a new model for an existing style (a format upgrade), keeping its thumbnail and settings."""
    from nst_engine.pictures.images import load_picture

    kept = {k: v for k, v in info.metadata.items()
            if k not in ("format", "format_version", "name", "engine_version", "model_sha256")}
    return store(info.name, model, load_picture(info.thumbnail_path), {**kept, **changes}, replace=True)


def delete(name: str) -> None:
    """Remove a stored style (the service's delete; the CLI does not offer it yet)."""
    folder = library_dir() / check_name(name)
    if not folder.is_dir():
        raise StyleError(f"There is no learned style called {name!r}.")
    shutil.rmtree(folder)
