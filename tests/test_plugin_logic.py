"""The plug-in's pure logic (nst_logic.py), tested without GIMP."""

from __future__ import annotations

import base64
import queue
import struct
import sys
import time
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import nst_logic as L  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402


def test_argument_table_matches_issue():
    assert L.ARGUMENT_NAMES == ("style-file", "style-file-2", "style-blend", "style-strength", "quality",
                                "max-size", "preserve-colors", "style-scale", "seed",
                                # issue 20, appended so that scripts passing the earlier ones keep working
                                "where", "outside", "channel-styles", "style-layer")
    assert L.QUALITIES == ("draft", "standard", "high")
    assert L.PROC_NAME == "plug-in-neural-style-transfer"
    assert L.MENU_PATH == "<Image>/Filters/Artistic/Neural Style Transfer"
    assert L.MENU_LABEL == "Paint with a Style\u2026"
    assert L.MENU_WORDS == " \u2192 ".join(L.MENU_PATH.split("/")[1:])


def test_engine_settings_single_and_blend():
    args = L.PluginArgs(style_file="/s/a.jpg", quality="draft", max_size=0, style_strength=2.0, seed=7)
    s = L.engine_settings(args)
    # 0 (the default): the preset decides the size (the layer's own for standard and high).
    assert L.PluginArgs().max_size == 0
    assert s == {"preset": "draft", "output": "content", "style_strength": 2.0, "style_scale": 1.0,
                 "preserve_colors": False, "seed": 7}
    args.max_size = 300  # the artist's cap, which also lifts the engine's time budget
    assert L.engine_settings(args)["max_long_side"] == 300 and "size" not in L.engine_settings(args)
    assert L.engine_settings(args)["time_budget"] == 0
    args.style_file_2 = "/s/b.png"
    args.style_blend = 0.25
    assert L.engine_settings(args)["style_blend"] == [0.75, 0.25]
    args.extra = {"iterations": 2}
    assert L.engine_settings(args)["iterations"] == 2
    with pytest.raises(ValueError):
        L.engine_settings(L.PluginArgs(style_file="x", quality="ultra"))


def test_from_values_and_back():
    values = {"style-file": "/a/b.jpg", "style-file-2": None, "style-blend": 0.5, "style-strength": 1.0,
              "quality": "high", "max-size": 512, "preserve-colors": True, "style-scale": 2.0, "seed": 3,
              "where": "channels", "outside": "second-style", "channel-styles": "Sky=1", "style-layer": None}
    args = L.PluginArgs.from_values(values)
    assert args.quality == "high" and args.preserve_colors and args.style_paths() == ["/a/b.jpg"]
    assert args.to_config_values() == values


def test_extra_settings_env():
    assert L.extra_settings_from_env({}) == {}
    assert L.extra_settings_from_env({L.EXTRA_SETTINGS_ENV: '{"iterations": 3}'}) == {"iterations": 3}
    with pytest.raises(ValueError):
        L.extra_settings_from_env({L.EXTRA_SETTINGS_ENV: "[1]"})
    with pytest.raises(ValueError):
        L.extra_settings_from_env({L.EXTRA_SETTINGS_ENV: "{nope"})


def test_layer_name():
    assert L.layer_name("Background", ["/x/starry-night.jpg"]) == "Background (style: starry-night)"
    assert L.layer_name("Cat", ["C:\\s\\a.b.png", "/t/wave"]) == "Cat (style: a.b + wave)"
    assert L.style_label(".hidden") == ".hidden"


def test_progress_text_and_fraction():
    ev = {"type": "progress", "scale": 2, "scales": 3, "iteration": 120, "iterations": 300, "step": 220,
          "total_steps": 600}
    assert L.progress_text(ev) == "Stylising \u2014 scale 2/3, iteration 120/300"
    assert L.progress_fraction(ev) == pytest.approx(220 / 600)
    assert L.progress_fraction({"type": "queued", "position": 1}) is None
    assert L.progress_text({"type": "queued", "position": 2}) == "Waiting for the engine \u2014 2 jobs ahead"
    assert L.progress_text({"type": "queued", "position": 1}) == "Waiting for the engine \u2014 1 job ahead"
    assert L.progress_text({"type": "queued", "position": 0}) == "Waiting for the engine\u2026"
    assert L.progress_text({"type": "started"}) == "Stylising: preparing\u2026"
    assert L.progress_text({}) == "Stylising\u2026"


