"""Pictures in and out of the engine without losing depth or alpha.

Everything inside the engine is float32 RGB in 0..1 plus an optional alpha plane; `bit_depth`
remembers what the source had so outputs are written back at that depth. Pillow reads most files,
but it cannot hold 16-bit RGB, so high-bit-depth PNG and TIFF go through OpenCV.
"""

from __future__ import annotations

import io
import struct
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, UnidentifiedImageError

from nst_engine.errors import ImageError

DEFAULT_MAX_PIXELS = 64_000_000  # 8000 x 8000: far beyond what the optimisation runs at, still decodable
# The engine checks every picture's size from its header against its own limit before decoding a pixel
# (probe_picture, check_pixels). Pillow's process-wide cap is switched off once, here: saving and
# restoring it around each decode raced between the service's decoding threads and could leave it off
# for good, and its number (178,956,970) is not the engine's.
Image.MAX_IMAGE_PIXELS = None
# The only formats decoded: the documented four plus two harmless ones. Never EPS/PS (Ghostscript) or
# any other format whose Pillow plug-in hands the bytes to an external program.
DECODED_FORMATS = ("PNG", "TIFF", "WEBP", "JPEG", "GIF", "BMP")  # JPEG includes MPO (camera JPEGs)
SAMPLE_FORMATS = {"u8": (np.uint8, 255.0), "u16": (np.dtype("<u2"), 65535.0), "f32": (np.dtype("<f4"), 1.0)}
# Rec. 601 luma, as GIMP's "luminance" desaturation of non-linear RGB.
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


@dataclass
class Picture:
    """An image as the engine sees it."""

    rgb: np.ndarray  # float32 (H, W, 3), nominally 0..1
    alpha: np.ndarray | None = None  # float32 (H, W) or None
    bit_depth: int = 8  # 8, 16 or 32 (float): the source's, so outputs keep it
    grayscale: bool = False

    @property
    def width(self) -> int:
        return int(self.rgb.shape[1])

    @property
    def height(self) -> int:
        return int(self.rgb.shape[0])

    @property
    def size(self) -> tuple[int, int]:
        return self.width, self.height


# ---------------------------------------------------------------- decoding


def _png_bit_depth(data: bytes) -> int:
    if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
        return data[24]
    return 8


class ImageTooLarge(ImageError):
    """An image (or a request's images together) over a pixel limit: the caller should scale it down."""


def check_pixels(width: int, height: int, max_pixels: int | None, name: str = "the image") -> None:
    """Refuse a size over `max_pixels` (None: no limit), naming the picture and the engine's limit."""
    if max_pixels is not None and width * height > max_pixels:
        raise ImageTooLarge(
            f"{name[:1].upper() + name[1:]} is {width}x{height} pixels, more than the limit of {max_pixels:,} pixels: "
            "scale it down first (Image > Scale Image in GIMP)."
        )


@dataclass(frozen=True)
class ImageInfo:
    """What an image file's header says, read without decoding a pixel."""

    width: int
    height: int
    format: str
    mode: str

    @property
    def pixels(self) -> int:
        return self.width * self.height


def probe_picture(data: bytes, name: str = "the image", max_pixels: int | None = None) -> ImageInfo:
    """Size, format and mode from the header only (Pillow reads pixels lazily); only DECODED_FORMATS.

    With `max_pixels`, a larger header is refused here, before anything else reads the file.
    """
    try:
        with Image.open(io.BytesIO(data), formats=DECODED_FORMATS) as probe:
            info = ImageInfo(probe.size[0], probe.size[1], str(probe.format), probe.mode)
    except (UnidentifiedImageError, OSError, ValueError, struct.error) as error:
        raise ImageError(
            f"Cannot read {name}: it is not an image file this engine understands "
            "(use PNG, TIFF, WebP or JPEG)."
        ) from error
    check_pixels(info.width, info.height, max_pixels, name)
    return info


