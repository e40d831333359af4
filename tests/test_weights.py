"""Weights formats: content detection, loading, MatConvNet transposition, errors, synthetic weights."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from nst_engine.errors import WeightsInvalid, WeightsMissing
from nst_engine.gatys.model import FeatureModel
from nst_engine.weights import formats as W
from nst_engine.weights import synthetic as S

DATA = Path(__file__).parent / "data"
CALIBRATION = [DATA / name for name in ("chelsea.jpg", "coffee.jpg", "hubble.jpg", "ihc.jpg")]
LAYERS = ["conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1", "conv4_2"]


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One synthetic file per format, calibrated on four photographs (the fifth is kept for testing)."""
    folder = tmp_path_factory.mktemp("weights")
    torch.manual_seed(0)
    return {fmt: S.make_test_weights(folder, fmt, CALIBRATION) for fmt in W.FORMAT_NAMES}


def _link(src: Path, dst: Path) -> Path:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)
    return dst


@pytest.mark.parametrize("fmt", W.FORMAT_NAMES)
def test_synthetic_file_is_detected_from_content(synthetic: dict[str, Path], fmt: str, tmp_path: Path) -> None:
    assert W.detect_format(synthetic[fmt]).name == fmt
    misleading = {
        "torchvision": "imagenet-vgg-verydeep-19.mat",
        "caffe": "vgg19-dcbb9e9d.pth",
        "matconvnet": "vgg19-d01eb7cb.pth",
    }[fmt]
    renamed = _link(synthetic[fmt], tmp_path / misleading)
    assert W.detect_format(renamed).name == fmt


@pytest.mark.parametrize("fmt", W.FORMAT_NAMES)
def test_synthetic_weights_give_order_one_activations(synthetic: dict[str, Path], fmt: str) -> None:
    loaded = W.load_weights(synthetic[fmt])
    assert loaded.format.name == fmt and loaded.sha256 == W.compute_sha256(synthetic[fmt])
    assert set(loaded.features_state_dict) == set(W.EXPECTED_SHAPES)
    assert all(t.dtype == torch.float32 for t in loaded.features_state_dict.values())
    model = FeatureModel(loaded.features_state_dict, loaded.format.preprocess, LAYERS)
    photo = S.to_rgb01(DATA / "astronaut.jpg", 128)[None]  # not among the calibration images
    with torch.no_grad():
        out = model(photo)
    for name in LAYERS:
        rms = float(out[name].pow(2).mean().sqrt())
        assert 0.1 < rms < 10.0, (fmt, name, rms)
        assert float((out[name] > 0).float().mean()) > 0.05, (fmt, name, "mostly dead")


