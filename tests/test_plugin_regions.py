"""Issue 20 on the plug-in side, without GIMP: which "Where" choices are allowed, what a job with regions
sends (fields and raw masks, checked on the wire), a style layer's PNG (16 bits and alpha kept, read back by
the engine's own decoder), and how a style layer is remembered and found again."""

from __future__ import annotations

import email.parser
import email.policy
import json
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import engine_client  # noqa: E402
import nst_logic as L  # noqa: E402
import png_encode  # noqa: E402
import region_logic as R  # noqa: E402
import style_layer_logic as S  # noqa: E402
from engine_job import EngineJobRunner  # noqa: E402

from nst_engine.pictures.images import decode_picture  # noqa: E402


def plan(where: str, outside: str = R.PHOTO, channels: str = "", *, selection: bool = True,
         names: tuple[str, ...] = ("Sky", "Figure"), second: bool = True) -> R.RegionPlan | None:
    return R.plan(where, outside, channels, has_selection=selection, channel_names=list(names), has_second=second)


# --- which choices, what is sent -------------------------------------------------------------------

def test_whole_layer_sends_no_regions_and_keeps_the_blend() -> None:
    assert plan(R.WHOLE, selection=False, names=()) is None
    settings = {"preset": "draft", "style_blend": [0.5, 0.5]}
    assert R.settings_for(settings, None) == settings


def test_selection_with_the_photo_or_the_second_style_outside() -> None:
    photo = plan(R.SELECTION)
    assert photo.masks == [("selection", None)] and photo.regions == [{"style": 1, "weight": 1.0}]
    assert photo.rest == "photo"
    assert photo.fields() == [("mask_format", "raw"), ("regions", '[{"style": 1, "weight": 1.0}]'), ("rest", "photo")]
    assert plan(R.SELECTION, R.SECOND).rest == 2 and plan(R.SELECTION, R.SECOND).fields()[2] == ("rest", "2")
    # each region names its style: no blend of the two is sent
    assert R.settings_for({"preset": "draft", "style_blend": [0.5, 0.5]}, photo) == {"preset": "draft"}


def test_choices_that_cannot_run_say_why_and_what_to_do() -> None:
    states = R.where_states(has_selection=False, channel_names=[])
    assert states[R.WHOLE] == (True, "")
    assert states[R.SELECTION] == (False, R.NO_SELECTION_HINT) and states[R.CHANNELS] == (False, R.NO_CHANNELS_HINT)
    assert R.where_states(True, ["Sky"])[R.SELECTION] == (True, "")
    for where, kw, words in ((R.SELECTION, {"selection": False}, "no selection"),
                             (R.CHANNELS, {"names": ()}, "no saved channels"),
                             (R.SELECTION, {"second": False, "outside": R.SECOND}, "second style"),
                             (R.SELECTION, {"outside": R.FIRST}, "same style"),
                             (R.CHANNELS, {"channels": "Sky=2", "second": False}, "second style"),
                             (R.CHANNELS, {"channels": "Sea=1"}, "no channel \u201cSea\u201d"),
                             (R.CHANNELS, {"channels": "Sky="}, "No channel picks"),
                             ("everywhere", {}, "Unknown")):
        outside = kw.pop("outside", R.PHOTO)
        with pytest.raises(R.RegionProblem) as problem:
            plan(where, outside, kw.pop("channels", ""), **kw)
        assert words in str(problem.value) and problem.value.advice, (where, str(problem.value))


def test_channels_each_pick_a_style_in_order() -> None:
    got = plan(R.CHANNELS, R.FIRST, "Sky=2; Figure=photo; A=b=1", names=("Sky", "Figure", "A=b", "Unused"))
    assert got.masks == [("channel", "Sky"), ("channel", "Figure"), ("channel", "A=b")]
    assert [r["style"] for r in got.regions] == [2, "photo", 1] and got.rest == 1
    assert R.describe(got) == ("\u201cSky\u201d: second style; \u201cFigure\u201d: photo; \u201cA=b\u201d: style; "
                               "elsewhere: style")
    many = "; ".join(f"c{i}=1" for i in range(R.MAX_REGIONS + 1))
    with pytest.raises(R.RegionProblem, match="at most 8"):
        plan(R.CHANNELS, channels=many, names=tuple(f"c{i}" for i in range(9)))


def test_channel_styles_text_round_trips_and_bad_picks_are_named() -> None:
    pairs = R.parse_channel_styles("Sky=1;\n Figure = PHOTO ;; Ground=")
    assert pairs == [("Sky", "1"), ("Figure", "photo"), ("Ground", "")]
    assert R.parse_channel_styles(R.format_channel_styles(pairs)) == pairs[:2]
    with pytest.raises(R.RegionProblem, match="\u201cSky\u201d picks \u201c3\u201d"):
        R.parse_channel_styles("Sky=3")
    with pytest.raises(R.RegionProblem, match="does not say"):
        R.parse_channel_styles("Sky")