def test_preview_png():
    png = b"\x89PNG\r\n\x1a\nxyz"
    b64 = base64.b64encode(png).decode()
    assert L.preview_png({"preview": b64}) == png
    assert L.preview_png({"preview": "not base64 at all!"}) is None
    assert L.preview_png({}) is None


@pytest.mark.parametrize(("precision", "expected"), [
    ("GIMP_PRECISION_U8_NON_LINEAR", ("R'G'B'A u8", "u8")),
    ("U8_LINEAR", ("R'G'B'A u8", "u8")),
    ("GIMP_PRECISION_U16_PERCEPTUAL", ("R'G'B'A u16", "u16")),
    ("GIMP_PRECISION_U32_LINEAR", ("R'G'B'A float", "f32")),
    ("GIMP_PRECISION_HALF_NON_LINEAR", ("R'G'B'A float", "f32")),
    ("GIMP_PRECISION_FLOAT_LINEAR", ("R'G'B'A float", "f32")),
    ("GIMP_PRECISION_DOUBLE_LINEAR", ("R'G'B'A float", "f32")),
])
def test_pixel_format(precision, expected):
    assert L.pixel_format(precision) == expected


def test_put_alpha():
    rgba = bytearray(struct.pack("8f", 0.1, 0.2, 0.3, 0.9, 0.4, 0.5, 0.6, 0.8))
    L.put_alpha(rgba, struct.pack("2f", 0.0, 0.5))
    assert struct.unpack("8f", rgba) == pytest.approx((0.1, 0.2, 0.3, 0.0, 0.4, 0.5, 0.6, 0.5))
    with pytest.raises(ValueError):
        L.put_alpha(bytearray(16), struct.pack("2f", 0.0, 0.5))


def test_parasite_round_trip_is_ascii():
    args = L.PluginArgs(style_file="/s/Stérnenacht.jpg", quality="draft")
    record = L.settings_record(args, L.engine_settings(args), "Bäckground", "scaled down", "u16")
    data = L.encode_parasite(record)
    assert max(data) < 128
    back = L.decode_parasite(list(data))
    assert back == record
    assert back["arguments"]["style_file"] == "/s/Stérnenacht.jpg"
    assert back["content_format"] == "u16"
    assert L.args_from_record(back)["quality"] == "draft"
    assert L.decode_parasite(b"not json") is None
    assert L.decode_parasite(b'{"procedure": "other"}') is None
    assert L.args_from_record({"arguments": {"seed": "x", "max_size": 64, "style_blend": 1}}) == {
        "max-size": 64, "style-blend": 1}


def test_installer_hint_names_the_installer_that_exists_on_each_system():
    assert "install/install.sh" in L.installer_hint("linux")
    assert "install\\install.bat" in L.installer_hint("win32")
    assert "install/install.command" in L.installer_hint("darwin")


class _FakeJob:
    def __init__(self, fail=None):
        self.cancelled = self.stopped = False
        self.fail = fail

    def cancel(self):
        self.cancelled = True

    def stop(self):
        self.stopped = True

    def wait(self, on_progress=None):
        for i in range(3):
            on_progress({"iteration": i + 1, "iterations": 3})
            if self.cancelled:
                raise RuntimeError("cancelled")
            time.sleep(0.01)
        if self.fail:
            raise self.fail
        return "RESULT"


class _FakeClient:
    def __init__(self, job):
        self.job = job
        self.submitted = None

    def submit(self, content, styles, settings, preview=True, style_names=None):
        self.submitted = (content, styles, settings, preview)
        self.style_names = style_names
        return self.job


def _drain(runner):
    events = []
    while True:
        kind, payload = runner.events.get(timeout=5)
        events.append((kind, payload))
        if kind != "progress":
            return events


def test_runner_delivers_progress_then_result():
    client = _FakeClient(_FakeJob())
    runner = EngineJobRunner(lambda: client, "C", [b"s"], {"preset": "draft"}, preview=True)
    runner.start()
    events = _drain(runner)
    assert [k for k, _ in events] == ["progress"] * 3 + ["done"]
    assert events[-1][1] == "RESULT"
    assert client.submitted == ("C", [b"s"], {"preset": "draft"}, True)


