"""Settings: one declared schema; presets; validation messages a person can act on, never a traceback."""

import math

import pytest

from nst_engine.errors import SettingsError
from nst_engine.settings import SERVER_ONLY, SPECS, Settings, json_schema


def test_presets_differ_and_explicit_values_win():
    """Presets set effort: draft is a 512-px look, standard and high work at the content's own size (0)."""
    draft, standard, high = (Settings.from_dict({"preset": p}) for p in ("draft", "standard", "high"))
    assert draft.size == 512 and standard.size == high.size == 0
    assert draft.iterations < standard.iterations < high.iterations
    assert draft.scales < standard.scales < high.scales
    assert Settings.from_dict({"preset": "draft", "size": 999}).size == 999


def test_dashes_and_none_values():
    settings = Settings.from_dict({"style-strength": 2.5, "size": None})
    assert settings.style_strength == 2.5 and settings.size == Settings().size


def test_values_are_normalised():
    settings = Settings.from_dict({"style_blend": [3, 1], "notebook_size": [400, 300], "learning_rate": 2,
                                   "style_layers": {"conv1_1": 1}})
    assert settings.style_blend == [3.0, 1.0] and settings.notebook_size == (400, 300)
    assert isinstance(settings.learning_rate, float) and settings.style_layers == {"conv1_1": 1.0}