def test_arguments_carry_the_regions_and_the_style_layer_into_the_record() -> None:
    ref = S.layer_ref("/art/paint.xcf", "paint.xcf", "Brushes", 7)
    args = L.PluginArgs(style_file="/s/a.jpg", style_file_2="/s/b.png", where=R.SELECTION, outside=R.SECOND,
                        style_layer=ref)
    assert args.style_paths() == ["/s/b.png"] and args.style_names() == ["Brushes", "/s/b.png"]
    assert L.layer_name("Photo", args.style_names()) == "Photo (style: Brushes + b)"
    assert "style_blend" in L.engine_settings(args)  # a layer and a file blend as two files do
    record = L.decode_parasite(L.encode_parasite(L.settings_record(args, {}, "Photo")))
    back = L.args_from_record(record)
    assert back["where"] == R.SELECTION and back["outside"] == R.SECOND and back["style-layer"] == ref
    assert L.PluginArgs(style_layer=ref).has_style() and not L.PluginArgs().has_style()


# --- a style layer ---------------------------------------------------------------------------------

def test_a_style_layer_is_found_again_by_image_then_tattoo_then_name() -> None:
    ref = S.layer_ref("/art/paint.jpg", "[paint] (imported)", "Brushes", 7, image_id=3)
    assert S.is_ref(ref) and not S.is_ref({"layer": "x"}) and not S.is_ref(None)
    renamed = ("/art/paint.jpg", "x", 7, "Brushes (copy)", "by tattoo", 9)
    same_name = ("/art/paint.jpg", "x", 9, "Brushes", "by name", 9)
    elsewhere = ("/art/other.xcf", "other.xcf", 7, "Brushes", "other image", 3)
    assert S.pick(ref, [elsewhere, same_name, renamed]) == "by tattoo"
    assert S.pick(ref, [elsewhere, same_name]) == "by name"
    assert S.pick(ref, [elsewhere]) is None
    # Two unsaved images are both "[Untitled]" and tattoos repeat from image to image: this session's image id
    # tells them apart, and a layer matching by tattoo and name beats one matching by tattoo alone.
    unsaved = S.layer_ref(None, "[Untitled]", "Painting", 2, image_id=1)
    photo = (None, "[Untitled]", 2, "Background", "the photo", 2)
    painting = (None, "[Untitled]", 2, "Painting", "the painting", 1)
    assert S.pick(unsaved, [photo, painting]) == "the painting"
    assert S.pick({**unsaved, "image_id": 0}, [photo, painting]) == "the painting"  # another session
    assert S.pick({**unsaved, "image_id": 0}, [photo]) is None  # a tattoo alone does not name it
    assert S.pick(unsaved, [(None, "[Untitled]", 2, "Renamed", "renamed", 1)]) == "renamed"  # this session's image
    assert S.pick(unsaved, [("/x.xcf", "[Untitled]", 2, "Painting", "saved", 1)]) is None
    text = S.gone_text(ref, "/s/starry-night.jpg")
    assert "\u201cBrushes\u201d of \u201c[paint] (imported)\u201d is no longer open" in text and "starry-night" in text
    assert "choose a style again" in S.gone_text(ref, None)


@pytest.mark.parametrize(("sample", "channels"), [("u16", 4), ("u16", 3), ("u8", 4), ("u8", 3)])
def test_a_layer_reaches_the_engine_as_a_file_would(sample: str, channels: int) -> None:
    """16-bit samples and alpha survive: the engine's own decoder reads the PNG back exactly."""
    rng = np.random.default_rng(3)
    top = 65535 if sample == "u16" else 255
    pixels = rng.integers(0, top + 1, (5, 7, channels), dtype=np.uint16 if sample == "u16" else np.uint8)
    png = png_encode.encode(7, 5, channels, sample, pixels.astype(pixels.dtype.newbyteorder("<")).tobytes())
    picture = decode_picture(png)
    assert picture.bit_depth == (16 if sample == "u16" else 8)
    assert np.array_equal(np.rint(picture.rgb * top).astype(np.int64), pixels[..., :3])
    if channels == 4:
        assert np.array_equal(np.rint(picture.alpha * top).astype(np.int64), pixels[..., 3])
    else:
        assert picture.alpha is None
    assert S.png_format("f32") == ("u16", "u16") and S.png_format("u8") == ("u8", "u8")
    assert S.babl_format(True, "u16") == "R'G'B'A u16" and S.babl_format(False, "u8") == "R'G'B' u8"
    with pytest.raises(ValueError, match="do not make"):
        png_encode.encode(7, 5, channels, sample, b"\0")