def decode_picture(data: bytes, max_pixels: int | None = DEFAULT_MAX_PIXELS, name: str = "the image") -> Picture:
    """Decode PNG, TIFF, WebP or JPEG (GIF and BMP too) from bytes; nothing else.

    The size is checked from the header before any pixel is decoded, so a decompression bomb costs
    nothing.
    """
    info = probe_picture(data, name, max_pixels)
    fmt, mode = info.format, info.mode
    try:
        if (fmt == "PNG" and _png_bit_depth(data) == 16) or (fmt == "TIFF" and mode not in ("1", "L", "P")):
            picture = _decode_with_opencv(data)
            if picture is not None:
                return picture
        return _decode_with_pillow(data)
    except (OSError, ValueError, struct.error) as error:
        raise ImageError(f"Cannot read {name}: the file is damaged or truncated ({error}).") from error


def _decode_with_pillow(data: bytes) -> Picture:
    with Image.open(io.BytesIO(data), formats=DECODED_FORMATS) as image:
        image.load()
        return _from_pillow(image)


def _from_pillow(image: Image.Image) -> Picture:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        gray = np.asarray(image, dtype=np.float32) / 65535.0
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, 16, True)
    if mode in ("I", "F"):
        gray = np.asarray(image, dtype=np.float32)
        if mode == "I":
            gray = gray / (65535.0 if gray.max(initial=0) > 255 else 255.0)
        return Picture(np.repeat(gray[..., None], 3, axis=2), None, 32 if mode == "F" else 16, True)
    grayscale = mode in ("1", "L", "LA", "La")
    has_alpha = mode in ("RGBA", "LA", "La", "PA", "RGBa") or (mode == "P" and "transparency" in image.info)
    rgba = np.asarray(image.convert("RGBA" if has_alpha else "RGB"))
    return Picture(_floats(rgba[..., :3], 8), _floats(rgba[..., 3], 8) if has_alpha else None, 8, grayscale)


def _decode_with_opencv(data: bytes) -> Picture | None:
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if array is None:
        return None
    if array.dtype not in (np.uint16, np.uint8, np.float32, np.float64):
        return None
    depth = {np.dtype(np.uint16): 16, np.dtype(np.uint8): 8}.get(array.dtype, 32)
    if array.ndim == 2:
        return Picture(np.repeat(_floats(array, depth)[..., None], 3, axis=2), None, depth, True)
    channels = array.shape[2]
    if channels == 2:
        return Picture(np.repeat(_floats(array[..., :1], depth), 3, axis=2), _floats(array[..., 1], depth), depth,
                       True)
    alpha = _floats(array[..., 3], depth) if channels == 4 else None
    return Picture(_floats(array[..., 2::-1], depth), alpha, depth, False)  # OpenCV is BGR(A)


def _floats(samples: np.ndarray, depth: int) -> np.ndarray:
    """0..1 float32 straight from the decoder's integers, with no full-size float copy in between: the
    service's budget counts BYTES_PER_DECODED_PIXEL for a decode."""
    out = np.empty(samples.shape, np.float32)
    np.divide(samples, np.float32(1 if depth == 32 else 2**depth - 1), out=out, casting="unsafe")  # as x / 255
    return out


def load_picture(path: str | Path, max_pixels: int | None = DEFAULT_MAX_PIXELS) -> Picture:
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError as error:
        raise ImageError(f"{path} does not exist: check the file name.") from error
    except OSError as error:
        raise ImageError(f"Cannot open {path}: {error.strerror}.") from error
    return decode_picture(data, max_pixels, name=str(path))


