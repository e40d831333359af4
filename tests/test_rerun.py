"""Non-destructive re-runs without GIMP (issue 11 point 6): which layer is a result and of which source,
how its name follows the new style, and what the artist is asked."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import nst_logic as L  # noqa: E402
import rerun as R  # noqa: E402


def record(**extra: object) -> dict:
    args = L.PluginArgs(style_file="/s/starry.jpg")
    return {**L.settings_record(args, L.engine_settings(args), "Photo"), **extra}


def test_a_result_names_its_source_by_tattoo_and_name():
    assert R.source_ref(record(source_tattoo=7)) == R.SourceRef("Photo", 7)
    assert R.source_ref(record()) == R.SourceRef("Photo", None)  # results made before tattoos were stored
    assert R.source_ref(record(source_tattoo=True)) == R.SourceRef("Photo", None)


def test_layers_that_are_not_results_are_not_rerun():
    assert R.source_ref(None) is None
    assert R.source_ref({"procedure": "other", "source_layer": "Photo"}) is None
    assert R.source_ref(record(source_layer="")) is None


def test_the_source_is_found_by_tattoo_first_and_never_is_the_result_itself():
    result, renamed_source, same_name = object(), object(), object()
    ref = R.SourceRef("Photo", 7)
    assert R.pick_source(ref, renamed_source, same_name, result) is renamed_source
    assert R.pick_source(ref, None, same_name, result) is same_name
    assert R.pick_source(ref, None, result, result) is None  # the source is gone: no re-run
    assert R.pick_source(ref, None, None, result) is None


def test_the_generated_name_follows_the_new_style_a_given_name_stays():
    old = record()
    assert R.updated_name("Photo (style: starry)", old, "Photo", ["/s/wave.png"]) == "Photo (style: wave)"
    assert R.updated_name("Photo (style: starry) #1", old, "Photo", ["/s/wave.png"]) == "Photo (style: wave)"
    assert R.updated_name("Sky glaze", old, "Photo", ["/s/wave.png"]) == "Sky glaze"


def test_the_offer_names_both_layers_and_what_is_kept():
    headline, text = R.question("Photo (style: starry)", "Photo")
    assert "Photo (style: starry)" in headline and "Photo" in headline
    for kept in ("position", "mask", "opacity", "mode", "visibility", "Undo"):
        assert kept in text


def test_a_result_whose_size_changed_is_not_updated_in_place():
    assert R.size_text("R", (10, 10), "S", (10, 10)) is None
    text = R.size_text("R", (20, 10), "S", (10, 10))
    assert text and "not changed" in text and "Select the source layer" in text
