"""Checks shared by the real-GIMP tests (tests/test_gimp_plugin.py): what a run must have done to the
image, the engine variants the plug-in starts itself, and the clicks of the GUI tests."""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import gimp_harness as H
from event_tap import EventTap
from host_spawn import HostSpawner
from xsession import XSession


def self_start_variants(gimp_root: H.GimpRoot, work: Path, spawner: HostSpawner) -> dict[str, Any]:
    """engine.json without a URL: the plug-in starts the engine itself, directly ("self") or through
    `flatpak-spawn --host` ("flatpak", whose engine Python exists only on the host)."""
    host_python = sys.executable
    if gimp_root.root.resolve() == Path("/"):
        python = host_python  # GIMP runs on the host: the real venv Python, the artist's path exactly
    else:  # the venv is not in the chroot: a stand-in that runs the host's Python, as flatpak-spawn does
        python = str(spawner.write_standin(work / "venv" / "bin" / "python", gimp_root.inside(spawner.socket_path)))
    spawner.write_standin(work / "bin" / "flatpak-spawn", gimp_root.inside(spawner.socket_path))
    serve = ["-m", "nst_engine", "serve", "--device", "cpu", "--weights", str(H.test_weights()), "--port", "0"]
    return {
        "self": {"python": python, "command": [python, *serve], "state_file": str(work / "self" / "server.json"),
                 "url": None, "token": None, "spawn_prefix": []},
        "flatpak": {"python": host_python, "command": [host_python, *serve],
                    "state_file": str(work / "flatpak" / "server.json"), "url": None, "token": None,
                    "spawn_prefix": ["flatpak-spawn", "--host"]},
    }


def case(results: dict[str, Any], name: str) -> dict[str, Any]:
    entry = results["cases"].get(name)
    assert entry is not None, f"case {name} did not run; GIMP stderr:\n{results['_gimp']['stderr'][-3000:]}"
    assert "driver_error" not in entry, entry["driver_error"]
    return entry


RESULT_PROCEDURES = ("plug-in-neural-style-transfer", "plug-in-nst-apply-learned-style")


def new_layer_index(entry: dict[str, Any]) -> int:
    """Where the new result must be (issue 23, point 5): directly above the topmost earlier result of the
    same source, else directly above the source (top-level layers, as the cases build them)."""
    source = entry["source_name"]
    for index, layer in enumerate(entry["before"]["layers"][:entry["source_index"]]):
        record = layer.get("parasite") or {}
        if record.get("procedure") in RESULT_PROCEDURES and record.get("source_layer") == source:
            return index
    return entry["source_index"]


def assert_untouched(entry: dict[str, Any], new_layers: int) -> None:
    """Everything that was in the image is exactly as it was (pixels, names, offsets, masks, selection)."""
    before, after = entry["before"], entry["after"]
    assert len(after["layers"]) == len(before["layers"]) + new_layers
    kept = list(after["layers"])
    if new_layers:
        del kept[new_layer_index(entry)]
    assert kept == before["layers"]
    for key in ("size", "precision", "base_type", "selection", "selection_digest"):
        assert after[key] == before[key], key


def assert_new_layer(entry: dict[str, Any], styles: str) -> dict[str, Any]:
    """One new layer directly above the source (or above its topmost earlier result): same size, offsets,
    alpha channel (or none) and alpha values as the source, named, tagged."""
    assert entry["call"]["status"] == "success", entry["call"]["message"]
    assert_untouched(entry, new_layers=1)
    layers = entry["after"]["layers"]
    new, source = layers[new_layer_index(entry)], layers[entry["source_index"] + 1]
    assert source["name"] == entry["source_name"]
    # GIMP keeps layer names unique: a second result from the same source gets " #1" appended; a result
    # painted smaller than the layer or stopped early says so in brackets.
    assert re.fullmatch(re.escape(f"{entry['source_name']} (style: {styles})") + r"( \[[^]]+\])?( #\d+)?",
                        new["name"]), new["name"]
    assert new["size"] == source["size"]
    assert new["offsets"] == source["offsets"]
    assert new["has_alpha"] == source["has_alpha"], "an alpha channel only when the source has one"
    assert new["alpha"] == source["alpha"], "the new layer must keep the source's alpha exactly"
    assert new["pixels"] != source["pixels"], "the engine's result should differ from the source"
    assert new["is_gray"] == source["is_gray"]
    assert new["visible"] and new["opacity"] == 100.0
    record = new["parasite"]
    assert record and record["procedure"] == "plug-in-neural-style-transfer"
    assert record["source_layer"] == entry["source_name"]
    assert entry["before"]["dirty"] is False and entry["after"]["dirty"] is True
    return new


def spawns(results: dict[str, Any], via: str) -> list[dict[str, Any]]:
    return [r for r in results["_gimp"]["spawns"] if r.get("via") == via]


# Button centres measured from the windows' bottom-right corners (GIMP 3.0.4, default theme, no WM).
OK_FROM_CORNER = (68, 42)
CANCEL_FROM_CORNER = (92, 42)
STOP_FROM_CORNER = (233, 42)


def click_window(session: XSession, pattern: str, offset: tuple[int, int]) -> str:
    """Find the window, wait until its geometry holds still, click a button measured from its corner.

    Without a window manager a window found by name can still be replaced while GTK maps it (seen as
    an X BadWindow error from xdotool on a busy machine): then look it up again."""
    for _attempt in range(5):
        window = session.wait_window(pattern)
        try:
            x, y, w, h = session.wait_settled(window)
        except RuntimeError:
            continue
        session.click(x + w - offset[0], y + h - offset[1])
        return window
    raise RuntimeError(f"the window {pattern!r} kept disappearing")


def stop_when_running(session: XSession, tap: EventTap, engine: H.Engine, flag: Path) -> None:
    """Once the driver calls the next run and it shows progress, stop it early (keeps its result)."""
    seen = tap.progress_events
    session.wait_file(flag, 300)
    tap.wait_progress(seen, 300)
    assert tap.stop_last_job(engine.token) == 202
