"""Settings: presets, validation messages a person can act on."""

import pytest

from nst_engine.errors import SettingsError
from nst_engine.settings import Settings


def test_presets_differ_and_explicit_values_win():
    draft, standard, high = (Settings.from_dict({"preset": p}) for p in ("draft", "standard", "high"))
    assert draft.size < standard.size < high.size
    assert draft.iterations < standard.iterations < high.iterations
    assert Settings.from_dict({"preset": "draft", "size": 999}).size == 999


def test_dashes_and_none_values():
    settings = Settings.from_dict({"style-strength": 2.5, "size": None})
    assert settings.style_strength == 2.5 and settings.size == Settings().size


@pytest.mark.parametrize(
    "values,message",
    [
        ({"colour": 1}, "Unknown setting"),
        ({"preset": "ultra"}, "Unknown preset"),
        ({"size": 10}, "at least 32"),
        ({"iterations": 0}, "between"),
        ({"iterations": 2.5}, "integer"),
        ({"optimizer": "sgd"}, "lbfgs, adam"),
        ({"style_blend": [0, 0]}, "not all zero"),
        ({"content_layer": "conv9_9"}, "Unknown VGG-19 layer"),
        ({"preserve_colors": "yes"}, "true or false"),
        ({"notebook_size": [400]}, "width, height"),
    ],
)
def test_bad_settings_are_explained(values, message):
    with pytest.raises(SettingsError, match=message):
        Settings.from_dict(values)


def test_blend_weights_are_normalised_and_counted():
    settings = Settings.from_dict({"style_blend": [3, 1]})
    assert settings.blend_weights(2) == [0.75, 0.25]
    assert Settings().blend_weights(4) == [0.25] * 4
    with pytest.raises(SettingsError, match="2 weights for 3"):
        settings.blend_weights(3)
