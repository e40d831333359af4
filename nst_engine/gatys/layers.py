"""VGG-19's layers by name, and the seed's choice of them: facts without torch, so settings, costs,
tiles and memory can all stand on them (and `--help` loads no torch).

Layer names follow the seed document: `convX_Y` is the activation *after* its ReLU, `reluX_Y` an alias,
`poolX` the pooling. An index is the position in torchvision's `vgg19().features` of the module whose
output the name is.
"""

from __future__ import annotations

BLOCKS = (2, 2, 4, 4, 4)  # convolutions per block of VGG-19


def _layer_index() -> dict[str, int]:
    """Name -> index in torchvision's `vgg19().features` of the module whose output it is."""
    names: dict[str, int] = {}
    index = 0
    for block, convs in enumerate(BLOCKS, start=1):
        for conv in range(1, convs + 1):
            names[f"conv{block}_{conv}"] = index + 1  # after the ReLU, as in the seed
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
        names[f"pool{block}"] = index
        index += 1
    return names


LAYER_INDEX = _layer_index()
LAYER_NAMES = tuple(LAYER_INDEX)

# The seed's layers: the style cost's layers and their coefficients, and the content cost's layer.
STYLE_LAYERS: dict[str, float] = {
    "conv1_1": 0.2,
    "conv2_1": 0.2,
    "conv3_1": 0.2,
    "conv4_1": 0.2,
    "conv5_1": 0.2,
}
CONTENT_LAYER = "conv4_2"