def test_runner_reports_errors_from_connect_and_job():
    def boom():
        raise ConnectionError("nope")

    runner = EngineJobRunner(boom, "C", [], {})
    runner.start()
    kind, payload = _drain(runner)[-1]
    assert kind == "error" and isinstance(payload, ConnectionError)
    runner = EngineJobRunner(lambda: _FakeClient(_FakeJob(fail=ValueError("bad"))), "C", [], {})
    runner.start()
    kind, payload = _drain(runner)[-1]
    assert kind == "error" and isinstance(payload, ValueError)


def test_runner_cancel_before_submit_reaches_job():
    job = _FakeJob()
    runner = EngineJobRunner(lambda: _FakeClient(job), "C", [], {})
    runner.cancel()
    runner.start()
    kind, _payload = _drain(runner)[-1]
    assert job.cancelled and kind == "error" and runner.cancel_requested
    assert isinstance(runner.events, queue.Queue)


class _MainContext:
    """GLib.MainContext's two calls that EngineJobRunner.wait makes: counts the turns of the main loop."""

    def __init__(self) -> None:
        self.turns = 0
        self._pending = 0

    def pending(self) -> bool:
        self._pending = (self._pending + 1) % 3
        return self._pending != 0

    def iteration(self, may_block: bool) -> bool:
        assert may_block is False
        self.turns += 1
        return True


def test_runner_drain_hands_over_progress_and_returns_the_outcome_once_it_arrives():
    runner = EngineJobRunner(lambda: _FakeClient(_FakeJob()), "C", [], {})
    seen: list[int] = []
    assert runner.drain(seen.append) is None  # nothing yet: a window's timer polls again
    for i in (1, 2):
        runner.events.put(("progress", i))
    assert runner.drain(seen.append) is None and seen == [1, 2]
    runner.events.put(("progress", 3))
    runner.events.put(("done", "RESULT"))
    runner.events.put(("progress", 4))  # after the outcome: left for nobody
    assert runner.drain(seen.append) == ("done", "RESULT") and seen == [1, 2, 3]


def test_runner_wait_turns_the_main_loop_until_the_outcome():
    runner = EngineJobRunner(lambda: _FakeClient(_FakeJob(fail=ValueError("bad"))), "C", [], {})
    context, seen = _MainContext(), []
    runner.start()
    kind, payload = runner.wait(seen.append, context)
    assert kind == "error" and isinstance(payload, ValueError)
    assert [event["iteration"] for event in seen] == [1, 2, 3] and context.turns >= 2


@pytest.mark.parametrize(("given", "expected"), [
    ("/path/x.jpg", "/path/x.jpg"),
    ("//path/x.jpg", "/path/x.jpg"),  # GIMP 3.2's Repeat hands this back
    ("///path/x.jpg", "/path/x.jpg"),
    ("file:////path/x.jpg", "/path/x.jpg"),  # GIMP 3.2 stores the last value so
    ("file:///path/x.jpg", "/path/x.jpg"),
    ("file://localhost/path/x.jpg", "/path/x.jpg"),
    ("file:///path/with%20space.jpg", "/path/with space.jpg"),
    ("FILE:///path/x.jpg", "/path/x.jpg"),
    ("C:\\Users\\me\\style.jpg", "C:\\Users\\me\\style.jpg"),
    ("C:/Users/me/style.jpg", "C:/Users/me/style.jpg"),
    ("file:///C:/Users/me/style.jpg", "C:/Users/me/style.jpg"),
    ("\\\\server\\share\\style.jpg", "\\\\server\\share\\style.jpg"),
    ("relative/x.jpg", "relative/x.jpg"),
])
def test_file_arguments_become_plain_local_paths(given, expected):
    assert L.normalize_file_argument(given, platform="linux") == expected


def test_unc_paths_with_slashes_are_kept_on_windows():
    assert L.normalize_file_argument("//server/share/x.jpg", platform="win32") == "//server/share/x.jpg"
    assert L.normalize_file_argument("//server/share/x.jpg", platform="linux") == "/server/share/x.jpg"


def test_plugin_args_normalise_both_style_files():
    args = L.PluginArgs.from_values({"style-file": "//tmp/a.jpg", "style-file-2": "file:////tmp/b.png"})
    assert args.style_file == "/tmp/a.jpg" and args.style_file_2 == "/tmp/b.png"
    assert L.PluginArgs.from_values({"style-file": None}).style_file is None