# --- on the wire -----------------------------------------------------------------------------------

class _FakeEngine:
    """Takes one POST /jobs (kept, parsed), answers 202 with a warning, then a done event and a 2x1 result."""

    def __init__(self) -> None:
        self.parts: list[tuple[str, str | None, bytes]] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def _send(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                self.send_response(status)
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
                    f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
                fake.parts = [(p.get_param("name", header="content-disposition"), p.get_filename(),
                               p.get_payload(decode=True)) for p in message.iter_parts()]
                self._send(202, json.dumps({"id": "j1", "warnings": ["mask 1 was scaled"]}).encode())

            def do_GET(self) -> None:  # noqa: N802
                if self.path.startswith("/jobs/j1/events"):
                    self._send(200, json.dumps({"type": "done", "warnings": ["mask 1 was scaled",
                                                                             "region 2 is empty"]}).encode() + b"\n")
                else:
                    self._send(200, struct.pack("8f", *[0.5] * 8), {"X-Width": "2", "X-Height": "1"})

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


def test_regions_go_as_raw_masks_in_region_order_and_warnings_come_back() -> None:
    fake = _FakeEngine()
    try:
        content = engine_client.RawImage(2, 1, 4, "u8", bytes(8))
        got = plan(R.CHANNELS, R.SECOND, "Figure=photo; Sky=1")
        masks = [b"\x00\xff", b"\x80\x10"]
        runner = EngineJobRunner(lambda: engine_client.EngineClient(fake.url, "t"), content, [b"S1", b"S2"],
                                 {"preset": "draft"}, style_names=["Brushes", "b.png"], regions=(got.fields(), masks))
        runner.start()
        events: list[Any] = []
        import queue
        kind, result = None, None
        while kind is None:
            try:
                kind, result = runner.events.get(timeout=30)
            except queue.Empty:
                pytest.fail("the job did not finish")
            if kind == "progress":
                events.append(result)
                kind = None
        assert kind == "done", result
        assert result.warnings == ["mask 1 was scaled", "region 2 is empty"]
    finally:
        fake.server.shutdown()
    fields = {name: value.decode() for name, filename, value in fake.parts if filename is None}
    assert fields["mask_format"] == "raw" and fields["rest"] == "2"
    assert json.loads(fields["regions"]) == [{"style": "photo", "weight": 1.0}, {"style": 1, "weight": 1.0}]
    assert [value for name, _f, value in fake.parts if name == "region_mask"] == masks
    assert [(f, value) for name, f, value in fake.parts if name == "style"] == [("Brushes", b"S1"), ("b.png", b"S2")]


def test_a_job_without_regions_sends_no_region_fields() -> None:
    fake = _FakeEngine()
    try:
        client = engine_client.EngineClient(fake.url, "t")
        job = client.submit(engine_client.RawImage(2, 1, 4, "u8", bytes(8)), [b"S1"], {})
        assert job.warnings == ["mask 1 was scaled"]
    finally:
        fake.server.shutdown()
    names = {name for name, _f, _v in fake.parts}
    assert names.isdisjoint({"region_mask", "regions", "rest", "mask_format"}) and "style" in names


# --- the preview's map of the regions --------------------------------------------------------------

def test_the_map_tints_each_region_with_its_style_and_draws_edges() -> None:
    import region_map as M

    grey = bytes([100, 100, 100, 255]) * 4  # 4x1
    left = bytes([255, 200, 0, 0])  # pixel 0 fully, pixel 1 mostly inside region 1
    right = bytes([0, 0, 0, 255])
    tinted = M.tint(grey, [left, right], [1, 2], "photo")
    px = [tinted[4 * i:4 * i + 4] for i in range(4)]
    assert px[0][0] > 150 and px[0][2] < 100  # orange-ish: the style
    assert px[3][2] > 150 and px[3][0] < 100  # blue-ish: the second style
    assert px[2][:3] == bytes([113, 113, 113])  # nothing covers it: towards grey (100 * 0.55 + 128 * 0.45)
    assert px[0][:3] != px[1][:3]  # a softer mask tints less: feathering shows
    assert all(p[3] == 255 for p in px)
    drawn = M.edges(grey, 4, 1, [left])
    assert drawn[4:8] == bytes([255, 0, 255, 255]) and drawn[:4] == grey[:4]  # pixel 1 is inside, 2 is not
    assert drawn[8:] == grey[8:]
    assert M.legend([1, "photo"], "photo") == "Regions \u2014 orange: the style, grey: the untouched photo."
