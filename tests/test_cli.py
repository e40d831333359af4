"""The `nst-engine` command as a user runs it: real processes, one-line errors, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from nst_engine.images import load_picture


def run_cli(*args: str, home, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NST_ENGINE_HOME": str(home), "OMP_NUM_THREADS": "2"}
    return subprocess.run(
        [sys.executable, "-m", "nst_engine", *args], capture_output=True, text=True, env=env, timeout=timeout
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_missing_weights_names_the_fix(tmp_path, photos):
    result = run_cli("stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", str(tmp_path / "o.png"),
                     home=tmp_path)
    line = _one_line_error(result)
    assert "fetch-weights" in line and "--weights FILE" in line
    assert not (tmp_path / "o.png").exists()


def test_unreadable_image_and_bad_option(tmp_path, photos, synthetic_weights_file):
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    line = _one_line_error(run_cli("stylize", str(text), str(photos["ihc"]), "-o", str(tmp_path / "o.png"),
                                   "--weights", str(synthetic_weights_file), home=tmp_path))
    assert "notes.png" in line and "PNG, TIFF, WebP or JPEG" in line
    line = _one_line_error(run_cli("stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", "o.png",
                                   "--optimizer", "sgd", home=tmp_path))
    assert "invalid choice" in line and "--help" in line
    line = _one_line_error(run_cli("stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", "o.png",
                                   "--size", "5", home=tmp_path))
    assert "size" in line


def test_stylize_writes_the_result_and_intermediates(tmp_path, photos, synthetic_weights_file):
    out = tmp_path / "cat.png"
    result = run_cli(
        "stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", str(out), "--weights",
        str(synthetic_weights_file), "--size", "160", "--iterations", "4", "--scales", "2",
        "--save-every", "2", "--seed", "3", "--min-scale-size", "64", home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "iteration 4/4" in result.stderr and "Wrote" in result.stderr
    picture = load_picture(out)
    assert picture.size == (160, 106)
    saved = sorted(p.name for p in tmp_path.glob("cat_s*_i*.png"))
    assert saved == ["cat_s1_i0002.png", "cat_s2_i0002.png", "cat_s2_i0004.png"]  # 2 coarse iterations
    assert load_picture(tmp_path / "cat_s1_i0002.png").size == (80, 53)
    assert load_picture(tmp_path / "cat_s2_i0004.png").size == (160, 106)
    content = load_picture(photos["chelsea"])
    assert np.abs(picture.rgb.mean(axis=(0, 1)) - content.rgb.mean(axis=(0, 1))).max() < 0.5


@pytest.mark.parametrize("fmt", ["torchvision", "caffe", "matconvnet"])
def test_info_reports_each_weights_format(tmp_path, synthetic_weights, fmt):
    result = run_cli("info", "--weights", str(synthetic_weights(fmt)), "--size", "512", home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"({fmt} format" in result.stdout
    assert "weights sha256: " in result.stdout
    assert "memory at 512x384" in result.stdout and "device: cpu" in result.stdout
