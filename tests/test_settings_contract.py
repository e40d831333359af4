"""The plug-in's arguments and the engine's settings agree: whatever the dialog allows, the engine accepts.

Every value at and around the edges of each plug-in argument's range goes through the plug-in's own
mapping (nst_logic.engine_settings) into the engine's validation, as a job's settings would.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from nst_engine.errors import SettingsError
from nst_engine.settings import CHOICES, Settings

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "gimp_plugin" / "neural_style_transfer"))

import nst_logic as L  # noqa: E402

NUMERIC = [row for row in L.ARGUMENTS if row[1] in ("int", "double")]


def _values(kind: str, extra: dict) -> list:
    """The range's ends, the default, and for integers every value up to 64 above the minimum."""
    low, high = extra["min"], extra["max"]
    values = {low, high, extra["default"]}
    if kind == "int":
        values |= set(range(low, min(high, low + 64) + 1)) | {high - 1}
    else:
        values |= {low + (high - low) * f for f in (1e-9, 0.25, 0.5, 0.75, 1 - 1e-9)}
    return sorted(values)


def _job(**plugin_values) -> Settings:
    args = L.PluginArgs(style_file="/s/a.jpg", style_file_2="/s/b.jpg")
    for name, value in plugin_values.items():
        setattr(args, name.replace("-", "_"), value)
    return Settings.from_dict(L.engine_settings(args), scope="job")


@pytest.mark.parametrize("name,kind,extra", [(row[0], row[1], row[4]) for row in NUMERIC], ids=lambda v: str(v))
def test_every_value_the_dialog_allows_is_a_valid_job(name, kind, extra):
    refused = []
    for value in _values(kind, extra):
        try:
            _job(**{name: value})
        except SettingsError as error:
            refused.append(f"{name}={value}: {error.message}")
    assert refused == []


def test_quality_choices_are_engine_presets_and_booleans_pass():
    assert set(L.QUALITIES) <= set(CHOICES["preset"])
    for quality in L.QUALITIES:
        for flag in (False, True):
            assert _job(quality=quality, **{"preserve-colors": flag}).preset == quality


def test_the_numeric_arguments_are_all_checked():
    """A new numeric argument is covered by the test above without editing it; none is skipped."""
    assert {row[0] for row in NUMERIC} == {"style-blend", "style-strength", "max-size", "style-scale", "seed"}


def test_the_engine_refuses_what_the_plugin_must_map():
    """The dialog's int range cannot have a hole, the engine's has one: 1..31 px is no working size."""
    with pytest.raises(SettingsError, match="max_long_side must be an integer from 32"):
        Settings.from_dict({"max_long_side": 31}, scope="job")
    assert _job(**{"max-size": 31}).max_long_side == L.MIN_WORKING_SIZE == 32
    assert _job(**{"max-size": 0}).size == 0  # standard: the layer's own size
    assert _job(quality="draft", **{"max-size": 0}).size == 512  # draft: a quick look, at most 512 px
    capped = _job(**{"max-size": 2000})
    assert (capped.size, capped.max_long_side, capped.time_budget) == (0, 2000, 0.0)


def test_the_services_openapi_describes_job_settings_from_the_schema():
    """POST /jobs' `settings` part in /openapi.json is the schema's, without the server-only settings."""
    from nst_engine.service.app import create_app
    from nst_engine.service.config import ServiceConfig
    from nst_engine.settings import SERVER_ONLY, json_schema

    app = create_app(ServiceConfig(token="x" * 32))
    try:
        body = app.openapi()["paths"]["/jobs"]["post"]["requestBody"]["content"]["multipart/form-data"]
    finally:
        app.state.queue.close()
    settings = body["schema"]["properties"]["settings"]
    declared = json_schema()["properties"]  # FastAPI's OpenAPI model writes numbers as floats, drops null defaults
    assert set(settings["properties"]) == set(declared)
    for name, prop in declared.items():
        shown = settings["properties"][name]
        assert (shown.get("type"), shown.get("enum"), shown.get("description")) == (
            prop.get("type"), prop.get("enum"), prop.get("description")), name
    assert "style_blend" in settings["properties"] and not SERVER_ONLY & set(settings["properties"])
    assert body["schema"]["required"] == ["content", "style"]
