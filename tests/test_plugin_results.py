"""Where a new result goes, and what it says about how it was painted (issue 23, points 1 and 5), without GIMP."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import learned_logic  # noqa: E402
import nst_logic as L  # noqa: E402
import placement as P  # noqa: E402
import rerun as R  # noqa: E402
from conftest import JsonHandler, loopback_server  # noqa: E402
from engine_client import EngineClient, RawImage  # noqa: E402


def filter_record(source: str = "Photo", tattoo: int | None = 7) -> dict:
    record = L.settings_record(L.PluginArgs(style_file="/s/a.png"), {}, source)
    if tattoo:
        record["source_tattoo"] = tattoo
    return record


def learned_record(source: str = "Photo", tattoo: int | None = 7) -> dict:
    record = learned_logic.apply_record("dots", 1.0, source, "u8")
    if tattoo:
        record["source_tattoo"] = tattoo
    return record


def test_a_first_result_goes_directly_above_the_source() -> None:
    stack = [[None], [filter_record("Other", 9)], [None]]  # top to bottom; the source is index 2
    assert P.insert_position(stack, 2, "Photo", 7) == 2


def test_a_new_result_goes_above_the_topmost_earlier_result_of_its_source() -> None:
    """The bug: the new layer went directly above the source, under the earlier result, and was hidden."""
    stack = [[None], [filter_record()], [learned_record()], [None]]  # unrelated, result, result, source
    assert P.insert_position(stack, 3, "Photo", 7) == 1


def test_a_group_holding_results_counts_as_one_and_a_renamed_source_is_found_by_tattoo() -> None:
    stack = [[None, filter_record("Old name", 7)], [None], [None]]  # a group with a result, a layer, the source
    assert P.insert_position(stack, 2, "New name", 7) == 0
    assert P.insert_position(stack, 2, "New name", 8) == 2  # another layer's results do not count
    assert P.insert_position([[filter_record("Photo", None)], [None]], 1, "Photo", 3) == 0  # old records: by name


def test_results_below_the_source_and_other_parasites_do_not_count() -> None:
    assert P.insert_position([[None], [filter_record()]], 0, "Photo", 7) == 0
    assert P.record_from(list(json.dumps({"procedure": "other", "source_layer": "Photo"}).encode())) is None
    assert P.record_from(list(L.encode_parasite(learned_record()))) == learned_record()
    with pytest.raises(ValueError):
        P.insert_position([[None]], 3, "Photo", 7)


def test_painted_size_is_the_largest_scale_reached() -> None:
    painted = None
    for event in ({"type": "queued", "plan": {"size": [2048, 1365]}}, {"type": "progress", "size": [592, 395]},
                  {"type": "progress", "size": [1184, 789]}, {"type": "progress", "size": True},
                  {"type": "heartbeat"}):
        painted = L.painted_size(painted, event)
    assert painted == (1184, 789)


def test_the_name_and_message_say_smaller_and_stopped() -> None:
    notes = P.painted_note((1184, 789), (2048, 1365), stopped=True)
    name = P.named("Photo (style: a)", notes)
    assert name == "Photo (style: a) [painted at 1184\u00d7789, stopped early]"
    said = P.after_message(name, (1184, 789), (2048, 1365), True, L.SIZE_CONTROL)
    assert "1184\u00d7789" in said and "2048\u00d71365" in said and "stopped early" in said and "Full size" in said
    assert f"\u201c{L.SIZE_CONTROL}\u201d to 2048" in said
    assert P.painted_note((2048, 1365), (2048, 1365), False) == [] and P.named("x", []) == "x"
    assert P.after_message("x", (2048, 1365), (2048, 1365), False, L.SIZE_CONTROL) is None


def test_the_size_control_is_named_as_the_dialog_shows_it() -> None:
    nick = next(nick for name, _k, nick, _b, _e in L.ARGUMENTS if name == "max-size")
    assert nick.replace("_", "").startswith(L.SIZE_CONTROL)


def test_a_rerun_keeps_renaming_a_generated_name_with_notes() -> None:
    old = filter_record()
    assert R.updated_name("Photo (style: a) [painted at 10\u00d710]", old, "Photo", ["/s/b.png"],
                          ["stopped early"]) == "Photo (style: b) [stopped early]"
    assert R.updated_name("Photo (style: a)", old, "Photo", ["/s/a.png"]) == "Photo (style: a)"
    assert R.updated_name("My name", old, "Photo", ["/s/b.png"], ["stopped early"]) == "My name"


def test_the_result_says_it_was_stopped_and_the_styles_travel_by_their_file_names() -> None:
    seen: dict[str, bytes] = {}

    class Engine(JsonHandler):
        def do_POST(self) -> None:  # noqa: N802
            seen["body"] = self.rfile.read(int(self.headers["Content-Length"]))
            self.send_json(200, {"id": "j1"})

        def do_GET(self) -> None:  # noqa: N802
            if self.path.startswith("/jobs/j1/events"):
                body = json.dumps({"type": "done", "stopped_early": True}).encode() + b"\n"
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            else:
                self.send_response(200)
                for key, value in (("X-Width", "1"), ("X-Height", "1"), ("Content-Length", "16")):
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(bytes(16))

    with loopback_server(Engine) as url:
        client = EngineClient(url, "t")
        job = client.submit(RawImage(1, 1, 4, "u8", bytes(4)), [b"a", b"b"], {},
                            style_names=["/p/Stérry \"night\".png"])
        result = job.wait()
    assert result.stopped_early is True
    assert b'filename="St_rry _night_.png"' in seen["body"] and b'filename="style2"' in seen["body"]
