"""Is a style file a picture the engine reads? Told by its first bytes, before anything is sent.

Why: a file named `.png` that is not a picture used to get GIMP's generic icon as its thumbnail and then
the engine's "Cannot read style image 1 (style1)" (issue 23, point 4). The dialog shows "not a picture"
with the file's name and keeps OK off; the procedure refuses it by its file name. The formats are the
engine's (nst_engine.images.DECODED_FORMATS). Standard library only (tests/test_plugin_style_files.py).
"""

from __future__ import annotations

import os

# (format, the bytes it starts with, at which offset)
SIGNATURES: tuple[tuple[str, bytes, int], ...] = (
    ("PNG", b"\x89PNG\r\n\x1a\n", 0),
    ("JPEG", b"\xff\xd8\xff", 0),
    ("TIFF", b"II*\x00", 0),
    ("TIFF", b"MM\x00*", 0),
    ("WebP", b"WEBP", 8),
    ("GIF", b"GIF8", 0),
    ("BMP", b"BM", 0),
)
FORMATS_WORDS = "PNG, JPEG, TIFF, WebP, GIF or BMP"
NOT_A_PICTURE = "Not a picture"  # the thumbnail's words in the dialog


def picture_format(head: bytes) -> str | None:
    """The format the first bytes of a file announce (None: not a picture the engine reads)."""
    for name, magic, offset in SIGNATURES:
        if head[offset:offset + len(magic)] == magic and (name != "WebP" or head[:4] == b"RIFF"):
            return name
    return None


def file_name(path: str) -> str:
    return os.path.basename(path.replace("\\", "/").rstrip("/")) or path


def problem_parts(path: str | None) -> tuple[str, str] | None:
    """(what is wrong with `path` as a style image, naming the file; what to do), None for a picture."""
    if not path:
        return "No style image is chosen.", "Choose the picture whose brushwork and colours are painted onto the layer."
    name = file_name(path)
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return (f"The style image \u201c{name}\u201d is not there any more (in {os.path.dirname(path) or '.'}).",
                "Choose another style image.")
    except IsADirectoryError:
        return f"\u201c{name}\u201d is a folder.", "Choose a picture file as the style image."
    except OSError as exc:
        return (f"The style image \u201c{name}\u201d cannot be read ({exc.strerror or 'no access'}).",
                "Choose a readable picture file.")
    if not head:
        return f"The style image \u201c{name}\u201d is empty.", "Choose a picture file."
    if picture_format(head) is None:
        return (f"\u201c{name}\u201d is not a picture (use {FORMATS_WORDS}).",
                "Choose a picture file as the style image.")
    return None


def problem(path: str | None) -> str | None:
    """problem_parts as one text (the dialog's hint), None for a picture."""
    parts = problem_parts(path)
    return " ".join(parts) if parts else None
