"""An animation's frames in and out of files: still pictures, a folder of them, or one animated GIF, WebP or
multi-page TIFF in; a folder of PNGs (16 bits kept) or an animated GIF or WebP out, with the source's frame
durations (Pillow).
"""

from __future__ import annotations

import io
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageSequence, UnidentifiedImageError

from nst_engine.errors import ImageError
from nst_engine.pictures.images import DECODED_FORMATS, DEFAULT_MAX_PIXELS, Picture, check_pixels, load_picture
from nst_engine.pictures.images import save_picture as save_one

DEFAULT_DURATION_MS = 100  # a frame whose source says nothing (stills, a folder): GIMP's default too
PICTURE_SUFFIXES = (".png", ".tif", ".tiff", ".webp", ".jpg", ".jpeg", ".gif", ".bmp")
ANIMATED_SUFFIXES = (".gif", ".webp")


@dataclass
class Frames:
    pictures: list[Picture]
    durations: list[int]  # milliseconds, one per frame
    names: list[str]  # where each frame came from, for messages and output names


def _natural(path: Path) -> list[object]:
    """frame2 before frame10."""
    return [int(part) if part.isdigit() else part.lower() for part in re.split(r"(\d+)", path.name)]


def read_frames(paths: Sequence[Path], max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Frames:
    """Frames from still pictures, a folder of them (in natural order), or one animated file."""
    paths = [Path(p) for p in paths]
    if len(paths) == 1 and paths[0].is_dir():
        found = sorted((p for p in paths[0].iterdir() if p.suffix.lower() in PICTURE_SUFFIXES), key=_natural)
        if not found:
            raise ImageError(f"{paths[0]} holds no pictures ({', '.join(PICTURE_SUFFIXES)}): give the frames' "
                             "folder, their files, or one animated GIF, WebP or TIFF.")
        paths = found
    if len(paths) == 1:
        return read_animation(paths[0], max_pixels)
    pictures = [load_picture(p, max_pixels) for p in paths]
    return Frames(pictures, [DEFAULT_DURATION_MS] * len(pictures), [p.name for p in paths])


def read_animation(path: Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Frames:
    """Every frame of a GIF, WebP or TIFF (a still picture is one frame), each checked for size before decoding."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise ImageError(f"Cannot open {path}: {error.strerror or error}.") from None
    try:
        with Image.open(io.BytesIO(data), formats=DECODED_FORMATS) as image:
            count = getattr(image, "n_frames", 1)
            if count == 1:
                return Frames([load_picture(path, max_pixels)], [DEFAULT_DURATION_MS], [path.name])
            check_pixels(image.size[0], image.size[1] * count, max_pixels, str(path))
            pictures, durations = [], []
            for frame in ImageSequence.Iterator(image):
                has_alpha = frame.mode in ("RGBA", "LA", "PA") or "transparency" in frame.info
                rgba = np.asarray(frame.convert("RGBA" if has_alpha else "RGB"), dtype=np.float32) / 255.0
                pictures.append(Picture(np.ascontiguousarray(rgba[..., :3]),
                                        np.ascontiguousarray(rgba[..., 3]) if has_alpha else None, 8, False))
                durations.append(int(frame.info.get("duration") or DEFAULT_DURATION_MS))
    except (UnidentifiedImageError, OSError, ValueError, EOFError) as error:
        raise ImageError(f"Cannot read {path} as frames ({error}): use PNG, TIFF, WebP, JPEG or GIF files.") from None
    return Frames(pictures, durations, [f"{path.stem} frame {i}" for i in range(1, len(pictures) + 1)])


def write_frames(frames: Sequence[Picture], durations: Sequence[int], out: Path) -> list[Path]:
    """An animated GIF/WebP if `out` ends so (8 bits), else a folder of frame_0001.png... (16 bits kept)."""
    if out.suffix.lower() in ANIMATED_SUFFIXES:
        images = [_pillow(p) for p in frames]
        try:
            images[0].save(out, save_all=True, append_images=images[1:], duration=list(durations), loop=0,
                           **({"lossless": False, "quality": 90} if out.suffix.lower() == ".webp" else {}))
        except OSError as error:
            raise ImageError(f"Cannot write {out}: {error.strerror or error}.") from None
        return [out]
    if out.suffix:
        raise ImageError(f"Cannot write frames to {out.name}: give a folder, or a .gif or .webp file name.")
    out.mkdir(parents=True, exist_ok=True)
    return [save_one(p, out / f"frame_{i:04d}.png") for i, p in enumerate(frames, start=1)]


def _pillow(picture: Picture) -> Image.Image:
    rgb = np.rint(np.clip(picture.rgb, 0, 1) * 255).astype(np.uint8)
    if picture.alpha is None:
        return Image.fromarray(rgb, "RGB")
    alpha = np.rint(np.clip(picture.alpha, 0, 1) * 255).astype(np.uint8)
    return Image.fromarray(np.dstack([rgb, alpha]), "RGBA")
