"""The `nst-engine` command as a user runs it: real processes, one-line errors, exit status 2."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from nst_engine.pictures.images import load_picture


def run_cli(*args: str, home, timeout: float = 240) -> subprocess.CompletedProcess[str]:
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
        "--save-every", "2", "--seed", "3", "--min-scale-size", "64", "--device", "cpu", "--precision", "fp32",
        home=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "iteration 4/4" in result.stderr and "Wrote" in result.stderr
    # The plan, before the work: too small a job to measure the device for.
    assert "Plan: 160x106 in 2 scales (80x53, 160x106), 6 iterations; a short job on " in result.stderr
    assert "Computed at 160x106 (coarse to fine: 80x53, 160x106)." in result.stderr
    picture = load_picture(out)
    assert picture.size == (160, 106)
    saved = sorted(p.name for p in tmp_path.glob("cat_s*_i*.png"))
    assert saved == ["cat_s1_i0002.png", "cat_s2_i0002.png", "cat_s2_i0004.png"]  # 2 coarse iterations
    assert load_picture(tmp_path / "cat_s1_i0002.png").size == (80, 53)
    assert load_picture(tmp_path / "cat_s2_i0004.png").size == (160, 106)
    # The result is the cat, moved by the style: nearer the content than the style, and not the content itself.
    import cv2

    def at_result_size(name: str) -> np.ndarray:
        return cv2.resize(load_picture(photos[name]).rgb, picture.size, interpolation=cv2.INTER_AREA)

    from_content = np.abs(picture.rgb - at_result_size("chelsea")).mean()
    from_style = np.abs(picture.rgb - at_result_size("ihc")).mean()
    print(f"mean abs difference from the content {from_content:.4f}, from the style {from_style:.4f}")
    assert 0.005 < from_content < from_style / 2  # measured (fp32, AVX-512, 2 threads): 0.0185 and 0.2285


@pytest.mark.parametrize("fmt", ["torchvision", "caffe", "matconvnet"])
def test_info_reports_each_weights_format(tmp_path, synthetic_weights, fmt):
    result = run_cli("info", "--weights", str(synthetic_weights(fmt)), "--size", "512", "--device", "cpu",
                     home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"({fmt} format" in result.stdout
    assert "weights sha256: " in result.stdout
    assert "memory at 512x384" in result.stdout and "device: cpu" in result.stdout


README_FLAGS = ("--preset", "--size", "--iterations", "--scales", "--weights", "--device", "--precision", "--seed",
                "--preserve-colors", "--style-weight", "--content-weight", "--style-strength", "--tv-weight",
                "--style-scale", "--style-blend", "--optimizer", "--learning-rate", "--init", "--noise-ratio",
                "--pooling", "--on-oom", "--save-every", "--coarse-iterations", "--min-scale-size")


def _stylize_help(capsys) -> str:
    from nst_engine.cli.main import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(["stylize", "--help"])
    return " ".join(capsys.readouterr().out.split())


def test_stylize_help_lists_the_flags_derived_from_the_schema(capsys):
    from nst_engine.settings import SPECS

    text = _stylize_help(capsys)
    for flag in README_FLAGS:
        assert f"{flag} " in text, flag
    for name, spec in SPECS.items():
        if spec.flag:
            assert f"--{name.replace('_', '-')} " in text, name
            assert spec.help.split(";")[0] in text, name  # the schema's help text, not a second one
    assert "an integer from 1 to 100000; default 100" in text  # --iterations: range and default from the schema
    assert "draft: size 512, iterations 30, scales 2" in text and "high: iterations 200, scales 4" in text


def _argv(values: dict) -> list[str]:
    """Flags for `values` as a person would type them."""
    argv = []
    for name, value in values.items():
        flag = f"--{name.replace('_', '-')}"
        if isinstance(value, bool):
            argv.append(flag if value else f"--no-{name.replace('_', '-')}")
        elif isinstance(value, dict):
            argv += [flag, *(f"{k}={v}" for k, v in value.items())]
        elif isinstance(value, (list, tuple)):
            argv += [flag, *map(str, value)]
        else:
            argv += [flag, str(value)]
    return argv


def test_parsed_flags_give_the_same_settings_as_the_same_values(tmp_path):
    from nst_engine.cli.main import build_parser
    from nst_engine.settings import Settings, from_args

    values = {
        "preset": "draft", "iterations": 7, "coarse_iterations": 3, "min_scale_size": 48, "max_long_side": 300,
        "optimizer": "adam", "learning_rate": 1.5, "init": "noise", "noise_ratio": 0.25, "content_weight": 3.0,
        "style_weight": 0.5, "style_strength": 2.0, "tv_weight": 0.0, "style_scale": 0.5, "style_blend": [1.0, 3.0],
        "preserve_colors": True, "pooling": "avg", "content_layer": "relu3_1",
        "style_layers": {"conv1_1": 0.5, "conv4_1": 0.25}, "seed": 9, "device": "cpu", "precision": "fp32",
        "channels_last": False, "on_oom": "refuse", "max_pixels": 4096, "fit": "stretch",
        "notebook_size": [64, 48],
    }  # fmt: skip
    args = build_parser().parse_args(["stylize", "c.png", "s.png", "-o", "o.png", *_argv(values)])
    parsed = from_args(args, args.setting_names)
    assert parsed == Settings.from_dict(values)
    assert parsed.size == 512  # unset: the preset's
    assert set(args.setting_names) == {name for name in Settings().to_dict() if name != "output"}


def test_non_finite_flag_values_are_one_line_errors(tmp_path, photos):
    line = _one_line_error(run_cli("stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", "o.png",
                                   "--style-blend", "nan", home=tmp_path))
    assert "style_blend must be a list of finite numbers from 0 to 1e+06" in line and "NaN" in line


def test_info_json_is_one_flat_object(tmp_path, synthetic_weights_file):
    import json

    result = run_cli("info", "--json", "--weights", str(synthetic_weights_file), "--size", "512", "--device", "cpu",
                     home=tmp_path)
    assert result.returncode == 0, result.stderr
    facts = json.loads(result.stdout)
    assert not any(isinstance(value, (dict, list)) for value in facts.values())
    assert facts["device"] == "cpu" and facts["precision"] in ("fp32", "bf16") and facts["torch"]
    assert facts["weights_path"] == str(synthetic_weights_file) and facts["weights_present"] is True
    assert facts["weights_usable"] is True and facts["weights_format"] == "torchvision"
    assert facts["weights_verified"] is False  # synthetic: not the official file's checksum
    assert len(facts["weights_sha256"]) == 64 and facts["weights_error"] is None
    assert (facts["memory_width"], facts["memory_height"]) == (512, 384) and facts["memory_bytes_needed"] > 0
    from importlib import metadata

    assert facts["onnxruntime_package"] == "onnxruntime"  # the test environment's, from the `learned` extra
    assert facts["onnxruntime"] == metadata.version("onnxruntime")
    assert facts["onnxruntime_provider"] == "CPU"  # no CUDA provider in the CPU package
    missing = json.loads(run_cli("info", "--json", "--weights", str(tmp_path / "none.pth"), home=tmp_path).stdout)
    assert missing["weights_present"] is False and missing["weights_usable"] is False
    assert "fetch-weights" in missing["weights_error"] and "memory_width" not in missing


# Runs the CLI as if neither onnxruntime nor onnxruntime-gpu were installed: the module does not import and
# the metadata does not know them.
_WITHOUT_ONNXRUNTIME = """
import sys
from importlib import metadata
sys.modules["onnxruntime"] = None
real_version = metadata.version

