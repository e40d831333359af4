"""The learned-style procedures in the REAL GIMP 3, headless: learn a style through plug-in-nst-learn-style
(a few steps on small crops), then apply it with plug-in-nst-apply-learned-style and check the new layers.

As tests/test_gimp_plugin.py: one GIMP start runs tests/gimp/driver_learned.py against a real
`nst-engine serve --device cpu` with generated weights; the tests assert on the JSON it writes.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "gimp"))
pytest.register_assert_rewrite("gimp_checks")
try:  # the engine learns and applies styles with them; the test extra requires them: missing is a failure
    import onnxruntime  # noqa: F401
    import onnxscript  # noqa: F401
except ImportError as missing:
    raise ImportError(f"{missing}: the learned styles need it; install the test extra (pip install -e '.[test]')"
                      ) from missing

import gimp_checks as C  # noqa: E402
import gimp_harness as H  # noqa: E402

pytestmark = [pytest.mark.gimp, pytest.mark.timeout(2400)]
STYLE_NAME = "test dots"
DRIVERS = H.REPO / "tests" / "gimp"


@pytest.fixture(scope="module", params=H.suites(), ids=[H.suite_label(s) for s in H.suites()])
def gimp_root(request: pytest.FixtureRequest) -> H.GimpRoot:
    try:
        return H.provision(request.param)
    except H.NotProvisionable as exc:
        pytest.skip(str(exc))


def _photos(folder: Path, count: int) -> None:
    """`count` small photographs from the test photos (mirrored halves after the originals), one in a subfolder."""
    from PIL import Image

    (folder / "more").mkdir(parents=True)
    made = 0
    for flip in (False, True):
        for path in sorted((H.REPO / "tests" / "data").glob("*.jpg")):
            if made == count:
                return
            with Image.open(path) as image:
                image = image.convert("RGB")
                image.thumbnail((128, 128))
                if flip:
                    image = image.crop((0, 0, image.width // 2 + 30, image.height)).transpose(
                        Image.Transpose.FLIP_LEFT_RIGHT)
                image.save(folder / ("more" if made == 0 else ".") / f"{made}-{path.stem}.jpg")
            made += 1


@pytest.fixture(scope="module")
def results(gimp_root: H.GimpRoot) -> Iterator[dict[str, Any]]:
    work = gimp_root.workdir("nst-learned-")
    engine = H.start_engine(work)
    try:
        inside = gimp_root.inside
        profile = work / "profile"
        H.install_plugin(profile, H.engine_json_ok(engine))
        H.make_style_images(work)
        _photos(work / "photos", 10)
        _photos(work / "few", 5)
        for name in ("driver_common.py", "driver_learned.py"):
            shutil.copy2(DRIVERS / name, work / name)
        params = {"results": inside(work) + "/results.json", "style": inside(work) + "/style.jpg",
                  "photos": inside(work / "photos"), "few_photos": inside(work / "few"), "style_name": STYLE_NAME}
        (work / "params.json").write_text(json.dumps(params))
        started = time.monotonic()
        proc = H.run_batch(gimp_root, profile, work / "driver_learned.py", work / "params.json", work / "gimp.log",
                           timeout=1500)
        out = work / "results.json"
        if not out.exists():
            pytest.fail(f"GIMP ran {time.monotonic() - started:.0f} s, exit {proc.returncode}, and wrote no results:\n"
                        f"{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
        data = json.loads(out.read_text())
        data["_gimp"] = {"returncode": proc.returncode, "stderr": proc.stderr}
        data["_library"] = sorted(p.name for p in (work / "engine-home" / "data" / "styles").glob("*"))
        yield data
    finally:
        engine.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


def test_both_procedures_sit_beside_the_main_filter(results) -> None:
    assert results.get("finished"), results["_gimp"]["stderr"][-3000:]
    procedures = results["procedures"]
    apply, learn = procedures["plug-in-nst-apply-learned-style"], procedures["plug-in-nst-learn-style"]
    assert apply["menu_label"] == "Apply Learned Style\u2026" and learn["menu_label"] == "Learn a Style\u2026"
    assert apply["menu_paths"] == learn["menu_paths"] == ["<Image>/Filters/Artistic/Neural Style Transfer"]
    assert [a[0] for a in apply["arguments"]][3:] == ["style-name", "strength"]
    assert [a[0] for a in learn["arguments"]][3:] == ["style-file", "photos-folder", "style-name", "steps",
                                                      "training-size", "network", "style-strength", "replace",
                                                      "keep-running"]


def test_learn_style_stores_a_style_the_library_lists(results) -> None:
    entry = C.case(results, "learn")
    assert entry["call"]["status"] == "success", entry["call"]["message"]
    assert results["_library"] == [STYLE_NAME]
    few = C.case(results, "learn_too_few")
    assert few["call"]["status"] == "calling-error" and "at least 8" in few["call"]["message"]


def _assert_learned_layer(entry: dict[str, Any]) -> dict[str, Any]:
    """The main filter's rules (gimp_checks.assert_new_layer) with this procedure's name and record."""
    assert entry["call"]["status"] == "success", entry["call"]["message"]
    C.assert_untouched(entry, new_layers=1)
    layers = entry["after"]["layers"]
    new, source = layers[C.new_layer_index(entry)], layers[entry["source_index"] + 1]
    assert re.fullmatch(re.escape(f"{entry['source_name']} (learned style: {STYLE_NAME})") + r"( #\d+)?", new["name"])
    assert new["size"] == source["size"] and new["offsets"] == source["offsets"]
    assert new["has_alpha"] == source["has_alpha"] and new["alpha"] == source["alpha"]
    assert new["is_gray"] == source["is_gray"] and new["pixels"] != source["pixels"]
    record = new["parasite"]
    assert record["procedure"] == "plug-in-nst-apply-learned-style" and record["source_layer"] == entry["source_name"]
    assert record["arguments"]["style_name"] == STYLE_NAME
    assert entry["before"]["dirty"] is False and entry["after"]["dirty"] is True
    return new


def test_applied_above_the_source_with_its_offsets_and_alpha(results) -> None:
    entry = C.case(results, "rgba_offsets")
    new = _assert_learned_layer(entry)
    assert [layer["name"] for layer in entry["after"]["layers"]] == [
        "Top", f"Sprite (learned style: {STYLE_NAME})", "Sprite", "Background"]
    assert new["offsets"] == [30, -5] and new["size"] == [40, 32] and new["mask"] is None
    assert new["parasite"]["arguments"]["strength"] == pytest.approx(0.8)
    assert new["parasite"]["content_format"] == "u8"


def test_applied_again_goes_on_top_of_the_first_result(results) -> None:
    """Issue 23, point 5: the second result of the same source went under the first, invisible."""
    entry = C.case(results, "rgba_offsets_again")
    new = _assert_learned_layer(entry)
    first = f"Sprite (learned style: {STYLE_NAME})"
    assert [layer["name"] for layer in entry["after"]["layers"]] == ["Top", new["name"], first, "Sprite", "Background"]
    assert new["name"] != first and new["parasite"]["arguments"]["strength"] == pytest.approx(0.5)
    assert new["parasite"]["source_tattoo"] == entry["after"]["layers"][2]["parasite"]["source_tattoo"]


def test_applied_at_full_size_in_16_bits_with_a_mask_from_the_selection(results) -> None:
    entry = C.case(results, "rgb16_selection")
    new = _assert_learned_layer(entry)
    assert new["size"] == [300, 200] and not new["has_alpha"]
    assert new["parasite"]["content_format"] == "u16"
    assert new["mask"] and new["mask"]["center"] == 1.0 and new["mask"]["corner"] == 0.0


def test_an_unknown_style_is_an_error_and_changes_nothing(results) -> None:
    entry = C.case(results, "unknown_style")
    assert entry["call"]["status"] == "execution-error" and "no learned style" in entry["call"]["message"]
    C.assert_untouched(entry, new_layers=0)


GUI_SUITES = os.environ.get("NST_GIMP_GUI_SUITES", " ".join(H.SUITES)).split()
# The windows' screenshots are copied to this folder when it is given (a fixed shared path would let two runs
# at once overwrite each other's); with NST_KEEP_GIMP_TEST_DIR they stay in the run's own out/ folder.
PICTURES = os.environ.get("NST_LEARNED_WINDOWS_PICTURES")


@pytest.fixture(scope="module")
def windows(gimp_root: H.GimpRoot) -> dict[str, Any]:
    """The learned-style windows in GIMP's own GTK and Python under Xvfb, driven by drive_learned_windows.py."""
    from PIL import Image
    from xsession import XSession

    if gimp_root.suite not in GUI_SUITES:
        pytest.skip(f"GUI tests run on {GUI_SUITES} ($NST_GIMP_GUI_SUITES), not {gimp_root.suite}")
    work = gimp_root.workdir("nst-learned-windows-")
    session = XSession(gimp_root, work / "profile", work)
    try:
        plugin = H.install_plugin(work / "profile", {"url": "http://127.0.0.1:9", "token": "unused"})
        shutil.copy2(DRIVERS / "drive_learned_windows.py", work / "drive.py")
        out = work / "out"
        out.mkdir()
        with Image.open(H.REPO / "tests" / "data" / "hubble.jpg") as im:
            im.convert("RGB").resize((200, 150)).save(out / "thumb.png")
        session.start_x()
        session.x("python3", gimp_root.inside(work / "drive.py"), gimp_root.inside(plugin), gimp_root.inside(out),
                  check=True)
        if PICTURES:
            Path(PICTURES).mkdir(parents=True, exist_ok=True)
            for shot in out.glob("*.png"):
                shutil.copy2(shot, Path(PICTURES) / f"{gimp_root.suite}-{shot.name}")
        return json.loads((out / "windows.json").read_text())
    finally:
        session.close()
        if not os.environ.get("NST_KEEP_GIMP_TEST_DIR"):
            shutil.rmtree(work, ignore_errors=True)


