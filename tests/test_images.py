"""Pictures keep their depth, alpha and gray through decoding and encoding; bad files get clear errors."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from nst_engine.errors import ImageError
from nst_engine.pictures.images import (
    Picture,
    decode_picture,
    encode_png,
    load_picture,
    picture_to_raw_rgba,
    raw_rgba_to_picture,
    save_picture,
)


def _ramp16(width: int = 300, height: int = 4, channels: int = 4) -> np.ndarray:
    """Values that 8 bits cannot hold: consecutive 16-bit levels."""
    values = np.arange(width * height * channels, dtype=np.uint32) % 65536
    return values.reshape(height, width, channels).astype(np.uint16)


def test_16_bit_rgba_png_round_trips_exactly(tmp_path):
    import cv2

    ramp = _ramp16()
    ok, data = cv2.imencode(".png", ramp[..., [2, 1, 0, 3]])  # OpenCV writes BGRA
    picture = decode_picture(data.tobytes())
    assert picture.bit_depth == 16 and picture.alpha is not None and not picture.grayscale
    np.testing.assert_array_equal(np.rint(picture.rgb * 65535).astype(np.uint16), ramp[..., :3])
    back = decode_picture(encode_png(picture))
    assert back.bit_depth == 16
    np.testing.assert_array_equal(np.rint(back.rgb * 65535), np.rint(picture.rgb * 65535))
    np.testing.assert_array_equal(np.rint(back.alpha * 65535), ramp[..., 3])
    path = save_picture(picture, tmp_path / "out.tif")
    tiff = load_picture(path)
    assert tiff.bit_depth == 16
    np.testing.assert_array_equal(np.rint(tiff.rgb * 65535), np.rint(picture.rgb * 65535))


def test_8_bit_gray_with_alpha_stays_gray():
    buffer = io.BytesIO()
    Image.new("LA", (5, 4), (100, 200)).save(buffer, "PNG")
    picture = decode_picture(buffer.getvalue())
    assert picture.grayscale and picture.bit_depth == 8
    assert np.allclose(picture.alpha, 200 / 255)
    with Image.open(io.BytesIO(encode_png(picture))) as again:
        assert again.mode == "LA"
        assert again.getpixel((0, 0)) == (100, 200)


def test_16_bit_gray_png():
    buffer = io.BytesIO()
    Image.fromarray(np.full((3, 3), 40000, np.uint16)).save(buffer, "PNG")
    picture = decode_picture(buffer.getvalue())
    assert picture.grayscale and picture.bit_depth == 16
    assert np.allclose(picture.rgb, 40000 / 65535)


@pytest.mark.parametrize("sample_format,scale", [("u8", 255), ("u16", 65535), ("f32", 1.0)])
def test_raw_rgba_round_trip(sample_format, scale):
    rng = np.random.default_rng(0)
    rgba = rng.random((7, 5, 4), dtype=np.float32)
    if sample_format != "f32":
        rgba = np.rint(rgba * scale) / scale
    dtype = {"u8": np.uint8, "u16": "<u2", "f32": "<f4"}[sample_format]
    data = (rgba * scale).round().astype(dtype).tobytes() if sample_format != "f32" else rgba.astype("<f4").tobytes()
    picture = raw_rgba_to_picture(data, 5, 7, sample_format)
    np.testing.assert_allclose(picture.rgb, rgba[..., :3], atol=1e-6)
    np.testing.assert_allclose(picture.alpha, rgba[..., 3], atol=1e-6)
    assert picture_to_raw_rgba(picture, sample_format) == data


def test_raw_size_mismatch_is_explained():
    with pytest.raises(ImageError, match="needs 160"):
        raw_rgba_to_picture(b"\0" * 10, 5, 4, "u16")
    with pytest.raises(ImageError, match="sample format"):
        raw_rgba_to_picture(b"\0" * 80, 5, 4, "u12")


def test_not_an_image_and_truncated_files():
    with pytest.raises(ImageError, match="not an image file"):
        decode_picture(b"hello, this is text")
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (1, 2, 3)).save(buffer, "PNG")
    with pytest.raises(ImageError, match="damaged or truncated|not an image"):
        decode_picture(buffer.getvalue()[:60])


def _png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: a decompression bomb must be refused before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    idat = zlib.compress(b"\0" * 64)
    return (
        b"\x89PNG\r\n\x1a\n"
        + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))
        + struct.pack(">I", len(idat)) + b"IDAT" + idat + struct.pack(">I", zlib.crc32(b"IDAT" + idat))
    )


def test_pixel_limit_is_checked_from_the_header():
    with pytest.raises(ImageError, match="more than the limit"):
        decode_picture(_png_header_only(100_000, 100_000))
    with pytest.raises(ImageError, match="more than the limit"):
        decode_picture(_png_header_only(300, 300), max_pixels=10_000)


def test_missing_file_names_the_path(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        load_picture(tmp_path / "nope.png")


def test_jpeg_and_unknown_extension(tmp_path):
    picture = Picture(np.full((4, 6, 3), 0.5, np.float32), np.ones((4, 6), np.float32))
    path = save_picture(picture, tmp_path / "x.jpg")
    assert load_picture(path).size == (6, 4)
    with pytest.raises(ImageError, match="use a .png"):
        save_picture(picture, tmp_path / "x.bmpx")


EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\nnewpath 0 0 moveto 10 10 lineto stroke\n%%EOF\n"


def test_only_the_documented_formats_are_decoded():
    from nst_engine.pictures.images import probe_picture

    with Image.open(io.BytesIO(EPS)) as unrestricted:  # Pillow alone would take it (and call Ghostscript)
        assert unrestricted.format == "EPS"
    with pytest.raises(ImageError, match="PNG, TIFF, WebP or JPEG"):
        decode_picture(EPS)
    for fmt in ("PNG", "TIFF", "WEBP", "JPEG", "GIF", "BMP"):
        buffer = io.BytesIO()
        Image.fromarray(np.full((6, 5, 3), 200, np.uint8)).save(buffer, fmt)
        assert probe_picture(buffer.getvalue()).pixels == 30 and decode_picture(buffer.getvalue()).size == (5, 6)


def test_raw_float_pixels_must_be_finite():
    for bad in (np.nan, np.inf, -np.inf):
        pixels = np.full((2, 2, 4), 0.5, "<f4")
        pixels[1, 1, 0] = bad
        with pytest.raises(ImageError, match="NaN or infinite"):
            raw_rgba_to_picture(pixels.tobytes(), 2, 2, "f32")
