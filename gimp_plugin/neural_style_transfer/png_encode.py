"""PNG files written with the standard library: a layer used as a style travels to the engine as a file would.

Why by hand: GIMP's Python has neither numpy nor PIL, and exporting through GIMP's own PNG plug-in would
need a scratch image and a file on disk. PNG keeps what matters for a style: 16-bit samples and alpha.
"""

from __future__ import annotations

import struct
import sys
import zlib
from array import array

COLOUR_TYPES = {1: 0, 2: 4, 3: 2, 4: 6}  # channels -> PNG colour type (grey, grey+alpha, RGB, RGBA)
BITS = {"u8": 8, "u16": 16}


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode(width: int, height: int, channels: int, sample_format: str, data: bytes, level: int = 6) -> bytes:
    """Interleaved little-endian samples (what GEGL gives: u8 or u16) as a PNG file's bytes."""
    if sample_format not in BITS or channels not in COLOUR_TYPES:
        raise ValueError(f"PNG takes u8 or u16 samples in 1 to 4 channels, not {channels} x {sample_format}")
    size = 1 if sample_format == "u8" else 2
    stride = width * channels * size
    if width < 1 or height < 1 or len(data) != stride * height:
        raise ValueError(f"{len(data)} bytes do not make a {width}x{height} picture of {channels} x {sample_format}")
    if size == 2 and sys.byteorder == "little":  # PNG stores 16-bit samples big-endian
        samples = array("H", data)
        samples.byteswap()
        data = samples.tobytes()
    rows = b"".join(b"\x00" + data[y * stride:(y + 1) * stride] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, BITS[sample_format], COLOUR_TYPES[channels], 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header) + _chunk(b"IDAT", zlib.compress(rows, level))
            + _chunk(b"IEND", b""))