def test_learning_window_stop_and_keep_asks_the_engine_to_stop_and_gives_its_result(windows) -> None:
    assert "timeouts" not in windows, f"the driver waited in vain for: {windows['timeouts']}"
    stop = windows["stop"]
    assert stop["asked"] == ["stop"] and stop["outcome"] == "done" and stop["payload"]["stopped_early"] is True
    assert "step 2/2000" in stop["bar_before"] and "Finishing" in stop["bar_after"]
    assert stop["bar_after_step"] == stop["bar_after"], "the engine's next step must not hide what was asked"
    assert [label.replace("_", "") for label in stop["buttons"]] == [
        "Close (keeps learning)", "Stop and keep", "Cancel learning"]


def test_learning_window_cancel_and_close(windows) -> None:
    assert windows["cancel"]["asked"] == ["cancel"] and windows["cancel"]["outcome"] == "cancelled"
    assert "Cancelling" in windows["cancel"]["bar_after"]
    assert windows["cancel"]["bar_after_step"] == windows["cancel"]["bar_after"]
    assert windows["close"]["asked"] == [] and windows["close"]["outcome"] == "closed"
    finish = windows["finish"]
    assert finish["asked"] == [] and finish["outcome"] == "done" and "Close (keeps learning)" not in str(
        finish["buttons"])


def test_style_chooser_returns_the_selected_style_and_strength(windows) -> None:
    """The chooser opens on the style last used ("waves"); the driver picks another one and strength."""
    assert windows["chooser_preselected"] == ["waves"]
    assert windows["chooser_selected"] == ["dots"]
    assert windows["chooser"] == ["dots", pytest.approx(0.35)]