def raw_rgba_to_picture(
    data: bytes,
    width: int,
    height: int,
    sample_format: str,
    channels: int = 4,
    max_pixels: int | None = DEFAULT_MAX_PIXELS,
    grayscale: bool = False,
) -> Picture:
    """Raw interleaved pixels, as GIMP's GEGL buffers give them (little-endian)."""
    if sample_format not in SAMPLE_FORMATS:
        raise ImageError(f"Unknown sample format {sample_format!r}: use u8, u16 or f32.")
    if channels not in (3, 4) or width < 1 or height < 1:
        raise ImageError("Raw images need width and height of at least 1 and 3 (RGB) or 4 (RGBA) channels.")
    check_pixels(width, height, max_pixels)
    dtype, scale = SAMPLE_FORMATS[sample_format]
    expected = width * height * channels * np.dtype(dtype).itemsize
    if len(data) != expected:
        raise ImageError(
            f"The raw image has {len(data):,} bytes but {width}x{height} {sample_format} with {channels} "
            f"channels needs {expected:,}."
        )
    pixels = np.frombuffer(data, dtype=dtype).reshape(height, width, channels).astype(np.float32) / scale
    if sample_format == "f32" and not np.isfinite(pixels).all():
        raise ImageError("The raw image has NaN or infinite samples: send finite float values (0..1).")
    depth = {"u8": 8, "u16": 16, "f32": 32}[sample_format]
    alpha = pixels[..., 3].copy() if channels == 4 else None
    return Picture(np.ascontiguousarray(pixels[..., :3]), alpha, depth, grayscale)


# ---------------------------------------------------------------- encoding


def picture_to_raw_rgba(picture: Picture, sample_format: str = "f32") -> bytes:
    dtype, scale = SAMPLE_FORMATS[sample_format]
    alpha = picture.alpha if picture.alpha is not None else np.ones(picture.rgb.shape[:2], np.float32)
    rgba = np.concatenate([picture.rgb, alpha[..., None]], axis=2)
    if sample_format != "f32":
        rgba = np.clip(np.rint(rgba * scale), 0, scale)
    return rgba.astype(dtype).tobytes()


def _channels_for_output(picture: Picture) -> np.ndarray:
    """(H, W, C) float: gray or RGB, with alpha when present."""
    rgb = np.clip(picture.rgb, 0.0, 1.0)
    base = to_luminance(rgb)[..., None] if picture.grayscale else rgb
    if picture.alpha is not None:
        return np.concatenate([base, np.clip(picture.alpha, 0, 1)[..., None]], axis=2)
    return base


def encode_png(picture: Picture, bit_depth: int | None = None) -> bytes:
    """PNG at the picture's depth (8 or 16; float sources get 16), gray when the source was gray."""
    depth = bit_depth or (8 if picture.bit_depth == 8 else 16)
    channels = _channels_for_output(picture)
    if depth == 8:
        array = np.rint(channels * 255).astype(np.uint8)
        mode = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}[array.shape[2]]
        buffer = io.BytesIO()
        Image.fromarray(array.squeeze(2) if mode == "L" else array, mode).save(buffer, "PNG")
        return buffer.getvalue()
    import cv2

    array = np.rint(channels * 65535).astype(np.uint16)
    if array.shape[2] >= 3:
        array = np.concatenate([array[..., 2::-1], array[..., 3:]], axis=2)  # to BGR(A)
    ok, encoded = cv2.imencode(".png", array)
    if not ok:
        raise ImageError("Could not encode the result as a 16-bit PNG.")
    return encoded.tobytes()