def version(name):
    if name.startswith("onnxruntime"):
        raise metadata.PackageNotFoundError(name)
    return real_version(name)

metadata.version = version
from nst_engine.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def run_cli_without_onnxruntime(*args: str, home) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NST_ENGINE_HOME": str(home), "OMP_NUM_THREADS": "2"}
    return subprocess.run([sys.executable, "-c", _WITHOUT_ONNXRUNTIME, *args], capture_output=True, text=True,
                          env=env, timeout=240)  # fmt: skip


def test_info_without_onnxruntime_says_how_to_install_it(tmp_path, synthetic_weights_file):
    import json

    facts = json.loads(run_cli_without_onnxruntime("info", "--json", "--weights", str(synthetic_weights_file),
                                                   home=tmp_path).stdout)  # fmt: skip
    assert (facts["onnxruntime"], facts["onnxruntime_package"], facts["onnxruntime_provider"]) == (None, None, None)
    human = run_cli_without_onnxruntime("info", "--weights", str(synthetic_weights_file), "--device", "cpu",
                                        home=tmp_path)  # fmt: skip
    assert human.returncode == 0, human.stderr
    line = next(line for line in human.stdout.splitlines() if line.startswith("learned styles:"))
    assert "not installed" in line and "run the installer again" in line and "pip install onnxruntime" in line
    with_it = run_cli("info", "--weights", str(synthetic_weights_file), "--device", "cpu", home=tmp_path).stdout
    assert "learned styles: onnxruntime " in with_it and "applied on the CPU" in with_it