@pytest.mark.parametrize(
    "values,message",
    [
        ({"colour": 1}, "Unknown setting"),
        ({"sise": 512}, "did you mean size"),
        ({"preset": "ultra"}, "preset must be one of draft, standard, high, notebook, not \"ultra\""),
        ({"size": 10}, "size must be 0 or an integer from 32 to 16384, not 10"),
        ({"iterations": 0}, "iterations must be an integer from 1 to 100000, not 0"),
        ({"iterations": 2.5}, "integer"),
        ({"iterations": "50"}, "iterations must be an integer from 1 to 100000, not \"50\""),
        ({"optimizer": "sgd"}, "one of lbfgs, adam"),
        ({"style_blend": [0, 0]}, "not all zero"),
        ({"content_layer": "conv9_9"}, "VGG-19 layer name"),
        ({"preserve_colors": "yes"}, "true or false"),
        ({"notebook_size": [400]}, r"\[width, height\]"),
        # The cases from issue 9 that ended in a 500 or an all-black result:
        ({"style_blend": 5}, r"style_blend must be a list of finite numbers from 0 to 1e\+06"),
        ({"style_blend": True}, "not true"),
        ({"style_blend": [math.nan, 1]}, "item 1 is NaN"),
        ({"style_blend": [1, -1]}, "item 2 is -1"),
        ({"style_blend": []}, r"finite numbers from 0 to 1e\+06, not all zero \(e.g. \[0.7, 0.3\]\), not \[\]"),
        ({"preset": ["draft"]}, r'preset must be one of .*, not \["draft"\]'),
        ({"style_layers": {"conv1_1": "x"}}, "style_layers must be an object mapping VGG-19 layer names"),
        ({"style_layers": ["conv1_1"]}, "style_layers must be an object"),
        ({"style_layers": {"conv1_1": math.nan}}, '"conv1_1" is NaN'),
        ({"style_layers": {"conv9_1": 1}}, '"conv9_1" is not a VGG-19 layer name'),
        ({"style_layers": {}}, "style_layers must be an object"),
        ({"notebook_size": 5}, r"notebook_size must be \[width, height\], two integers from 32 to 16384, not 5"),
        ({"notebook_size": [400, 3.5]}, "height is 3.5"),
        ({"style_weight": math.inf}, "style_weight must be a number from 0 to 1e\\+15, not Infinity"),
        ({"content_weight": -math.inf}, "not -Infinity"),
        ({"tv_weight": math.nan}, "not NaN"),
        ({"learning_rate": 10**400}, "learning_rate must be a number"),
        ({"style_blend": [10**400]}, "item 1 is"),
        ({"seed": -1}, "seed must be an integer from 0"),
        ({"seed": True}, "seed must be an integer"),
        ({"channels_last": "no"}, "true or false"),
    ],
)
def test_bad_settings_are_explained(values, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_dict(values)


@pytest.mark.parametrize("values", [5, "size=5", ["size"], b"{}"])
def test_settings_that_are_not_an_object_are_explained(values):
    with pytest.raises(SettingsError, match="must be an object of name: value pairs"):
        Settings.from_dict(values)


def test_setting_names_must_be_strings():
    with pytest.raises(SettingsError, match="names must be strings, not 5"):
        Settings.from_dict({5: 1})


def test_server_only_settings_are_refused_per_job_and_named():
    assert SERVER_ONLY == {"device", "precision", "max_pixels", "channels_last", "memory_limit"}
    with pytest.raises(SettingsError, match=r"device, precision are set by the engine's server "
                                            r"\(nst-engine serve --device … --precision …\), not per job"):
        Settings.from_dict({"precision": "fp16", "device": "cuda", "size": 64}, scope="job")
    assert Settings.from_dict({"device": "cpu"}).device == "cpu"  # the CLI and the API may set them
    assert Settings.from_dict({"size": 64, "device": None}, scope="job").size == 64
    with pytest.raises(SettingsError, match="known settings are") as error:
        Settings.from_dict({"colour": 1}, scope="job")
    assert "device" not in error.value.message  # a job is not told about settings it may not send


def test_replace_and_the_constructor_validate_and_refuse_unknown_names():
    with pytest.raises(SettingsError, match="size must be 0 or an integer from 32"):
        Settings(size=5)
    settings = Settings()
    assert settings.replace(iterations=3).iterations == 3
    with pytest.raises(SettingsError, match="iterations must be"):
        settings.replace(iterations=0)
    with pytest.raises(SettingsError, match="Unknown setting"):
        settings.replace(itterations=3)


def test_blend_weights_are_normalised_and_counted():
    settings = Settings.from_dict({"style_blend": [3, 1]})
    assert settings.blend_weights(2) == [0.75, 0.25]
    assert Settings().blend_weights(4) == [0.25] * 4
    with pytest.raises(SettingsError, match="2 weights for 3"):
        settings.blend_weights(3)


def test_every_setting_is_declared_with_help_and_a_valid_default():
    for name, spec in SPECS.items():
        assert spec.help and spec.kind, name
    Settings().validate()  # the defaults pass their own checks
    for preset in ("draft", "standard", "high", "notebook"):
        Settings.from_dict({"preset": preset})


def test_json_schema_describes_job_settings_only():
    schema = json_schema()
    properties = schema["properties"]
    assert schema["type"] == "object" and schema["additionalProperties"] is False
    assert set(properties) == set(SPECS) - SERVER_ONLY
    assert properties["iterations"] == {
        "type": "integer", "minimum": 1, "maximum": 100_000, "default": 100,
        "description": "Iterations at the final scale up to 1024 px; scales above 1024 px add detail with fewer "
                       "(a quarter per doubling of the long side)."}
    assert properties["size"]["anyOf"][0] == {"const": 0}
    assert properties["style_blend"]["type"] == ["array", "null"]
    assert properties["style_blend"]["items"] == {"type": "number", "minimum": 0.0, "maximum": 1e6}
    assert "conv4_2" in properties["style_layers"]["propertyNames"]["enum"]
    assert properties["notebook_size"]["minItems"] == properties["notebook_size"]["maxItems"] == 2
    assert properties["optimizer"]["enum"] == ["lbfgs", "adam"]


def test_json_schema_agrees_with_validation():
    """The defaults pass a JSON Schema validator (the test extra requires one) and the issue's bad cases fail it."""
    import jsonschema
    validator = jsonschema.Draft202012Validator(json_schema())
    defaults = {k: v for k, v in Settings().to_dict().items() if k not in SERVER_ONLY}
    defaults["notebook_size"] = [400, 300]
    assert list(validator.iter_errors(defaults)) == []
    for bad in ({"style_blend": 5}, {"preset": ["draft"]}, {"style_layers": {"conv1_1": "x"}},
                {"style_layers": ["conv1_1"]}, {"notebook_size": 5}, {"size": 10}, {"device": "cpu"}):
        assert list(validator.iter_errors(bad)), bad