def test_formats_have_their_own_preprocessing() -> None:
    tv, caffe, mat = (W.FORMATS[name].preprocess for name in W.FORMAT_NAMES)
    assert (tv.bgr, tv.scale, tv.mean, tv.std) == (False, 1.0, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    assert (caffe.bgr, caffe.scale, caffe.mean, caffe.std) == (True, 255.0, (103.939, 116.779, 123.68), (1, 1, 1))
    assert (mat.bgr, mat.scale, mat.mean) == (False, 255.0, (123.68, 116.779, 103.939))


def test_official_checksum_prefix_wins_over_the_heuristic(
    synthetic: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = synthetic["caffe"]
    assert W.load_weights(path).detected_by == "heuristic"
    prefix = W.file_sha256(path)[:8]
    monkeypatch.setattr(W, "KNOWN_SHA256_PREFIXES", {prefix: "torchvision"})
    loaded = W.load_weights(path)
    assert (loaded.format.name, loaded.detected_by) == ("torchvision", "sha256")
    assert W.load_weights(path, fmt="caffe").format.name == "caffe"


def test_heuristic_reads_overall_gain_not_conv1_1() -> None:
    """Both real files' conv1_1 have RMS ~0.25; what differs is the gain of the whole stack (~57x)."""
    state = S.synthetic_features("torchvision", S.procedural_images(count=2, size=64), size=64)
    assert W._pth_format_from_scales(state) == "torchvision"
    # conv1_2 .. conv5_1 (12 convolutions) together amplify 57x less; conv1_1 is unchanged.
    shrink = 57.0 ** (-1 / 12)
    caffe_like = {k: v * shrink if k.endswith("weight") and k != "0.weight" else v for k, v in state.items()}
    assert torch.equal(caffe_like["0.weight"], state["0.weight"])
    assert W._pth_format_from_scales(caffe_like) == "caffe"


def test_matconvnet_layout_and_transposition(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(3)
    state = {k: torch.randn(*shape, generator=gen) for k, shape in W.EXPECTED_SHAPES.items()}
    path = S.save_matconvnet(tmp_path / "vgg.mat", state, mean_rgb=(120.0, 110.0, 100.0))
    # Read it the way the Coursera notebook (nst_utils.py) and neural-style TF do, not with our loader.
    from scipy.io import loadmat

    mat = loadmat(str(path))
    layers = mat["layers"][0]
    assert len(layers) == 37  # conv/relu x16 + 5 pools; the classifier is optional
    assert layers[0][0][0][0][0] == "conv1_1" and layers[1][0][0][0][0] == "relu1_1"
    wb = layers[0][0][0][2]
    kernel, bias = wb[0][0], wb[0][1]
    assert kernel.shape == (3, 3, 3, 64) and kernel.dtype == np.float32 and bias.size == 64
    torch_w = state["0.weight"].numpy()
    for o, i, h, w in [(0, 0, 0, 2), (5, 2, 1, 0), (63, 1, 2, 1)]:
        assert kernel[h, w, i, o] == torch_w[o, i, h, w]  # (h, w, in, out) <-> (out, in, h, w)
    assert np.allclose(mat["meta"]["normalization"][0][0][0][0][2][0][0], (120.0, 110.0, 100.0))
    loaded = W.load_weights(path)
    assert loaded.format.name == "matconvnet"
    assert loaded.format.preprocess.mean == pytest.approx((120.0, 110.0, 100.0))
    for key, value in state.items():
        assert torch.equal(loaded.features_state_dict[key], value), key


def test_pth_with_or_without_classifier_loads_features_only(tmp_path: Path) -> None:
    gen = torch.Generator().manual_seed(4)
    state = {k: torch.randn(*shape, generator=gen) * 0.01 for k, shape in W.EXPECTED_SHAPES.items()}
    classifier = {"0.weight": torch.zeros(2, 2), "0.bias": torch.zeros(2)}  # names only; never loaded
    for extra in (None, classifier):
        path = S.save_pth(tmp_path / "v.pth", state, extra)
        raw = torch.load(path, weights_only=True)
        assert "features.0.weight" in raw and ("classifier.0.weight" in raw) == (extra is not None)
        loaded = W.load_weights(path, fmt="torchvision")
        assert set(loaded.features_state_dict) == set(W.EXPECTED_SHAPES)
        assert torch.equal(loaded.features_state_dict["34.bias"], state["34.bias"])


def test_missing_file_says_how_to_get_one(tmp_path: Path) -> None:
    with pytest.raises(WeightsMissing) as caught:
        W.load_weights(tmp_path / "vgg19-dcbb9e9d.pth")
    assert "nst-engine fetch-weights" in caught.value.message and "--weights FILE" in caught.value.message
    with pytest.raises(WeightsMissing):
        W.detect_format(tmp_path / "nothing.mat")


@pytest.mark.parametrize(
    "content",
    [b"\x00\x01garbage" * 50, b"<html>Not Found</html>", b"MATLAB 5.0 MAT-file, truncated"],
)
def test_garbage_file_is_invalid(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "vgg19-dcbb9e9d.pth"
    path.write_bytes(content)
    with pytest.raises(WeightsInvalid) as caught:
        W.load_weights(path)
    assert str(path) in caught.value.message and "fetch-weights" in caught.value.message


def test_wrong_network_is_invalid(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7)}, path)
    with pytest.raises(WeightsInvalid) as caught:
        W.detect_format(path)
    assert "VGG-19" in caught.value.message
    wrong_shape = {f"features.{k}": torch.zeros(*s) for k, s in W.EXPECTED_SHAPES.items()}
    wrong_shape["features.0.weight"] = torch.zeros(64, 1, 3, 3)
    torch.save(wrong_shape, path)
    with pytest.raises(WeightsInvalid, match="shape"):
        W.load_weights(path)
    from scipy.io import savemat

    savemat(str(tmp_path / "other.mat"), {"x": np.zeros(3)})
    with pytest.raises(WeightsInvalid, match="layers"):
        W.load_weights(tmp_path / "other.mat")


def test_sha256_sidecar_is_reused_until_the_file_changes(tmp_path: Path) -> None:
    path = tmp_path / "blob.bin"
    path.write_bytes(b"abc")
    real = W.file_sha256(path)
    assert real == W.compute_sha256(path) and W.read_sha256_sidecar(path) == real
    sidecar = W.sidecar_path(path)
    fake = "f" * 64
    sidecar.write_text(sidecar.read_text().replace(real, fake))
    assert W.file_sha256(path) == fake  # trusted: same size and mtime, no re-hash
    path.write_bytes(b"abcd")
    assert W.file_sha256(path) == W.compute_sha256(path) != fake


def test_default_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NST_ENGINE_HOME", str(tmp_path))
    assert W.default_weights_path() == tmp_path / "cache" / "weights" / "vgg19-dcbb9e9d.pth"
    assert W.find_weights() == W.default_weights_path()
    folder = tmp_path / "cache" / "weights"
    folder.mkdir(parents=True)
    (folder / "imagenet-vgg-verydeep-19.mat").write_bytes(b"")
    assert W.find_weights() == folder / "imagenet-vgg-verydeep-19.mat"
    with pytest.raises(WeightsInvalid):
        W.load_weights()  # finds the (empty) .mat and says what is wrong with it