def test_info_apply_without_onnxruntime_is_a_one_line_error(tmp_path, engine_home, photos):
    """`apply` reaches ONNX Runtime only once the style is found: a stored style (any model bytes) gets it there."""
    from nst_engine.learned import library
    from nst_engine.pictures.images import Picture
    model = tmp_path / "model.onnx"
    model.write_bytes(b"not an ONNX model")
    library.store("plain", model, Picture(np.full((8, 8, 3), 0.5, np.float32), None, 8, False), {})
    out = tmp_path / "out.png"
    line = _one_line_error(run_cli_without_onnxruntime("apply", "plain", str(photos["chelsea"]), "-o", str(out),
                                                       home=engine_home))  # fmt: skip
    assert "need onnxruntime, which is not installed" in line and "run the installer again" in line, line
    assert not out.exists()
    # With onnxruntime, the same style gets as far as loading the model, which is damaged.
    line = _one_line_error(run_cli("apply", "plain", str(photos["chelsea"]), "-o", str(out), home=engine_home))
    assert "onnxruntime" not in line and "plain" in line, line


def test_stylize_in_regions_styles_the_left_half_and_keeps_the_right_the_photo(tmp_path, photos,
                                                                                synthetic_weights_file):
    from nst_engine.pictures.images import Picture, save_picture

    mask = np.zeros((53, 80, 3), np.float32)  # half the result's size: scaled, with a note
    mask[:, :40] = 1
    save_picture(Picture(mask), tmp_path / "left.png")
    out = tmp_path / "cat.png"
    common = ("--weights", str(synthetic_weights_file), "--size", "160", "--iterations", "4", "--scales", "1",
              "--seed", "3", "--device", "cpu", "--precision", "fp32", "--quiet")
    result = run_cli("stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", str(out), "--region",
                     f"{tmp_path / 'left.png'}:1", "--rest", "photo", *common, home=tmp_path)
    assert result.returncode == 0, result.stderr
    assert f"region mask 1 ({tmp_path / 'left.png'}) is 80x53, the content 451x300: it was scaled" in result.stderr
    import cv2

    picture = load_picture(out).rgb
    content = cv2.resize(load_picture(photos["chelsea"]).rgb, (160, 106), interpolation=cv2.INTER_AREA)
    change = np.abs(picture - content).mean(axis=(0, 2))
    print(f"mean change of the left quarter {change[:40].mean():.4f}, of the right quarter {change[120:].mean():.4f}")
    assert change[120:].mean() < change[:40].mean() / 3  # the photo region keeps the photo


@pytest.mark.parametrize("options, text", [
    (("--region", "m.png:3"), "asks for style 3, but there are 1"),
    (("--region", "m.png"), "write MASK:STYLE or MASK:STYLE:WEIGHT"),
    (("--region", "m.png:1:-2"), "weight must be a number of 0 or more"),
    (("--region", "m.png:sky"), "write MASK:STYLE"),
    (("--rest", "1"), "give at least one --region too"),
    (("--region", "missing.png:photo"), "missing.png does not exist"),
])
def test_bad_region_options_are_one_line_errors(tmp_path, photos, synthetic_weights_file, options, text):
    line = _one_line_error(run_cli("stylize", str(photos["chelsea"]), str(photos["ihc"]), "-o", str(tmp_path / "o.png"),
                                   "--weights", str(synthetic_weights_file), *options, home=tmp_path))
    assert text in line


def test_a_region_spec_is_read_from_its_end():
    from nst_engine.cli.regions import split_spec

    assert split_spec(r"C:\masks\sky.png:2:0.5") == (r"C:\masks\sky.png", "2", 0.5)
    assert split_spec("a:b.png:photo") == ("a:b.png", "photo", 1.0)
    assert split_spec("sky.png:blend:2") == ("sky.png", "blend", 2.0)
