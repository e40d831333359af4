"""Learned styles: learning lowers the engine's costs, ONNX agrees with torch, applying in tiles gives the
whole-picture result and keeps depth and alpha, the library reports damage clearly, styles of the first
format are converted, and the CLI runs learn -> list -> apply.

Everything runs on the CPU with synthetic VGG-19 weights, 64-pixel crops and a few dozen steps.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import onnxruntime  # noqa: F401 - the test extra requires them: a broken learned install fails, not skips
import onnxscript  # noqa: F401
import pytest
import torch
from PIL import Image

from nst_engine.cli.main import main
from nst_engine.errors import Cancelled
from nst_engine.learned import api, library
from nst_engine.learned import export as export_module
from nst_engine.learned.api import apply_style
from nst_engine.learned.network import reach
from nst_engine.learned.options import LearnOptions
from nst_engine.learned.runtime import Graph, Tiling, open_session, run_graph, run_tiled
from nst_engine.learned.sizes import WIDTHS
from nst_engine.learned.train import Costs, PhotoSet, initial_network, learn
from nst_engine.pictures.agreement import agreement
from nst_engine.pictures.images import Picture, load_picture, save_picture

DATA = Path(__file__).parent / "data"
STEPS = 15
OPTIONS = LearnOptions(steps=STEPS, size=64, batch=4, width="small", device="cpu", checkpoint_every=1000)


@pytest.fixture(scope="module")
def photo_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Ten small photographs (the test photos and their mirrored halves, some in a subfolder) and two non-pictures."""
    folder = tmp_path_factory.mktemp("photos")
    (folder / "more").mkdir()
    for index, path in enumerate(sorted(DATA.glob("*.jpg"))):
        with Image.open(path) as image:
            image = image.convert("RGB")
            image.thumbnail((160, 160))
            image.save(folder / f"{path.stem}.jpg", quality=90)
            half = image.crop((0, 0, image.width // 2 + 40, image.height)).transpose(Image.Transpose.FLIP_TOP_BOTTOM)
            half.save(folder / "more" / f"{path.stem}-{index}.png")
    (folder / "notes.txt").write_text("not a picture")
    (folder / "more" / "empty.jpg").write_bytes(b"")
    return folder


@pytest.fixture(scope="module")
def style_picture() -> Picture:
    return load_picture(DATA / "hubble.jpg")


@pytest.fixture(scope="module")
def trained(photo_dir: Path, style_picture: Picture, synthetic_weights_file: Path):
    return learn(style_picture, photo_dir, OPTIONS, weights=synthetic_weights_file)


@pytest.fixture(scope="module")
def exported(trained, tmp_path_factory: pytest.TempPathFactory):
    return export_module.export(trained.net, tmp_path_factory.mktemp("export") / "model.onnx")


@pytest.fixture
def stored(exported, engine_home: Path, style_picture: Picture) -> library.StyleInfo:
    """The trained network stored in a fresh library as 'stars'."""
    metadata = {"training": OPTIONS.to_dict(), "style_image": "hubble.jpg"}
    return library.store("stars", exported.path, library.make_thumbnail(style_picture), metadata)


def test_photo_folder_is_searched_recursively_and_non_pictures_are_counted(photo_dir: Path) -> None:
    import random

    photos = PhotoSet(photo_dir, 64, random.Random(0))
    assert len(photos.paths) == 10
    assert sorted(p.name for p in photos.skipped) == ["empty.jpg", "notes.txt"]
    crop = photos.draw()
    assert crop.shape == (1, 3, 64, 64) and 0.0 <= float(crop.min()) and float(crop.max()) <= 1.0


def test_too_few_photographs_is_a_clear_error(tmp_path: Path, photo_dir: Path) -> None:
    import random

    from nst_engine.errors import SettingsError

    for path in sorted(photo_dir.glob("*.jpg"))[:3]:
        (tmp_path / path.name).write_bytes(path.read_bytes())
    with pytest.raises(SettingsError, match="at least 8 photographs"):
        PhotoSet(tmp_path, 64, random.Random(0))


def test_learning_lowers_the_engines_costs_on_unseen_crops(
    trained, photo_dir: Path, style_picture: Picture, synthetic_weights_file: Path
) -> None:
    import random

    costs = Costs(style_picture, OPTIONS, synthetic_weights_file)
    crops = [PhotoSet(photo_dir, 64, random.Random(123)).draw() for _ in range(6)]
    untrained = initial_network(OPTIONS).eval()

    def mean_cost(net) -> float:
        with torch.no_grad():
            return float(np.mean([float(costs(net, crop)[0]) for crop in crops]))

    before, after = mean_cost(untrained), mean_cost(trained.net)
    assert trained.steps == STEPS and trained.skipped == 2
    assert after < 0.8 * before, (before, after)
    assert trained.last_loss < trained.first_loss


def test_onnx_and_torch_agree_on_a_size_the_export_never_saw(trained, exported) -> None:
    assert exported.max_difference <= export_module.MAX_DIFFERENCE
    picture = np.random.default_rng(5).random((1, 3, 77, 203), dtype=np.float32)
    difference = export_module.max_difference(trained.net, exported.path, picture)
    assert difference <= 1e-3
    # The check is not vacuous: the trained network's output differs from its input.
    session = open_session(exported.path)
    rgb = np.ascontiguousarray(picture[0].transpose(1, 2, 0))
    out = run_graph(session, Graph.of(session), rgb)[0]
    assert out.shape == rgb.shape and np.abs(out - rgb).mean() > 1e-3


def test_an_export_that_disagrees_is_not_kept(
    trained, exported, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    # The exporter itself is exercised by `exported`; here only the refusal (an export takes ~20 s).
    monkeypatch.setattr(export_module, "_write_graph", lambda _module, path: shutil.copyfile(exported.path, path))
    monkeypatch.setattr(export_module, "max_difference", lambda *args: 0.01)
    target = tmp_path / "model.onnx"
    with pytest.raises(export_module.ExportMismatch, match="not stored"):
        export_module.export(trained.net, target)
    assert not target.exists()


def _astronaut(width: int, height: int) -> np.ndarray:
    with Image.open(DATA / "astronaut.jpg") as image:
        return np.asarray(image.convert("RGB").resize((width, height)), dtype=np.float32) / 255.0


def _tiles_with_their_own_statistics(session, graph: Graph, rgb: np.ndarray, tiling: Tiling) -> np.ndarray:
    """The defect of issue 17: every tile normalised by its own statistics (only the cores kept)."""
    out = np.empty_like(rgb)
    for (y0, y1, x0, x1), (top, bottom, left, right) in tiling.tiles():
        styled = run_graph(session, graph, rgb[y0:y1, x0:x1])[0]
        out[y0 + top:y0 + bottom, x0 + left:x0 + right] = styled[top:bottom, left:right]
    return out


def test_tiles_in_the_whole_pictures_statistics_give_the_whole_picture(exported) -> None:
    session = open_session(exported.path)
    graph = Graph.of(session)
    rgb = _astronaut(288, 256)
    whole = run_tiled(session, rgb, max_tile=1024)
    tiling = Tiling.plan(256, 288, graph.min_tile(), graph)
    xs, ys = tiling.borders()
    assert len(xs) >= 2 and len(ys) >= 2  # really cut into tiles: the smallest the style allows
    tiled = run_tiled(session, rgb, max_tile=graph.min_tile())
    measured = agreement(tiled, whole, rgb, xs, ys, block=32)
    assert measured.holds(), measured
    # The measures see the defect: tiles that normalise by their own statistics.
    own = agreement(_tiles_with_their_own_statistics(session, graph, rgb, tiling), whole, rgb, xs, ys, block=32)
    assert not own.holds() and own.tone_spread > 3 * measured.tone_spread, (own, measured)
    # Given the exact statistics, tiles compute exactly the whole picture: the halo covers the network's reach.
    exact_stats = run_graph(session, graph, rgb)[1]
    from nst_engine.learned.runtime import statistics

    exact = statistics(graph, exact_stats, 256, 288)
    cut = np.empty_like(rgb)
    for (y0, y1, x0, x1), (top, bottom, left, right) in tiling.tiles():
        styled = run_graph(session, graph, rgb[y0:y1, x0:x1], (top, bottom, left, right), exact)[0]
        cut[y0 + top:y0 + bottom, x0 + left:x0 + right] = styled[top:bottom, left:right]
    assert np.abs(cut - whole).max() < 1e-4


def test_tiles_too_small_for_the_network_are_refused(exported) -> None:
    from nst_engine.errors import SettingsError

    session = open_session(exported.path)
    smallest = Graph.of(session).min_tile()
    with pytest.raises(SettingsError, match=f"at least {smallest} px"):
        run_tiled(session, _astronaut(300, 300), max_tile=smallest - 1)


def test_apply_keeps_16_bits_and_alpha(stored, tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    with Image.open(DATA / "coffee.jpg") as image:
        rgb = np.asarray(image.convert("RGB").resize((180, 120)), dtype=np.float32) / 255.0
    rgb = np.clip(rgb + rng.normal(0, 1 / 2000, rgb.shape), 0, 1).astype(np.float32)  # values between 8-bit steps
    alpha = np.tile(np.linspace(0, 1, 180, dtype=np.float32), (120, 1))
    source = save_picture(Picture(rgb, alpha, 16), tmp_path / "content.png")
    out = tmp_path / "styled.png"
    assert main(["apply", "stars", str(source), "-o", str(out), "--quiet"]) == 0
    result = load_picture(out)
    assert result.bit_depth == 16 and result.size == (180, 120)
    assert result.alpha is not None and np.abs(result.alpha - alpha).max() <= 1 / 65535
    levels = np.rint(result.rgb * 65535) % 257  # 8-bit values stored in 16 bits are multiples of 257
    assert np.count_nonzero(levels) > 0.5 * levels.size
    assert np.abs(result.rgb - rgb).mean() > 1e-3  # it was styled
    unchanged = apply_style("stars", load_picture(source), strength=0.0)
    assert np.abs(unchanged.picture.rgb - load_picture(source).rgb).max() < 1e-6
    assert unchanged.provider in ("CPU", "CUDA")


def _store_as_format_1(trained, stored: library.StyleInfo) -> None:
    """Replace the stored style by what an engine of style format 1 wrote: a graph with only `rgb` in."""
    import onnx

    from nst_engine.learned.network import exportable

    path = stored.model_path
    torch.onnx.export(exportable(trained.net), (torch.rand(1, 3, 64, 96),), str(path), input_names=["rgb"],
                      output_names=["styled"], dynamic_axes={"rgb": {2: "h", 3: "w"}, "styled": {2: "h", 3: "w"}},
                      opset_version=export_module.OPSET, dynamo=False)  # the fast exporter: same names, same graph
    model = onnx.load(str(path))
    for key, value in ((library.ONNX_MARKER, "1"), ("nst_engine_width", "small")):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(model, str(path))
    metadata = json.loads((stored.folder / "metadata.json").read_text())
    metadata.update(format_version=1, model_sha256=library.sha256_file(path))
    (stored.folder / "metadata.json").write_text(json.dumps(metadata))


def test_a_style_of_the_first_format_applies_whole_and_is_converted_for_tiles(trained, stored) -> None:
    _store_as_format_1(trained, stored)
    content = Picture(_astronaut(288, 256))
    whole = apply_style("stars", content, sessions=api.SessionCache())
    assert library.load_style("stars").metadata["format_version"] == 1  # whole: the old graph serves as it is
    smallest = 4 * reach(trained.net.shape)
    tiled = apply_style("stars", content, max_tile=smallest, sessions=api.SessionCache())
    converted = library.load_style("stars")
    assert converted.metadata["format_version"] == library.FORMAT_VERSION
    assert converted.metadata["upgraded"]["from_format"] == 1 and converted.metadata["training"]["size"] == 64
    assert np.abs(tiled.picture.rgb - whole.picture.rgb).max() < 1e-3


def test_the_library_lists_what_was_stored(stored, capsys: pytest.CaptureFixture[str]) -> None:
    assert [s.name for s in library.list_styles()] == ["stars"]
    assert stored.thumbnail_path.is_file() and max(Image.open(stored.thumbnail_path).size) == library.THUMBNAIL_SIZE
    assert stored.metadata["model_sha256"] == library.sha256_file(stored.model_path)
    assert main(["styles", "--json"]) == 0
    listing = json.loads(capsys.readouterr().out)
    assert [s["name"] for s in listing["styles"]] == ["stars"] and listing["styles"][0]["width"] == "small"


def _one_line_error(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("nst-engine: error:")
    return err


def test_a_damaged_model_is_a_one_line_error(stored, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    content = save_picture(Picture(np.full((40, 40, 3), 0.5, np.float32)), tmp_path / "c.png")
    argv = ["apply", "stars", str(content), "-o", str(tmp_path / "o.png")]
    stored.model_path.write_bytes(stored.model_path.read_bytes()[:500])
    assert "checksum differs" in _one_line_error(capsys, argv)
    # The same damage with a matching checksum: ONNX Runtime's refusal becomes the same kind of line.
    metadata = json.loads((stored.folder / "metadata.json").read_text())
    metadata["model_sha256"] = library.sha256_file(stored.model_path)
    (stored.folder / "metadata.json").write_text(json.dumps(metadata))
    assert "cannot load" in _one_line_error(capsys, argv)


def test_tiles_too_small_are_a_one_line_error_naming_a_size(stored, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    content = save_picture(Picture(np.full((150, 150, 3), 0.5, np.float32)), tmp_path / "c.png")
    err = _one_line_error(capsys, ["apply", "stars", str(content), "-o", str(tmp_path / "o.png"), "--tile", "100"])
    assert f"at least {4 * reach(WIDTHS['small'])} px" in err


def test_a_foreign_onnx_model_is_refused(stored, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph(
        [helper.make_node("Identity", ["rgb"], ["styled"])], "foreign",
        [helper.make_tensor_value_info("rgb", TensorProto.FLOAT, [1, 3, None, None])],
        [helper.make_tensor_value_info("styled", TensorProto.FLOAT, [1, 3, None, None])],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(stored.model_path))
    metadata = json.loads((stored.folder / "metadata.json").read_text())
    metadata["model_sha256"] = library.sha256_file(stored.model_path)
    (stored.folder / "metadata.json").write_text(json.dumps(metadata))
    content = save_picture(Picture(np.full((40, 40, 3), 0.5, np.float32)), tmp_path / "c.png")
    err = _one_line_error(capsys, ["apply", "stars", str(content), "-o", str(tmp_path / "o.png")])
    assert "not a style network made by nst-engine" in err


def test_metadata_from_a_newer_engine_is_a_one_line_error(stored, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    metadata = json.loads((stored.folder / "metadata.json").read_text())
    metadata["format_version"] = library.FORMAT_VERSION + 1
    (stored.folder / "metadata.json").write_text(json.dumps(metadata))
    content = save_picture(Picture(np.full((40, 40, 3), 0.5, np.float32)), tmp_path / "c.png")
    err = _one_line_error(capsys, ["apply", "stars", str(content), "-o", str(tmp_path / "o.png")])
    assert "newer engine" in err and "update nst-engine" in err
    assert main(["styles"]) == 0
    assert "stars: UNUSABLE" in capsys.readouterr().out


def test_an_interrupted_run_resumes_where_its_checkpoint_left_off(
    photo_dir: Path, style_picture: Picture, synthetic_weights_file: Path, tmp_path: Path
) -> None:
    options = LearnOptions(steps=4, size=64, batch=1, device="cpu", checkpoint_every=2)
    checkpoint = tmp_path / "checkpoint.pt"
    cancel = threading.Event()
    seen: list[int] = []

    def stop_after_three(event) -> None:
        seen.append(event.step)
        if event.step == 3:
            cancel.set()

    with pytest.raises(Cancelled):
        learn(style_picture, photo_dir, options, checkpoint, synthetic_weights_file, stop_after_three, cancel)
    assert seen == [1, 2, 3] and checkpoint.is_file()
    resumed = learn(style_picture, photo_dir, options, checkpoint, synthetic_weights_file)
    assert resumed.resumed_from == 2 and resumed.steps == 4
    straight = learn(style_picture, photo_dir, options, None, synthetic_weights_file)
    for name, value in straight.net.state_dict().items():
        assert torch.allclose(value, resumed.net.state_dict()[name], atol=1e-6), name
    changed = LearnOptions(steps=4, size=64, batch=1, device="cpu", checkpoint_every=2, style_strength=2.0)
    with pytest.raises(Exception, match="other settings"):
        learn(style_picture, photo_dir, changed, checkpoint, synthetic_weights_file)


def test_cli_learns_lists_and_applies_a_style(
    engine_home: Path, photo_dir: Path, synthetic_weights_file: Path, tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    style = DATA / "chelsea.jpg"
    learn_args = ["learn-style", str(style), "--images", str(photo_dir), "--name", "cat fur", "--steps", "3",
                  "--size", "64", "--weights", str(synthetic_weights_file), "--device", "cpu"]
    assert main(learn_args) == 0
    err = capsys.readouterr().err
    assert "Learned style 'cat fur' from 10 photographs" in err and "Skipped 2 file(s)" in err
    assert "left" in err  # the progress line shows the time remaining
    assert not library.checkpoint_path("cat fur").exists()  # stored: the checkpoint is gone
    assert main(["styles"]) == 0
    assert capsys.readouterr().out.startswith("cat fur: small network, 3 steps at 64 px, from chelsea.jpg")
    assert "exists already" in _one_line_error(capsys, learn_args)
    out = tmp_path / "cat.jpg"
    assert main(["apply", "cat fur", str(DATA / "coffee.jpg"), "-o", str(out), "--strength", "0.7"]) == 0
    assert "with ONNX Runtime on the CPU" in capsys.readouterr().err
    assert load_picture(out).size == load_picture(DATA / "coffee.jpg").size
    assert "no learned style called 'nothing'" in _one_line_error(
        capsys, ["apply", "nothing", str(DATA / "coffee.jpg"), "-o", str(out)])
    assert "between 0 and 1" in _one_line_error(
        capsys, ["apply", "cat fur", str(DATA / "coffee.jpg"), "-o", str(out), "--strength", "2"])