def save_picture(picture: Picture, path: str | Path) -> Path:
    """Write by extension: PNG keeps 16 bits, TIFF keeps 16 bits or float, JPEG/WebP are 8-bit."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".png":
        data = encode_png(picture)
    elif suffix in (".tif", ".tiff"):
        import cv2

        channels = _channels_for_output(picture)
        if picture.bit_depth == 32:
            array = channels.astype(np.float32)
        elif picture.bit_depth == 16:
            array = np.rint(channels * 65535).astype(np.uint16)
        else:
            array = np.rint(channels * 255).astype(np.uint8)
        if array.shape[2] >= 3:
            array = np.concatenate([array[..., 2::-1], array[..., 3:]], axis=2)
        ok, encoded = cv2.imencode(".tiff", array)
        if not ok:
            raise ImageError(f"Could not encode {path} as TIFF.")
        data = encoded.tobytes()
    elif suffix in (".jpg", ".jpeg", ".webp"):
        flat = replace(picture, alpha=picture.alpha if suffix == ".webp" else None)
        array = np.rint(_channels_for_output(flat) * 255).astype(np.uint8)
        buffer = io.BytesIO()
        image = Image.fromarray(array.squeeze(2) if array.shape[2] == 1 else array)
        image.save(buffer, "JPEG" if suffix != ".webp" else "WEBP", quality=95)
        data = buffer.getvalue()
    else:
        raise ImageError(f"Cannot write {path.name}: use a .png, .tif, .jpg or .webp file name.")
    try:
        path.write_bytes(data)
    except OSError as error:
        raise ImageError(f"Cannot write {path}: {error.strerror}.") from error
    return path


# ---------------------------------------------------------------- tensors and colour


def to_tensor(rgb: np.ndarray, device: torch.device | str = "cpu") -> torch.Tensor:
    """(H, W, 3) numpy -> (1, 3, H, W) float32 tensor."""
    return torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1))).unsqueeze(0).to(device)


def from_tensor(image: torch.Tensor) -> np.ndarray:
    return image.detach().float().clamp(0, 1).squeeze(0).permute(1, 2, 0).cpu().numpy().copy()


def resize_tensor(image: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize (N, C, H, W) to (w, h) with antialiasing when shrinking."""
    width, height = size
    if image.shape[-2:] == (height, width):
        return image
    shrinking = height < image.shape[-2] or width < image.shape[-1]
    return F.interpolate(image, size=(height, width), mode="bicubic", align_corners=False, antialias=shrinking)


def scaled_size(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """(w, h) scaled so its long side is `long_side`, keeping the aspect ratio."""
    width, height = size
    factor = long_side / max(width, height)
    return max(1, round(width * factor)), max(1, round(height * factor))


def to_luminance(rgb: np.ndarray) -> np.ndarray:
    return rgb @ _LUMA


def _yiq_matrices() -> tuple[np.ndarray, np.ndarray]:
    to_yiq = np.array(
        [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]],
        dtype=np.float32,
    )
    return to_yiq, np.linalg.inv(to_yiq).astype(np.float32)


def luminance_only(rgb: np.ndarray) -> np.ndarray:
    """Gray RGB of the picture's luminance: what luminance-only transfer optimises."""
    return np.repeat(to_luminance(rgb)[..., None], 3, axis=2)


def match_luminance(style_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """Style luminance with the content's mean and spread (Gatys et al. 2016, colour preservation)."""
    style_y, content_y = to_luminance(style_rgb), to_luminance(content_rgb)
    matched = (style_y - style_y.mean()) * (content_y.std() / max(style_y.std(), 1e-6)) + content_y.mean()
    return np.repeat(np.clip(matched, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def combine_luminance(stylised_rgb: np.ndarray, content_rgb: np.ndarray) -> np.ndarray:
    """The stylised luminance with the content's colour (its I and Q in YIQ)."""
    to_yiq, to_rgb = _yiq_matrices()
    content_yiq = content_rgb @ to_yiq.T
    content_yiq[..., 0] = to_luminance(stylised_rgb)
    return np.clip(content_yiq @ to_rgb.T, 0, 1).astype(np.float32)


def decode_content(data: bytes, raw: tuple[int, int, str, int] | None, grayscale: bool,
                   max_pixels: int) -> tuple[Picture, dict[str, object]]:
    """A job's content picture and what was received, for its events: raw pixels when `raw` gives their
    (width, height, sample format, channels), else an encoded file."""
    if raw is not None:
        width, height, sample, channels = raw
        content = raw_rgba_to_picture(data, width, height, sample, channels, max_pixels, grayscale=grayscale)
        return content, {"width": width, "height": height, "sample": sample, "channels": channels}
    content = decode_picture(data, max_pixels, name="the content image")
    return content, {"width": content.width, "height": content.height,
                     "sample": {8: "u8", 16: "u16"}.get(content.bit_depth, "f32"),
                     "channels": (1 if content.grayscale else 3) + (content.alpha is not None)}
