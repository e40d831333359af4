"""A style file that is not a picture is named by its file name and called what it is (issue 23, point 4)."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import style_files as S  # noqa: E402


@pytest.mark.parametrize("fmt", ["PNG", "JPEG", "TIFF", "WEBP", "GIF", "BMP"])
def test_every_format_the_engine_reads_is_a_picture(tmp_path: Path, fmt: str) -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buffer, format=fmt)
    path = tmp_path / f"style.{fmt.lower()}"
    path.write_bytes(buffer.getvalue())
    assert S.picture_format(buffer.getvalue()[:16]) is not None
    assert S.problem(str(path)) is None


def test_a_text_file_named_png_is_not_a_picture_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "my brushes.png"
    path.write_text("not really a picture")
    said = S.problem(str(path))
    assert said is not None and "\u201cmy brushes.png\u201d is not a picture" in said
    assert str(tmp_path) not in said and "style1" not in said
    riff = tmp_path / "sound.webp"
    riff.write_bytes(b"RIFF\x00\x00\x00\x00WAVEfmt ")
    assert S.problem(str(riff)) is not None


def test_missing_empty_folder_and_none(tmp_path: Path) -> None:
    assert "not there any more" in S.problem(str(tmp_path / "gone.png"))
    (tmp_path / "empty.png").write_bytes(b"")
    assert "\u201cempty.png\u201d is empty" in S.problem(str(tmp_path / "empty.png"))
    assert "is a folder" in S.problem(str(tmp_path))
    assert S.problem(None).startswith("No style image is chosen. Choose")
